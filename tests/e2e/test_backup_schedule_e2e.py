"""End-to-end scheduled backup: the CronJob of backup_schedule.yml on a real cluster.

Runs against the cluster of $KUBECONFIG (default: the local cluster of
`make cluster`, which imports the ee image the CronJob runs) with
inventories/local, on the stack the e2e modules share (conftest.py), whose
release names are not the defaults (so the CronJob's inventory must carry
them). One run
with a parameter, a metric and an artifact logged with the real MLflow client;
backup_schedule.yml (suspended, so only the test starts it) to the default
destination, the backup bucket of the stack's MinIO; no value of the stack's
Secrets in the CronJob's ConfigMap, CronJob or the playbook's output; its
account may exec only into the PostgreSQL pod and read only the backups'
Secrets; a Job
made from the CronJob runs backup.yml inside the cluster, where the modules
reach MinIO and PostgreSQL by their Services' DNS names (the ee image has no
kubectl to port-forward with); then backup.yml from the controller to the same
destination. backup_info, run from the controller, must list both sets as
complete, and their manifests must have the same shape and the same artifact
objects. backup_schedule.yml with mlops_backup_schedule_state=absent removes
every object it made.
MLOPS_E2E_EXTRA_VARS adds -e values to every playbook run. No cluster is a
failure, not a skip: these tests exist to prove the playbooks work on one.
"""
import json
import time
import uuid

import pytest

from e2e_support import BACKUP_ID, SHARED, kubectl

STACK = SHARED
NAMESPACE, RELEASES = STACK.namespace, STACK.releases
# backup_schedule.yml's default name, and backup.yml's default destination.
SCHEDULE = "mlops-stack-backup"
DESTINATION = f"s3://mlflow-backups/{NAMESPACE}"
SCHEDULE_KINDS = ("cronjob", "configmap", "serviceaccount", "role", "rolebinding")
JOB_TIMEOUT = 900

# Runs in the MLflow pod with the server's admin login from the files the
# chart mounts: one run with a parameter, a metric and an artifact; prints its id.
MLFLOW_SEED = r"""
import os, sys, tempfile, warnings
warnings.simplefilter("ignore")
os.environ["MLFLOW_TRACKING_USERNAME"] = open("/run/secrets/mlflow/auth/admin-username").read()
os.environ["MLFLOW_TRACKING_PASSWORD"] = open("/run/secrets/mlflow/auth/admin-password").read()
import mlflow
mlflow.set_tracking_uri("http://127.0.0.1:5000")
mlflow.set_experiment("e2e-schedule-" + sys.argv[1])
with mlflow.start_run() as run:
    mlflow.log_param("lr", "0.01")
    mlflow.log_metric("accuracy", 0.95)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "notes.txt"), "w") as f:
            f.write("scheduled backup " + sys.argv[1] + "\n")
        mlflow.log_artifact(os.path.join(d, "notes.txt"))
print(run.info.run_id)
"""

# Lists the sets at the destination from the controller and reads their
# manifests into the JSON file "report".
LIST_SETS = """---
- name: List the backup sets
  hosts: all
  gather_facts: false
  tasks:
    - name: Connect to MinIO
      ansible.builtin.include_role:
        name: mlops.stack.minio
        tasks_from: connect
    - name: Read the backup key
      kubernetes.core.k8s_info:
        kubeconfig: "{{ mlops_kubeconfig | default(omit) }}"
        context: "{{ mlops_kube_context | default(omit) }}"
        kind: Secret
        namespace: "{{ mlops_namespace }}"
        name: mlops-stack-backup-key
      register: backup_key
      no_log: true
    - name: Read the sets
      block:
        - name: List the sets
          mlops.stack.backup_info:
            endpoint_url: "{{ minio_connection.endpoint_url }}"
            access_key: "{{ minio_connection.access_key }}"
            secret_key: "{{ minio_connection.secret_key }}"
            ca_bundle: "{{ minio_connection.ca_bundle or omit }}"
            destination: "{{ destination }}"
            namespace: "{{ mlops_namespace }}"
            key: "{{ (backup_key.resources | first).data.key | ansible.builtin.b64decode }}"
            verify: true
          register: sets
        - name: Read the manifests
          amazon.aws.s3_object:
            endpoint_url: "{{ minio_connection.endpoint_url }}"
            access_key: "{{ minio_connection.access_key }}"
            secret_key: "{{ minio_connection.secret_key }}"
            aws_ca_bundle: "{{ minio_connection.ca_bundle or omit }}"
            bucket: "{{ destination[5:].split('/')[0] }}"
            object: "{{ destination[5:].split('/', 1)[1] }}/{{ item.id }}/manifest.json"
            mode: getstr
          loop: "{{ sets.backups }}"
          loop_control:
            label: "{{ item.id }}"
          register: manifests
          no_log: true
        - name: Write them to the report
          ansible.builtin.copy:
            dest: "{{ report }}"
            mode: "0600"
            content: >-
              {{ {'backups': sets.backups,
                  'manifests': dict(manifests.results | map(attribute='item.id')
                                    | zip(manifests.results | map(attribute='contents')))} | to_json }}
      always:
        - name: Disconnect from MinIO
          ansible.builtin.include_role:
            name: mlops.stack.minio
            tasks_from: disconnect
"""


def wait_for_job(job):
    """Waits for the Job to succeed; fails with its pod's logs when it fails or hangs."""
    deadline = time.monotonic() + JOB_TIMEOUT
    status = {}
    while time.monotonic() < deadline:
        status = json.loads(kubectl("-n", NAMESPACE, "get", "job", job, "-o", "json").stdout).get("status", {})
        if status.get("succeeded"):
            return
        if status.get("failed"):
            break
        time.sleep(5)
    logs = kubectl("-n", NAMESPACE, "logs", f"job/{job}", "--tail=200", check=False)
    pods = kubectl("-n", NAMESPACE, "get", "pods", "-l", f"job-name={job}", "-o", "wide", check=False)
    events = kubectl("-n", NAMESPACE, "get", "events", "--sort-by=.lastTimestamp", check=False)
    state = "failed" if status.get("failed") else f"did not finish in {JOB_TIMEOUT} s"
    raise AssertionError(
        f"backup Job {NAMESPACE}/{job} {state} (status {json.dumps(status)}).\n"
        f"pods:\n{pods.stdout}{pods.stderr}\nlogs:\n{(logs.stdout + logs.stderr)[-6000:]}\n"
        f"events:\n{events.stdout[-3000:]}")


def shape(value):
    """The structure of a JSON value: keys and types, lists by their elements' shapes."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(shape(item), sort_keys=True) for item in value})
    return type(value).__name__


def list_sets(tmp_path):
    book = tmp_path / "list_sets.yml"
    book.write_text(LIST_SETS)
    report = tmp_path / "sets.json"
    STACK.playbook(book, "-e", f"destination={DESTINATION}", "-e", f"report={report}", label="backup_info")
    found = json.loads(report.read_text())
    return ({backup["id"]: backup for backup in found["backups"]},
            {backup_id: json.loads(text) for backup_id, text in found["manifests"].items()})


def check_the_jobs_permissions():
    """The CronJob's account may exec only into the PostgreSQL pod and read only the
    backups' Secrets: never MinIO's root login, never MLflow's."""
    account = f"system:serviceaccount:{NAMESPACE}:{SCHEDULE}"
    pods = json.loads(kubectl("-n", NAMESPACE, "get", "pods", "-o", "json").stdout)["items"]
    names = {pod["metadata"]["labels"].get("app.kubernetes.io/instance"): pod["metadata"]["name"]
             for pod in pods if pod["status"].get("phase") == "Running"}
    for release, expected in ((RELEASES["postgresql"], "yes"), (RELEASES["minio"], "no"), (RELEASES["mlflow"], "no")):
        answer = kubectl("-n", NAMESPACE, "auth", "can-i", "create", f"pods/{names[release]}",
                         "--subresource=exec", "--as", account, check=False).stdout.strip()
        assert answer == expected, f"exec into {names[release]}: {answer}"
    for secret, expected in ((f"{RELEASES['mlflow']}-auth", "no"), (f"{RELEASES['minio']}-auth", "no"),
                             ("mlops-backup-s3", "yes"), ("mlops-backup-retention-s3", "yes")):
        answer = kubectl("-n", NAMESPACE, "auth", "can-i", "get", f"secrets/{secret}", "--as", account,
                         check=False).stdout.strip()
        assert answer == expected, f"get secret {secret}: {answer}"


@pytest.fixture(scope="module")
def stack(shared_stack):
    assert all(RELEASES[name] != name for name in RELEASES), RELEASES
    yield shared_stack


def test_scheduled_backup(stack, tmp_path):
    marker = uuid.uuid4().hex[:8]
    seeded = kubectl("-n", NAMESPACE, "exec", f"deploy/{RELEASES['mlflow']}", "-c", "mlflow", "--",
                     "python3", "-c", MLFLOW_SEED, marker, check=False, timeout=600)
    assert seeded.returncode == 0, f"MLflow client failed:\n{seeded.stderr[-4000:]}"
    run_id = seeded.stdout.strip().splitlines()[-1]

    # Suspended: only the Job below runs it, never the schedule itself.
    scheduled = STACK.playbook("backup_schedule.yml", "-e", "mlops_backup_schedule_suspend=true",
                               label="backup_schedule.yml")
    secrets = STACK.secret_values()
    assert len(secrets) >= 3, f"the stack's Secrets were not found: {len(secrets)} values"
    assert not [s for s in secrets if s in scheduled], "a secret appears in backup_schedule.yml's output"
    manifests = kubectl("-n", NAMESPACE, "get", "cronjob,configmap", "-l",
                        "app.kubernetes.io/name=mlops-stack-backup", "-o", "json").stdout
    assert '"kind": "CronJob"' in manifests and '"kind": "ConfigMap"' in manifests, manifests[:2000]
    assert not [s for s in secrets if s in manifests], "a secret appears in the CronJob or its ConfigMap"
    inventory = json.loads(kubectl("-n", NAMESPACE, "get", "configmap", SCHEDULE, "-o", "json").stdout)
    assert f"postgresql_release_name: {RELEASES['postgresql']}" in inventory["data"]["inventory.yml"], inventory
    check_the_jobs_permissions()

    job = f"e2e-{marker}"
    kubectl("-n", NAMESPACE, "create", "job", f"--from=cronjob/{SCHEDULE}", job)
    start = time.monotonic()
    wait_for_job(job)
    STACK.timings["scheduled backup Job"] = round(time.monotonic() - start, 1)
    job_log = kubectl("-n", NAMESPACE, "logs", f"job/{job}").stdout
    assert not [s for s in secrets if s in job_log], "a secret appears in the Job's log"
    found = BACKUP_ID.search(job_log)
    assert found, f"no 'Backup <id> complete' in the Job's log:\n{job_log[-4000:]}"
    scheduled_id = found.group(1)

    manual = STACK.playbook("backup.yml", label="backup.yml")
    manual_id = BACKUP_ID.search(manual).group(1)
    assert manual_id != scheduled_id

    sets, manifests = list_sets(tmp_path)
    for backup_id in (scheduled_id, manual_id):
        backup = sets.get(backup_id)
        assert backup, f"set {backup_id} is not listed at {DESTINATION}: {sorted(sets)}"
        assert backup["status"] == "complete" and backup.get("verified") is True, backup
        assert backup["database"] == "mlflow" and backup["database_bytes"] > 0, backup
        assert backup["objects"] >= 1 and backup["buckets"] == ["mlflow"], backup
    scheduled_set, manual_set = manifests[scheduled_id], manifests[manual_id]
    assert shape(scheduled_set) == shape(manual_set), "the scheduled set's manifest differs in structure"
    objects = {m_id: {f["path"]: f["sha256"] for f in m["files"] if f["path"].startswith("objects/")}
               for m_id, m in manifests.items() if m_id in (scheduled_id, manual_id)}
    assert objects[scheduled_id] == objects[manual_id], "the two sets hold different artifact objects"
    assert [path for path in objects[scheduled_id] if run_id in path and path.endswith("notes.txt~")], (
        f"the seeded run's artifact is not in the scheduled set: {sorted(objects[scheduled_id])}")
    assert ({f["path"] for f in scheduled_set["files"] if not f["path"].startswith("objects/")}
            == {f["path"] for f in manual_set["files"] if not f["path"].startswith("objects/")})
    assert scheduled_set["versions"] == manual_set["versions"], (scheduled_set["versions"], manual_set["versions"])

    STACK.playbook("backup_schedule.yml", "-e", "mlops_backup_schedule_state=absent",
                   label="backup_schedule.yml absent")
    for kind in SCHEDULE_KINDS:
        left = kubectl("-n", NAMESPACE, "get", kind, SCHEDULE, check=False)
        assert left.returncode != 0 and "NotFound" in left.stderr, f"{kind} {SCHEDULE} still exists"

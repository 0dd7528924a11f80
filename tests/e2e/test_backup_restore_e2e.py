"""End-to-end backup and restore of the stack on a real cluster, through the playbooks.

Runs against the cluster of $KUBECONFIG (default: the local cluster of
`make cluster`) with inventories/local, in a namespace of its own: site.yml,
an MLflow run with an artifact, backup.yml twice, a change to the data,
restore.yml refused without confirmation, restore.yml of the first set, the
data checked back, backup.yml refused while another run holds the lock, and
diagnose.yml. The namespace is purged at the end. MLOPS_E2E_EXTRA_VARS adds
-e values to every playbook run. No cluster is a failure,
not a skip: these tests exist to prove the playbooks work on one.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import time
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOLS_PATH = f"{REPO}/.tools/bin:{REPO}/.tools/venv/bin:{os.environ.get('PATH', '')}"
KUBECONFIG = os.environ.get("KUBECONFIG") or str(REPO / ".tools" / "cluster" / "kubeconfig")
NAMESPACE = f"mlops-bk-{uuid.uuid4().hex[:6]}"
# Extra -e values for every playbook, e.g. "mlops_backup_pg_exec=false" to dump
# with the controller's pg_dump instead of in the PostgreSQL pod.
EXTRA_VARS = [arg for value in os.environ.get("MLOPS_E2E_EXTRA_VARS", "").split() for arg in ("-e", value)]
BACKUP_ID = re.compile(r"Backup (\d{8}T\d{6}Z(?:-\d+)?) complete")
TIMINGS = {}

# Runs in the MLflow pod with the server's admin login from its environment.
MLFLOW_CLIENT = r"""
import json, os, sys, tempfile
os.environ["MLFLOW_TRACKING_USERNAME"] = os.environ["MLFLOW_AUTH_ADMIN_USERNAME"]
os.environ["MLFLOW_TRACKING_PASSWORD"] = os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"]
import mlflow
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri("http://127.0.0.1:5000")
client = MlflowClient()
action, arg = sys.argv[1], sys.argv[2]


def experiment(name):
    # The client retries a slow first request, which may then find the
    # experiment its first attempt created.
    try:
        return client.create_experiment(name)
    except mlflow.exceptions.RestException:
        return client.get_experiment_by_name(name).experiment_id


if action == "seed":
    exp = experiment("e2e-backup-" + arg)
    run = client.create_run(exp)
    client.log_param(run.info.run_id, "marker", arg)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "hello.txt"), "w") as f:
            f.write("artifact " + arg)
        client.log_artifact(run.info.run_id, os.path.join(d, "hello.txt"))
    client.set_terminated(run.info.run_id)
    print(json.dumps({"run_id": run.info.run_id}))
elif action == "change":
    client.delete_run(arg)
    experiment("e2e-after-backup")
    print(json.dumps({}))
elif action == "read":
    run = client.get_run(arg)
    with tempfile.TemporaryDirectory() as d:
        path = client.download_artifacts(arg, "hello.txt", d)
        content = open(path).read()
    names = [e.name for e in client.search_experiments()]
    print(json.dumps({"stage": run.info.lifecycle_stage, "marker": run.data.params.get("marker"),
                      "artifact": content, "after_backup_exists": "e2e-after-backup" in names}))
"""


def _env():
    return dict(os.environ, PATH=TOOLS_PATH, KUBECONFIG=KUBECONFIG,
                ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")


def kubectl(*args, check=True, timeout=120):
    binary = shutil.which("kubectl", path=TOOLS_PATH)
    proc = subprocess.run([binary, "--kubeconfig", KUBECONFIG, "--request-timeout=20s", *args],
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def playbook(name, *args, label=None, expect_rc=0):
    """Runs playbooks/<name> on the local inventory in the test namespace; returns its output."""
    cmd = [shutil.which("ansible-playbook", path=TOOLS_PATH), "-i", str(REPO / "inventories" / "local"),
           "-e", f"mlops_namespace={NAMESPACE}", *EXTRA_VARS, str(REPO / "playbooks" / name), *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=1800)
    TIMINGS[label or name] = round(time.monotonic() - start, 1)
    output = proc.stdout + proc.stderr
    if expect_rc == 0:
        assert proc.returncode == 0, f"{name} {' '.join(args)} failed (rc {proc.returncode}):\n{output[-6000:]}"
    else:
        assert proc.returncode != 0, f"{name} {' '.join(args)} should have failed:\n{output[-4000:]}"
    return output


def mlflow_client(action, arg):
    proc = kubectl("-n", NAMESPACE, "exec", "deploy/mlflow", "-c", "mlflow", "--",
                   "python3", "-c", MLFLOW_CLIENT, action, arg, timeout=300)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def secrets_of_the_stack():
    """Every credential value the stack keeps, to prove no output shows one."""
    values = []
    for name in ("minio-auth", "postgresql-auth", "mlflow-auth", "mlflow-database", "mlflow-s3"):
        proc = kubectl("-n", NAMESPACE, "get", "secret", name, "-o", "json", check=False)
        if proc.returncode == 0:
            for key, value in json.loads(proc.stdout).get("data", {}).items():
                if "password" in key or "secret" in key:
                    import base64
                    values.append(base64.b64decode(value).decode())
    return [v for v in values if len(v) >= 8]


@pytest.fixture(scope="module")
def stack():
    proc = kubectl("get", "--raw", "/readyz", check=False)
    assert proc.returncode == 0, (
        f"no Kubernetes cluster reachable with {KUBECONFIG} ({proc.stderr.strip()}); run `make cluster`")
    try:
        playbook("site.yml", "-e", "mlops_verify=false", label="site.yml")
        yield
    finally:
        playbook("uninstall.yml", "-e", "mlops_purge=true", label="uninstall.yml purge")
        print("timings (s):", json.dumps(TIMINGS))


def test_backup_restore_round_trip(stack):
    marker = uuid.uuid4().hex[:8]
    run_id = mlflow_client("seed", marker)["run_id"]

    first = playbook("backup.yml", label="backup.yml #1")
    first_id = BACKUP_ID.search(first).group(1)
    second = playbook("backup.yml", label="backup.yml #2")
    second_id = BACKUP_ID.search(second).group(1)
    assert second_id != first_id
    secrets = secrets_of_the_stack()
    assert secrets, "the stack's Secrets were not found"
    assert not [s for s in secrets if s in first + second], "a secret appears in backup.yml's output"

    mlflow_client("change", run_id)
    assert mlflow_client("read", run_id)["stage"] == "deleted"

    refused = playbook("restore.yml", "-e", f"mlops_restore_backup_id={first_id}",
                       label="restore.yml refused", expect_rc=1)
    assert "mlops_restore_confirm=true" in refused
    assert mlflow_client("read", run_id)["after_backup_exists"], "a refused restore changed the data"

    restored = playbook("restore.yml", "-e", f"mlops_restore_backup_id={first_id}",
                        "-e", "mlops_restore_confirm=true", label="restore.yml")
    assert f"Restored set {first_id}" in restored
    replicas = kubectl("-n", NAMESPACE, "get", "deploy", "mlflow", "-o", "jsonpath={.status.readyReplicas}")
    assert replicas.stdout.strip() == "1", "MLflow did not come back after the restore"
    state = mlflow_client("read", run_id)
    assert state == {"stage": "active", "marker": marker, "artifact": f"artifact {marker}",
                     "after_backup_exists": False}, state

    # A backup after the restore still works and finds the lock free.
    playbook("backup.yml", label="backup.yml after restore")


def test_backup_refused_while_locked(stack):
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "mlops-stack-backup", "namespace": NAMESPACE},
             "spec": {"holderIdentity": "backup/e2e-test", "leaseDurationSeconds": 600,
                      "acquireTime": now, "renewTime": now}}
    binary = shutil.which("kubectl", path=TOOLS_PATH)
    subprocess.run([binary, "--kubeconfig", KUBECONFIG, "create", "-f", "-"], input=json.dumps(lease),
                   text=True, check=True, capture_output=True)
    try:
        output = playbook("backup.yml", label="backup.yml locked", expect_rc=1)
        assert "Another backup or restore is running" in output
        assert "backup/e2e-test" in output
    finally:
        kubectl("-n", NAMESPACE, "delete", "lease", "mlops-stack-backup")


def test_diagnose(stack):
    output = playbook("diagnose.yml", label="diagnose.yml")
    for check in ("postgresql", "experiments", "s3", "health", "pods mlflow", "bucket mlflow", "backups"):
        assert re.search(rf"OK\s+{re.escape(check)}:", output), f"{check} not OK:\n{output[-4000:]}"
    assert not [s for s in secrets_of_the_stack() if s in output], "a secret appears in diagnose.yml's output"

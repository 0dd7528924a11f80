"""End-to-end backup and restore of the stack on a real cluster, through the playbooks.

Runs against the cluster of $KUBECONFIG (default: the local cluster of
`make cluster`) with inventories/local, in a namespace of its own. The round
trip proves that losing the whole stack loses no experiment, with release names
other than the defaults (so every playbook must find the components by the
names the inventory gives): site.yml; with the
real MLflow client an experiment with two runs (params, metric histories,
tags, a text and a binary artifact), a registered model with two versions,
stages and aliases; a snapshot of all of it read back through the server
(artifacts by sha256); backup.yml to a directory on the controller (off the
cluster); uninstall.yml with mlops_purge=true (namespace, volumes and
credentials gone); site.yml again (fresh credentials); restore.yml refused
without confirmation, then confirmed; the snapshot read back through the new
server must be identical. Then backup.yml refused while another run holds the
lock; a restore killed half way (a backup refused while it holds the lock) and
brought back by the next; and diagnose.yml. The namespace is purged at the end.
MLOPS_E2E_EXTRA_VARS adds -e values to every playbook run. No cluster is a
failure, not a skip: these tests exist to prove the playbooks work on one.
"""
import base64
import calendar
import json
import os
import re
import signal
import subprocess
import time
import uuid

import pytest

from e2e_support import BACKUP_ID, SHARED, kubectl, tool_env

# The session's shared stack: release names other than the defaults.
STACK = SHARED
NAMESPACE, RELEASES = STACK.namespace, STACK.releases

# Runs in the MLflow pod with the server's admin login from the files the
# chart mounts; prints one JSON line.
MLFLOW_CLIENT = r"""
import hashlib, json, os, sys, tempfile, warnings
warnings.simplefilter("ignore")
os.environ["MLFLOW_TRACKING_USERNAME"] = open("/run/secrets/mlflow/auth/admin-username").read()
os.environ["MLFLOW_TRACKING_PASSWORD"] = open("/run/secrets/mlflow/auth/admin-password").read()
if sys.argv[3:] == ["login-on-stdin"]:  # another login than the server's own, kept out of argv
    login = json.loads(sys.stdin.read())
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = login
import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
mlflow.set_tracking_uri("http://127.0.0.1:5000")
client = MlflowClient()
action, marker = sys.argv[1], sys.argv[2]
EXPERIMENT, MODEL = "e2e-backup-" + marker, "e2e-model-" + marker


def seed():
    try:
        exp = client.create_experiment(EXPERIMENT, tags={"team": "e2e", "marker": marker})
    except mlflow.exceptions.RestException:
        # A retried first request may find the experiment its first attempt created.
        exp = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs = []
    for i, name in enumerate(("run-a", "run-b")):
        run = client.create_run(exp, run_name=name, tags={"variant": name, "marker": marker})
        run_id = run.info.run_id
        t0 = 1700000000000 + i * 100000
        client.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0 / (step + 1 + i), t0 + step, step) for step in range(6)]
                    + [Metric("accuracy", 0.5 + step * 0.07 + i * 0.01, t0 + step, step) for step in range(6)],
            params=[Param("lr", str(0.01 * (i + 1))), Param("epochs", "6"), Param("optimizer", "adam")],
            tags=[RunTag("stage", "train"), RunTag("note", "run %d of %s" % (i, marker))])
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "notes.txt"), "w") as f:
                f.write("notes of %s %s\n" % (name, marker))
            client.log_artifact(run_id, os.path.join(d, "notes.txt"))
            with open(os.path.join(d, "weights.bin"), "wb") as f:
                f.write(os.urandom(300 * 1024 + i * 1000))
            client.log_artifact(run_id, os.path.join(d, "weights.bin"), "model")
        client.set_terminated(run_id)
        runs.append(client.get_run(run_id))
    client.create_registered_model(MODEL, tags={"owner": "e2e"}, description="model of " + marker)
    for run in runs:
        client.create_model_version(MODEL, run.info.artifact_uri + "/model", run_id=run.info.run_id,
                                    tags={"from": run.info.run_name}, description="from " + run.info.run_name)
    client.transition_model_version_stage(MODEL, "1", "Staging")
    client.transition_model_version_stage(MODEL, "2", "Production")
    client.set_registered_model_alias(MODEL, "champion", "2")
    client.set_registered_model_alias(MODEL, "challenger", "1")
    return {}


def artifacts(run_id, path=None):
    found = {}
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            found.update(artifacts(run_id, item.path))
            continue
        with tempfile.TemporaryDirectory() as d:
            local = client.download_artifacts(run_id, item.path, d)
            with open(local, "rb") as f:
                data = f.read()
        found[item.path] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    return found


def snapshot():
    exp = client.get_experiment_by_name(EXPERIMENT)
    runs = {}
    for run in client.search_runs([exp.experiment_id], run_view_type=3):
        info, data = run.info, run.data
        runs[info.run_name] = {
            "run_id": info.run_id, "status": info.status, "lifecycle_stage": info.lifecycle_stage,
            "start_time": info.start_time, "end_time": info.end_time, "artifact_uri": info.artifact_uri,
            "params": data.params, "tags": data.tags, "metrics": data.metrics,
            "history": {key: sorted([m.step, m.timestamp, m.value] for m in client.get_metric_history(info.run_id, key))
                        for key in data.metrics},
            "artifacts": artifacts(info.run_id)}
    model = client.get_registered_model(MODEL)
    versions = {}
    for found in client.search_model_versions("name='%s'" % MODEL):
        v = client.get_model_version(MODEL, found.version)  # the search leaves out aliases
        versions[v.version] = {"run_id": v.run_id, "source": v.source, "stage": v.current_stage,
                               "status": v.status, "tags": v.tags, "aliases": sorted(v.aliases),
                               "description": v.description, "created": v.creation_timestamp}
    return {"experiment": {"id": exp.experiment_id, "stage": exp.lifecycle_stage, "tags": exp.tags,
                           "artifact_location": exp.artifact_location},
            "runs": runs,
            "model": {"description": model.description, "tags": model.tags, "aliases": model.aliases,
                      "versions": versions},
            "experiments": sorted(e.name for e in client.search_experiments(view_type=3))}


print(json.dumps(seed() if action == "seed" else snapshot(), sort_keys=True))
"""


def mlflow_client(action, marker, label=None, login=None):
    """Runs MLFLOW_CLIENT in the MLflow pod as the server's admin, or as login (username, password)."""
    start = time.monotonic()
    extra = ["login-on-stdin"] if login else []
    proc = kubectl("-n", NAMESPACE, "exec", *(["-i"] if login else []), f"deploy/{RELEASES['mlflow']}", "-c", "mlflow", "--",
                   "python3", "-c", MLFLOW_CLIENT, action, marker, *extra, check=False, timeout=600,
                   stdin=json.dumps(list(login)) if login else None)
    STACK.timings[label or f"mlflow {action}"] = round(time.monotonic() - start, 1)
    assert proc.returncode == 0, f"MLflow client {action} failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def admin_login():
    data = STACK.secret_data(f"{RELEASES['mlflow']}-auth")
    return data["admin-username"], data["admin-password"]


@pytest.fixture(scope="module")
def stack(shared_stack):
    yield shared_stack


def test_backup_restore_round_trip(stack, tmp_path_factory):
    marker = uuid.uuid4().hex[:8]
    mlflow_client("seed", marker)
    before = mlflow_client("snapshot", marker)
    runs = before["runs"]
    assert sorted(runs) == ["run-a", "run-b"], before
    for run in runs.values():
        assert run["status"] == "FINISHED" and len(run["params"]) == 3, run
        assert len(run["history"]["loss"]) == 6 and len(run["history"]["accuracy"]) == 6, run
        assert sorted(run["artifacts"]) == ["model/weights.bin", "notes.txt"], run
        assert run["artifacts"]["model/weights.bin"]["bytes"] >= 300 * 1024, run
    versions = before["model"]["versions"]
    assert {v: versions[v]["stage"] for v in versions} == {"1": "Staging", "2": "Production"}, versions
    assert before["model"]["aliases"] == {"champion": "2", "challenger": "1"}, before["model"]
    assert {v: versions[v]["aliases"] for v in versions} == {"1": ["challenger"], "2": ["champion"]}, versions

    # Off the cluster: a directory on the controller survives the purge.
    destination = tmp_path_factory.mktemp("backups")
    dest = ["-e", f"mlops_backup_destination={destination}"]
    output = STACK.playbook("backup.yml", *dest, label="backup.yml to directory")
    backup_id = BACKUP_ID.search(output).group(1)
    assert list(destination.rglob("manifest.json")), f"no manifest.json under {destination}"
    old_secrets, old_login = STACK.secret_values(), admin_login()
    assert old_secrets, "the stack's Secrets were not found"
    assert not [s for s in old_secrets if s in output], "a secret appears in backup.yml's output"
    # The backup key, kept off the cluster as docs/backup.md says (there in an
    # Ansible Vault file; here a file of extra vars only this test reads).
    key_secret = json.loads(kubectl("-n", NAMESPACE, "get", "secret", "mlops-stack-backup-key", "-o", "json").stdout)
    backup_key = base64.b64decode(key_secret["data"]["key"]).decode()
    assert backup_key not in output, "the backup key appears in backup.yml's output"
    key_file = tmp_path_factory.mktemp("vault") / "backup-key.json"
    key_file.write_text(json.dumps({"mlops_backup_key": backup_key}))
    key_file.chmod(0o600)

    # Lose everything: releases, volumes, credentials, namespace.
    purged = STACK.playbook("uninstall.yml", "-e", "mlops_purge=true", label="uninstall.yml purge")
    assert "mlops-stack-backup-key" in purged and "backup key" in purged, "the purge did not warn about the key"
    gone = kubectl("get", "namespace", NAMESPACE, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr, f"namespace {NAMESPACE} still exists"

    STACK.playbook("site.yml", "-e", "mlops_verify=false", label="site.yml fresh")
    new_secrets = STACK.secret_values()
    assert new_secrets and not set(new_secrets) & set(old_secrets), "the fresh stack reused old credentials"

    # Without its key the set cannot be trusted: refused, naming what to give.
    keyless = STACK.playbook("restore.yml", *dest, "-e", f"mlops_restore_backup_id={backup_id}",
                             "-e", "mlops_restore_confirm=true", label="restore.yml without the key", expect_rc=1)
    assert "mlops_backup_key" in keyless, keyless[-2000:]

    # The fresh stack holds MLflow's own data, so a restore must be confirmed.
    given_key = ["-e", f"@{key_file}"]
    refused = STACK.playbook("restore.yml", *dest, *given_key, "-e", f"mlops_restore_backup_id={backup_id}",
                             label="restore.yml refused", expect_rc=1)
    assert "mlops_restore_confirm=true" in refused

    restored = STACK.playbook("restore.yml", *dest, *given_key, "-e", f"mlops_restore_backup_id={backup_id}",
                              "-e", "mlops_restore_confirm=true", label="restore.yml")
    assert f"Restored set {backup_id}" in restored
    assert not [s for s in old_secrets + new_secrets + [backup_key] if s in restored], \
        "a secret appears in restore.yml's output"
    # The key given back is stored again, with the restored stack's id: the next backups use it.
    stored = json.loads(kubectl("-n", NAMESPACE, "get", "secret", "mlops-stack-backup-key", "-o", "json").stdout)
    assert base64.b64decode(stored["data"]["key"]).decode() == backup_key
    assert stored["data"]["stack-id"] == key_secret["data"]["stack-id"]
    replicas = kubectl("-n", NAMESPACE, "get", "deploy", RELEASES["mlflow"], "-o",
                       "jsonpath={.status.readyReplicas}")
    assert replicas.stdout.strip() == "1", "MLflow did not come back after the restore"

    # Read back as the fresh stack's admin (the login every client now has).
    # Should the restored database not accept it, read as the old admin
    # anyway, to tell lost data from a lost login, and fail on the login last.
    login_rejected = None
    try:
        after = mlflow_client("snapshot", marker, label="mlflow snapshot after restore")
    except AssertionError as exc:
        if "401" not in str(exc):
            raise
        login_rejected = [line for line in str(exc).splitlines() if "401" in line][-1][-300:]
        after = mlflow_client("snapshot", marker, label="mlflow snapshot after restore (old admin)",
                              login=old_login)
    for name in before["runs"]:
        assert after["runs"].get(name) == before["runs"][name], f"run {name} differs after the restore"
    assert after["model"] == before["model"], "the registered model differs after the restore"
    assert after == before
    assert login_rejected is None, (
        "the restored data is identical, but the server rejects the fresh stack's admin login "
        f"(Secret {RELEASES['mlflow']}-auth): the restored database keeps the old one: {login_rejected}")


def test_backup_refused_while_locked(stack):
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "mlops-stack-backup", "namespace": NAMESPACE},
             "spec": {"holderIdentity": "backup/e2e-test", "leaseDurationSeconds": 600,
                      "acquireTime": now, "renewTime": now}}
    # apply: the Lease is never deleted, so earlier runs may have left it (free).
    kubectl("apply", "-f", "-", stdin=json.dumps(lease))
    try:
        output = STACK.playbook("backup.yml", label="backup.yml locked", expect_rc=1)
        assert "Another backup or restore is running" in output
        assert "backup/e2e-test" in output
    finally:
        kubectl("-n", NAMESPACE, "delete", "lease", "mlops-stack-backup")


# The claim of the restore the test kills (mlops_backup_lock_seconds).
CLAIM_SECONDS = 120
HELD_BY = re.compile(r"Another backup or restore is running: Lease \S+ is held by (backup|restore)/\S+")


def lease_holder():
    found = kubectl("-n", NAMESPACE, "get", "lease", "mlops-stack-backup", "-o", "json", check=False)
    return json.loads(found.stdout)["spec"].get("holderIdentity") or "" if found.returncode == 0 else ""


def mlflow_state():
    """(spec replicas, ready replicas, the Deployment's and gc CronJob's restore annotation, gc suspended)."""
    deployment = json.loads(kubectl("-n", NAMESPACE, "get", "deploy", RELEASES["mlflow"], "-o", "json").stdout)
    gc = json.loads(kubectl("-n", NAMESPACE, "get", "cronjob", f"{RELEASES['mlflow']}-gc", "-o", "json").stdout)
    annotation = "mlops.stack/stopped-by-restore"
    return (deployment["spec"]["replicas"], deployment["status"].get("readyReplicas", 0),
            (deployment["metadata"].get("annotations") or {}).get(annotation),
            (gc["metadata"].get("annotations") or {}).get(annotation), gc["spec"].get("suspend", False))


def port_forwards_of(namespace):
    """PIDs of the kubectl port-forward processes into namespace."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                args = handle.read().split(b"\0")
        except OSError:
            continue
        if b"port-forward" in args and namespace.encode() in args and os.path.basename(args[0]) == b"kubectl":
            pids.append(int(entry))
    return pids


def test_a_restore_killed_half_way_is_brought_back_by_the_next(stack, tmp_path):
    """restore.yml is killed (SIGKILL to its process group: no rescue, no always) once it has
    stopped MLflow and started restoring the set; MLflow stays down, its gc suspended, the
    Lease held by the killed run. While that claim lasts, backup.yml is refused naming the
    restore and writes nothing. (Two runs claiming the Lease at the same instant:
    tests/integration/test_lease.py, on a real API server.) Once the claim expired, one more
    restore.yml takes the lock over and brings everything back: MLflow ready, gc resumed,
    the Lease free, and the data equal to the set."""
    # MLflow's gc CronJob (off by default), which a restore suspends and resumes.
    gc_file = tmp_path / "gc.json"
    gc_file.write_text(json.dumps({"mlflow_values": {"gc": {"enabled": True}}}))
    STACK.playbook("site.yml", "-e", f"@{gc_file}", "-e", "mlops_verify=false", label="site.yml with gc")
    marker = uuid.uuid4().hex[:8]
    mlflow_client("seed", marker)
    before = mlflow_client("snapshot", marker)
    assert mlflow_state() == (1, 1, None, None, False)
    sets = tmp_path / "sets"
    dest = ["-e", f"mlops_backup_destination={sets}"]
    backup_id = BACKUP_ID.search(STACK.playbook("backup.yml", *dest, label="backup.yml before the kill")).group(1)
    # Data the set does not hold, which the restore must take away again.
    mlflow_client("seed", marker + "-after")
    restore = ["-e", f"mlops_restore_backup_id={backup_id}", "-e", "mlops_restore_confirm=true"]
    # A short claim, so that the test need not wait 15 minutes for the killed run's to
    # expire, yet long enough for a backup.yml to start and be refused on a busy machine.
    _path, cmd = STACK.command("restore.yml", *dest, *restore, "-e", f"mlops_backup_lock_seconds={CLAIM_SECONDS}")
    killed = subprocess.Popen(cmd, cwd=STACK.checkout, env=dict(tool_env(STACK.checkout), PYTHONUNBUFFERED="1"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    try:
        for line in killed.stdout:
            seen.append(line)
            if "TASK [" in line and "Restore the set]" in line:
                break
        # The module runs (it verifies the set, then the database step): kill it there.
        time.sleep(1.5)
        assert killed.poll() is None, "restore.yml ended before it could be killed:\n" + "".join(seen)[-3000:]
        os.killpg(killed.pid, signal.SIGKILL)
    finally:
        if killed.poll() is None:
            os.killpg(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=60)
        # The killed run's port-forwards outlive it (port-forward.sh starts them in
        # a session of their own, and the run's disconnect never came): stop them.
        # They are the only ones naming this session's namespace now (this lane
        # runs one test at a time).
        for pid in port_forwards_of(NAMESPACE):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while port_forwards_of(NAMESPACE) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not port_forwards_of(NAMESPACE), "the killed run's port-forwards would not stop"
    assert "Restore the set]" in "".join(seen), "".join(seen)[-3000:]
    replicas, _ready, stopped, gc_stopped, suspended = mlflow_state()
    assert (replicas, stopped, gc_stopped, suspended) == (0, "1", "suspended", True), mlflow_state()
    assert lease_holder().startswith("restore/"), "the killed restore does not hold the Lease"

    # While the restore's claim lasts, a backup is refused, naming it, and writes nothing.
    sets_before = sorted(path.name for path in sets.iterdir())
    refused = STACK.playbook("backup.yml", *dest, label="backup.yml while a restore holds the lock", expect_rc=1)
    held_by = HELD_BY.search(refused)
    assert held_by and held_by.group(1) == "restore", refused[-3000:]
    assert "Write the backup set" not in refused, refused[-3000:]
    assert sorted(path.name for path in sets.iterdir()) == sets_before, "the refused backup wrote a set"

    # The killed run's claim is no longer renewed: once it expired, the next restore takes it over.
    renewed = json.loads(kubectl("-n", NAMESPACE, "get", "lease", "mlops-stack-backup", "-o", "json").stdout)
    renewed_at = calendar.timegm(time.strptime(renewed["spec"]["renewTime"][:19], "%Y-%m-%dT%H:%M:%S"))
    time.sleep(max(0.0, renewed_at + CLAIM_SECONDS + 5 - time.time()))
    output = STACK.playbook("restore.yml", *dest, *restore, label="restore.yml after the kill")
    assert f"Restored set {backup_id}" in output, output[-3000:]
    assert "had expired" in output and "taken over" in output, output[-3000:]
    assert mlflow_state() == (1, 1, None, None, False)
    assert not lease_holder(), "the restore left the Lease held"
    after = mlflow_client("snapshot", marker, label="mlflow snapshot after the resumed restore")
    assert after["runs"] == before["runs"] and after["model"] == before["model"]
    assert after["experiments"] == before["experiments"], "the restored stack differs from the set"


def test_diagnose(stack):
    output = STACK.playbook("diagnose.yml", label="diagnose.yml")
    for check in ("postgresql", "experiments", "s3", "health", "pods mlflow", "bucket mlflow", "backups"):
        assert re.search(rf"OK\s+{re.escape(check)}:", output), f"{check} not OK:\n{output[-4000:]}"
    assert not [s for s in STACK.secret_values() if s in output], "a secret appears in diagnose.yml's output"


# Runs in the MLflow pod with the S3 key pair of its own credential files (what
# the server itself uses) and, from stdin, the root login to set the scene; prints
# one JSON line: the S3 error code of each attempt, null when it was allowed.
S3_PROBE = r"""
import json, os, sys
import boto3, botocore.config, botocore.exceptions
root = json.loads(sys.stdin.read())
def client(key, secret):
    return boto3.client("s3", endpoint_url=os.environ["MLFLOW_S3_ENDPOINT_URL"], aws_access_key_id=key,
                        aws_secret_access_key=secret, region_name="us-east-1",
                        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
def code(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    return None
admin = client(*root["root"])
for name in ("mlflow-backups", "e2e-other"):
    code(admin.create_bucket, Bucket=name)
admin.put_object(Bucket="mlflow-backups", Key="set/manifest.json", Body=b"{}")
own = client(open("/run/secrets/mlflow/s3/access-key-id").read(), open("/run/secrets/mlflow/s3/secret-access-key").read())
bucket = sys.argv[1]
result = {
    "put_own": code(own.put_object, Bucket=bucket, Key="e2e-probe.txt", Body=b"x"),
    "get_own": code(own.get_object, Bucket=bucket, Key="e2e-probe.txt"),
    "list_own": code(own.list_objects_v2, Bucket=bucket),
    "delete_own": code(own.delete_object, Bucket=bucket, Key="e2e-probe.txt"),
    "read_backups": code(own.list_objects_v2, Bucket="mlflow-backups"),
    "get_backup": code(own.get_object, Bucket="mlflow-backups", Key="set/manifest.json"),
    "delete_backup": code(own.delete_object, Bucket="mlflow-backups", Key="set/manifest.json"),
    "put_other": code(own.put_object, Bucket="e2e-other", Key="x", Body=b"x"),
    "create_bucket": code(own.create_bucket, Bucket="e2e-new-bucket"),
    "delete_bucket": code(own.delete_bucket, Bucket=bucket),
}
if root.get("old"):
    result["old_keys"] = code(client(*root["old"]).list_objects_v2, Bucket=bucket)
if root.get("backup"):
    backup, prefix = client(*root["backup"]), root["prefix"]
    admin.put_object(Bucket=bucket, Key="e2e-artifact.txt", Body=b"a")
    result["backup"] = {
        "read_artifact": code(backup.get_object, Bucket=bucket, Key="e2e-artifact.txt"),
        "list_artifacts": code(backup.list_objects_v2, Bucket=bucket),
        "write_set": code(backup.put_object, Bucket="mlflow-backups", Key=prefix + "/e2e-set/a", Body=b"a"),
        "read_set": code(backup.get_object, Bucket="mlflow-backups", Key=prefix + "/e2e-set/a"),
        "delete_set": code(backup.delete_object, Bucket="mlflow-backups", Key=prefix + "/e2e-set/a"),
        "write_elsewhere": code(backup.put_object, Bucket="mlflow-backups", Key="other/a", Body=b"a"),
        "write_artifact": code(backup.put_object, Bucket=bucket, Key="e2e-planted.txt", Body=b"a"),
        "delete_artifact": code(backup.delete_object, Bucket=bucket, Key="e2e-artifact.txt"),
        "delete_bucket": code(backup.delete_bucket, Bucket="mlflow-backups"),
    }
    admin.delete_object(Bucket=bucket, Key="e2e-artifact.txt")
if root.get("retention"):
    retention, prefix = client(*root["retention"]), root["prefix"]
    admin.put_object(Bucket=bucket, Key="e2e-artifact.txt", Body=b"a")
    for key in (prefix + "/e2e-old/manifest.json", prefix + "/e2e-old/objects/a", "other/e2e-old"):
        admin.put_object(Bucket="mlflow-backups", Key=key, Body=b"{}")
    result["retention"] = {
        "list_sets": code(retention.list_objects_v2, Bucket="mlflow-backups", Prefix=prefix + "/"),
        "read_manifest": code(retention.get_object, Bucket="mlflow-backups", Key=prefix + "/e2e-old/manifest.json"),
        "read_set_file": code(retention.get_object, Bucket="mlflow-backups", Key=prefix + "/e2e-old/objects/a"),
        "write_set": code(retention.put_object, Bucket="mlflow-backups", Key=prefix + "/e2e-old/b", Body=b"b"),
        "delete_set_file": code(retention.delete_object, Bucket="mlflow-backups", Key=prefix + "/e2e-old/objects/a"),
        "delete_manifest": code(retention.delete_object, Bucket="mlflow-backups", Key=prefix + "/e2e-old/manifest.json"),
        "delete_elsewhere": code(retention.delete_object, Bucket="mlflow-backups", Key="other/e2e-old"),
        "read_artifact": code(retention.get_object, Bucket=bucket, Key="e2e-artifact.txt"),
        "list_artifacts": code(retention.list_objects_v2, Bucket=bucket),
        "delete_artifact": code(retention.delete_object, Bucket=bucket, Key="e2e-artifact.txt"),
        "read_other": code(retention.list_objects_v2, Bucket="e2e-other"),
        "delete_bucket": code(retention.delete_bucket, Bucket="mlflow-backups"),
    }
    result["retention"]["left"] = sorted(o["Key"] for o in admin.list_objects_v2(
        Bucket="mlflow-backups", Prefix=prefix + "/e2e-old/").get("Contents", []))
    for key in ("other/e2e-old", prefix + "/e2e-old/objects/a", prefix + "/e2e-old/manifest.json"):
        admin.delete_object(Bucket="mlflow-backups", Key=key)
    admin.delete_object(Bucket=bucket, Key="e2e-artifact.txt")
print(json.dumps(result))
"""


def s3_probe(old=None, backup=None, retention=None):
    root = STACK.secret_data(f"{RELEASES['minio']}-auth")
    login = {"root": [root["root-user"], root["root-password"]], "old": old, "backup": backup,
             "retention": retention, "prefix": NAMESPACE}
    proc = kubectl("-n", NAMESPACE, "exec", "-i", f"deploy/{RELEASES['mlflow']}", "-c", "mlflow", "--",
                   "python3", "-c", S3_PROBE, "mlflow", check=False, timeout=300, stdin=json.dumps(login))
    assert proc.returncode == 0, f"S3 probe failed:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mlflow_s3_secret():
    deployment = json.loads(kubectl("-n", NAMESPACE, "get", "deployment", RELEASES["mlflow"], "-o", "json").stdout)
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "credentials")
    # The volume's Secret sources (beside them, the CA bundle's ConfigMap).
    names = {item["path"]: source["secret"]["name"] for source in volume["projected"]["sources"]
             if "secret" in source for item in source["secret"]["items"]}
    assert names["s3/access-key-id"] == names["s3/secret-access-key"]
    return STACK.secret_data(names["s3/secret-access-key"])


def test_mlflow_s3_login_is_least_privilege_and_rotates(stack):
    """MLflow's pod holds a MinIO login of its own, allowed only its bucket's objects; the
    backups' login reads them and writes sets but deletes none; retention's deletes under
    the sets' prefix and reads nothing but manifests; mlops_rotate_credentials gives MLflow
    a new login, rolls MLflow and removes the old one."""
    root_user = STACK.secret_data(f"{RELEASES['minio']}-auth")["root-user"]
    before = mlflow_s3_secret()
    assert before["access-key-id"] != root_user, "MLflow was handed the MinIO root login"
    denied = {"read_backups", "get_backup", "delete_backup", "put_other", "create_bucket", "delete_bucket"}
    backup = STACK.secret_data("mlops-backup-s3")
    retention = STACK.secret_data("mlops-backup-retention-s3")
    assert backup["access-key-id"] not in (root_user, before["access-key-id"])
    assert retention["access-key-id"] not in (root_user, before["access-key-id"], backup["access-key-id"])
    probe = s3_probe(backup=[backup["access-key-id"], backup["secret-access-key"]],
                     retention=[retention["access-key-id"], retention["secret-access-key"]])
    # The backups' own user reads the artifacts and writes sets, but deletes nothing.
    assert probe.pop("backup") == {
        "read_artifact": None, "list_artifacts": None, "write_set": None, "read_set": None,
        "delete_set": "AccessDenied", "write_elsewhere": "AccessDenied", "write_artifact": "AccessDenied",
        "delete_artifact": "AccessDenied", "delete_bucket": "AccessDenied"}
    # Retention's lists the sets, reads their manifests and deletes under their prefix only.
    assert probe.pop("retention") == {
        "list_sets": None, "read_manifest": None, "read_set_file": "AccessDenied", "write_set": "AccessDenied",
        "delete_set_file": None, "delete_manifest": None, "delete_elsewhere": "AccessDenied",
        "read_artifact": "AccessDenied", "list_artifacts": "AccessDenied", "delete_artifact": "AccessDenied",
        "read_other": "AccessDenied", "delete_bucket": "AccessDenied", "left": []}
    assert {k: v for k, v in probe.items() if k not in denied} == dict.fromkeys(
        ("put_own", "get_own", "list_own", "delete_own")), probe
    assert {k: probe[k] for k in denied} == dict.fromkeys(denied, "AccessDenied"), probe

    STACK.playbook("site.yml", "-e", "mlops_verify=false", "-e", "mlops_rotate_credentials=true",
                   label="site.yml (rotate credentials)")
    after = mlflow_s3_secret()
    assert after["access-key-id"] != before["access-key-id"]
    assert after["secret-access-key"] != before["secret-access-key"]
    probe = s3_probe(old=[before["access-key-id"], before["secret-access-key"]])
    assert probe["old_keys"] == "InvalidAccessKeyId", probe
    assert probe["put_own"] is None and probe["create_bucket"] == "AccessDenied", probe
    # MLflow itself works on the new pair: a run with artifacts, read back.
    marker = uuid.uuid4().hex[:8]
    mlflow_client("seed", marker)
    runs = mlflow_client("snapshot", marker)["runs"]
    assert sorted(runs) == ["run-a", "run-b"] and all(run["artifacts"] for run in runs.values()), runs

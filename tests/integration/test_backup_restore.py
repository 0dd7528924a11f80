"""backup, restore and backup_info against real PostgreSQL, MinIO and MLflow.

The tests run in file order and share one populated MLflow server: each
step builds on the sets the previous steps wrote.
"""

import hashlib
import io
import json
import os
import shutil
import threading

import pytest

from services import run_module

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

MODEL = "br-model"
STATE = {}
# The backup key these tests' sets are signed (and, by default, encrypted) with.
BACKUP_KEY = "integration-backup-key-" + "0123456789abcdef" * 2


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def bucket_objects(minio, bucket):
    client = minio.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = sha256(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return found


def empty_bucket(minio, bucket):
    client = minio.client()
    for key in bucket_objects(minio, bucket):
        client.delete_object(Bucket=bucket, Key=key)


def database_exists(postgres, name):
    import psycopg
    with psycopg.connect(postgres.uri(), autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone())


def run_count(stack):
    import psycopg
    with psycopg.connect(stack["postgres"].uri(stack["server"].database), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM runs").fetchone()[0]


def snapshot(server):
    """Everything the tests expect back after a restore, read through MLflow."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=server.url)
    runs = {}
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            metrics = {}
            for key in run.data.metrics:
                metrics[key] = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
            runs[run.info.run_id] = dict(
                experiment=experiment.name, name=run.info.run_name, params=run.data.params,
                tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
                metrics=metrics, artifacts=artifact_digests(client, run.info.run_id))
    versions = {}
    for version in client.search_model_versions("name='%s'" % MODEL):
        versions[version.version] = dict(stage=version.current_stage, run_id=version.run_id,
                                         source=version.source)
    model = client.get_registered_model(MODEL) if versions else None
    return dict(runs=runs, versions=versions, aliases=dict(model.aliases) if model else {})


def artifact_digests(client, run_id, path=None):
    import tempfile
    digests = {}
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            digests.update(artifact_digests(client, run_id, item.path))
        else:
            target = tempfile.mkdtemp()
            try:
                local = client.download_artifacts(run_id, item.path, target)
                with open(local, "rb") as handle:
                    digests[item.path] = sha256(handle.read())
            finally:
                shutil.rmtree(target)
    return digests


@pytest.fixture(scope="module")
def stack(mlflow, postgres, minio, tmp_path_factory):
    """The populated MLflow server and the module options to reach it."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow.url)
    work = tmp_path_factory.mktemp("artifacts")
    run_ids = []
    for experiment_name in ("br-training", "br-tuning"):
        experiment_id = client.create_experiment(experiment_name)
        for index in range(2):
            run = client.create_run(experiment_id, run_name="%s-%d" % (experiment_name, index),
                                    tags={"team": "ml", "index": str(index)})
            run_id = run.info.run_id
            client.log_param(run_id, "learning_rate", 0.01 * (index + 1))
            client.log_param(run_id, "layers", index + 2)
            for step in range(5):
                client.log_metric(run_id, "loss", 1.0 / (step + 1 + index), step=step)
                client.log_metric(run_id, "accuracy", 0.5 + step * 0.1, step=step)
            payload = work / ("%s-%d" % (experiment_name, index))
            (payload / "model" / "nested").mkdir(parents=True)
            (payload / "model" / "model.bin").write_bytes(os.urandom(300000 + index))
            (payload / "model" / "nested" / "weights.bin").write_bytes(os.urandom(70000))
            (payload / "model" / "MLmodel").write_text("flavors: {}\nrun: %s\n" % run_id)
            (payload / "notes.txt").write_text("run %s\n" % run_id)
            client.log_artifacts(run_id, str(payload))
            client.set_terminated(run_id)
            run_ids.append(run_id)
    client.create_registered_model(MODEL, description="backup round trip")
    first = client.create_model_version(MODEL, "runs:/%s/model" % run_ids[0], run_id=run_ids[0])
    second = client.create_model_version(MODEL, "runs:/%s/model" % run_ids[1], run_id=run_ids[1])
    client.transition_model_version_stage(MODEL, first.version, "Staging")
    client.set_registered_model_alias(MODEL, "champion", second.version)

    STATE["before"] = snapshot(mlflow)
    STATE["objects"] = bucket_objects(minio, mlflow.bucket)
    assert len(STATE["before"]["runs"]) == 4
    assert STATE["before"]["aliases"] == {"champion": second.version}
    assert STATE["before"]["versions"][first.version]["stage"] == "Staging"
    assert len(STATE["objects"]) >= 16

    minio.client().create_bucket(Bucket="stack-backups")
    options = dict(minio.connection_args(), **postgres.connection_args())
    options.update(database=mlflow.database, buckets=[mlflow.bucket], key=BACKUP_KEY, stack_id="it-stack")
    root = tmp_path_factory.mktemp("sets")
    yield dict(server=mlflow, options=options, dir=str(root / "dir"), root=str(root),
               s3="s3://stack-backups/mlops", minio=minio, postgres=postgres)


def backup(stack, destination, check=False, **extra):
    args = dict(stack["options"], destination=destination)
    args.update(extra)
    return run_module("backup", args, check=check)


def restore(stack, source, check=False, **extra):
    args = dict(stack["options"], source=source)
    args.pop("buckets")
    args.update(extra)
    return run_module("restore", args, check=check)


def info(stack, destination, **extra):
    args = dict(destination=destination, key=BACKUP_KEY)
    if destination.startswith("s3://"):
        args.update(stack["minio"].connection_args())
    args.update(extra)
    return run_module("backup_info", args)


def assert_one_line_failure(result, *words):
    assert result["failed"], result
    message = result["msg"]
    assert message.startswith("Failed to "), message
    assert "\n" not in message and "Traceback" not in message, message
    assert "exception" not in result or "Traceback" not in result.get("module_stderr", ""), result
    for word in words:
        assert word in message, message


def test_backup_check_mode_writes_nothing(stack):
    result = backup(stack, stack["dir"], check=True)
    assert result["changed"] and not result["failed"], result
    assert result["plan"]["object_count"] == len(STATE["objects"])
    assert result["backup_id"] is None
    assert not os.path.exists(stack["dir"])


def test_backup_to_directory(stack):
    # Not encrypted: the files are checked here as they lie on disk (test_backup_sets.py: encrypted).
    result = backup(stack, stack["dir"], workers=4, encrypt=False)
    assert result["changed"] and result["status"] == "complete", result
    assert result["object_count"] == len(STATE["objects"])
    assert result["server_side_copy"] is False
    assert result["versions"]["mlflow_schema"]
    assert result["versions"]["postgresql_server"].split(".")[0] == result["versions"]["pg_dump"].split(".")[0]
    assert result["throughput_mb_s"]["total"] > 0
    manifest = json.load(open(os.path.join(result["location"], "manifest.json")))
    assert manifest["status"] == "complete"
    for entry in manifest["files"]:
        with open(os.path.join(result["location"], *entry["path"].split("/")), "rb") as handle:
            assert sha256(handle.read()) == entry["sha256"]
    digests = dict((e["key"], e["sha256"]) for e in manifest["files"] if "key" in e)
    assert digests == STATE["objects"]
    with open(os.path.join(result["location"], "database", "%s.dump" % stack["server"].database), "rb") as handle:
        assert handle.read(5) == b"PGDMP"
    STATE["dir_id"] = result["backup_id"]


def test_backup_to_s3_server_side_and_streamed(stack):
    # A server-side copy needs unencrypted sets (encrypted ones stream through: test_backup_sets.py).
    same = backup(stack, stack["s3"], encrypt=False)
    assert same["status"] == "complete" and same["server_side_copy"] is True, same
    # Another spelling of the endpoint is another endpoint: objects stream through.
    streamed = backup(stack, stack["s3"], destination_endpoint_url=stack["minio"].endpoint.replace(
        "127.0.0.1", "localhost"), multipart_threshold_mb=5, multipart_chunk_mb=5, encrypt=False)
    assert streamed["status"] == "complete" and streamed["server_side_copy"] is False, streamed
    assert same["backup_id"] < streamed["backup_id"]
    listed = info(stack, stack["s3"])
    assert [b["id"] for b in listed["backups"]] == [same["backup_id"], streamed["backup_id"]]
    assert listed["latest"] == streamed["backup_id"] and listed["complete_count"] == 2
    assert listed["backups"][0]["objects"] == len(STATE["objects"])
    verified = info(stack, stack["s3"], backup_id="latest", verify=True)
    assert verified["backups"][0]["verified"] is True
    STATE["s3_id"] = same["backup_id"]


def test_restore_into_wiped_stack(stack):
    server = stack["server"]
    server.stop()
    import psycopg
    with psycopg.connect(stack["postgres"].uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE "%s" WITH (FORCE)' % server.database)
    empty_bucket(stack["minio"], server.bucket)

    checked = restore(stack, stack["s3"], check=True, backup_id=STATE["s3_id"])
    assert checked["changed"] and checked["verified_files"] == len(STATE["objects"]) + 1, checked
    assert not database_exists(stack["postgres"], server.database)

    # No database given: the set names the one it holds.
    result = restore(stack, stack["s3"], backup_id=STATE["s3_id"], database=None)
    assert result["changed"] and not result["failed"], result
    assert result["database"] == server.database
    assert result["object_count"] == len(STATE["objects"]) and result["replaced"] == []
    assert bucket_objects(stack["minio"], server.bucket) == STATE["objects"]
    server.start()
    assert snapshot(server) == STATE["before"]


def test_restore_refuses_to_overwrite_without_force(stack):
    result = restore(stack, stack["dir"])
    assert_one_line_failure(result, "hold(s) data", "force=true")


def test_restore_with_force_mirrors_the_set(stack):
    from mlflow.tracking import MlflowClient

    server = stack["server"]
    client = MlflowClient(tracking_uri=server.url)
    extra_run = client.create_run(client.get_experiment_by_name("br-training").experiment_id).info.run_id
    stack["minio"].client().put_object(Bucket=server.bucket, Key="stray/object.txt", Body=b"stray")
    result = restore(stack, stack["dir"], force=True)
    assert result["changed"] and result["backup_id"] == STATE["dir_id"], result
    assert result["deleted_objects"] == 1
    assert set(result["replaced"]) == {"database %s" % server.database, "bucket %s" % server.bucket}
    assert bucket_objects(stack["minio"], server.bucket) == STATE["objects"]
    import psycopg
    with psycopg.connect(stack["postgres"].uri(), autocommit=True) as conn:
        leftovers = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                 (server.database + "\\_\\_%",)).fetchall()
    assert leftovers == []
    server.stop()
    server.start()
    after = snapshot(server)
    assert extra_run not in after["runs"]
    assert after == STATE["before"]


def test_flipped_byte_makes_restore_refuse_before_any_change(stack):
    damaged_root = os.path.join(stack["root"], "damaged")
    shutil.copytree(os.path.join(stack["dir"], STATE["dir_id"]), os.path.join(damaged_root, STATE["dir_id"]))
    victim = sorted(p for p in os.listdir(os.path.join(damaged_root, STATE["dir_id"], "objects",
                                                       stack["server"].bucket)))[0]
    path = os.path.join(damaged_root, STATE["dir_id"], "objects", stack["server"].bucket, victim)
    while os.path.isdir(path):
        path = os.path.join(path, sorted(os.listdir(path))[0])
    with open(path, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0x01]))
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=stack["server"].url)
    marker = client.create_run(client.get_experiment_by_name("br-tuning").experiment_id).info.run_id
    stack["minio"].client().put_object(Bucket=stack["server"].bucket, Key="marker.txt", Body=b"m")

    result = restore(stack, damaged_root, force=True)
    assert_one_line_failure(result, "verify backup set", "does not match its sha256")
    assert marker in snapshot(stack["server"])["runs"]
    assert "marker.txt" in bucket_objects(stack["minio"], stack["server"].bucket)

    with open(os.path.join(damaged_root, STATE["dir_id"], "manifest.json"), "r+b") as handle:
        handle.seek(40)
        byte = handle.read(1)
        handle.seek(40)
        handle.write(bytes([byte[0] ^ 0x02]))
    result = restore(stack, damaged_root, force=True, backup_id=STATE["dir_id"])
    assert_one_line_failure(result)
    assert marker in snapshot(stack["server"])["runs"]
    listed = info(stack, damaged_root)
    assert listed["backups"][0]["status"] == "invalid" and listed["latest"] is None


def test_interrupted_backup_is_never_complete_and_next_backup_succeeds(stack):
    destination = os.path.join(stack["root"], "interrupted")
    first = backup(stack, destination)
    second = backup(stack, destination)
    assert first["status"] == second["status"] == "complete"
    # A run killed before its last step leaves a set without a manifest.
    os.unlink(os.path.join(second["location"], "manifest.json"))
    listed = info(stack, destination)
    statuses = dict((b["id"], b["status"]) for b in listed["backups"])
    assert statuses == {first["backup_id"]: "complete", second["backup_id"]: "incomplete"}
    assert listed["latest"] == first["backup_id"] and listed["complete_count"] == 1
    checked = restore(stack, destination, check=True, force=True)
    assert checked["backup_id"] == first["backup_id"]
    incomplete = restore(stack, destination, check=True, force=True, backup_id=second["backup_id"])
    assert_one_line_failure(incomplete, "incomplete")

    third = backup(stack, destination, keep_last=1, incomplete_grace="0s")
    assert third["status"] == "complete"
    assert third["deleted"] == [first["backup_id"], second["backup_id"]]
    listed = info(stack, destination)
    assert [(b["id"], b["status"]) for b in listed["backups"]] == [(third["backup_id"], "complete")]


def descendants(root):
    """Ids of every process below root, read from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def test_killed_backup_leaves_no_complete_set(stack, tmp_path):
    """Kill the ansible-playbook process tree in the middle of a real backup."""
    import signal
    import subprocess
    import sys
    import time

    destination = os.path.join(stack["root"], "killed")
    client = stack["minio"].client()
    bucket = "br-slow"
    client.create_bucket(Bucket=bucket)
    for index in range(500):
        client.put_object(Bucket=bucket, Key="blob/%03d" % index, Body=os.urandom(2048))
    playbook = tmp_path / "backup.yml"
    args = dict(stack["options"], destination=destination, buckets=[bucket], workers=1)
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "connection": "local",
                                     "tasks": [{"mlops.stack.backup": args}]}]))
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
               str(playbook), "-e", "ansible_python_interpreter=%s" % sys.executable]
    process = subprocess.Popen(command, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                               env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(
                                   os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "ansible.cfg")))
    deadline = time.monotonic() + 60
    killed = False
    while time.monotonic() < deadline and process.poll() is None:
        sets = os.listdir(destination) if os.path.isdir(destination) else []
        objects = [s for s in sets if os.path.isdir(os.path.join(destination, s, "objects"))]
        if objects:
            # Ansible detaches its workers into their own sessions: kill the
            # whole tree this test started, by process id.
            for pid in [process.pid] + descendants(process.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            killed = True
            break
        time.sleep(0.05)
    process.wait()
    assert killed, "the backup finished before the test could kill it"
    listed = info(stack, destination)
    assert listed["complete_count"] == 0, listed
    assert [b["status"] for b in listed["backups"]] == ["incomplete"]
    result = backup(stack, destination, buckets=[bucket], workers=8)
    assert result["status"] == "complete" and result["object_count"] == 500
    assert info(stack, destination)["latest"] == result["backup_id"]


def test_concurrent_backups_get_their_own_sets(stack):
    destination = os.path.join(stack["root"], "concurrent")
    results = [None, None]

    def run(index):
        results[index] = backup(stack, destination)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r["status"] == "complete" for r in results), results
    assert results[0]["backup_id"] != results[1]["backup_id"]
    assert info(stack, destination)["complete_count"] == 2


def test_backup_info_is_read_only_in_check_mode(stack):
    result = run_module("backup_info", dict(destination=stack["dir"]), check=True)
    assert not result["changed"] and result["latest"] == STATE["dir_id"]


@pytest.mark.parametrize("module,extra,words", [
    ("backup", dict(destination="relative/backups"), ["absolute path"]),
    ("backup", dict(destination="ftp://host/backups"), ["only s3://"]),
    ("backup", dict(keep_within="7 days"), ["keep_within"]),
    ("backup", dict(keep_last=0), ["keep_last"]),
    ("backup", dict(buckets=["Bad_Bucket"]), ["Bad_Bucket"]),
    ("backup", dict(buckets=["no-such-bucket"]), ["no-such-bucket", "does not exist"]),
    ("backup", dict(database="no_such_db"), ["no_such_db", "does not exist"]),
    ("backup", dict(login_password="wrong"), ["password authentication failed"]),
    ("backup", dict(workers=0), ["workers"]),
    ("restore", dict(backup_id="yesterday"), ["yesterday"]),
    ("restore", dict(backup_id="20000101T000000Z"), ["20000101T000000Z", "does not exist"]),
    ("restore", dict(source="/nonexistent/backups"), ["does not exist"]),
    ("restore", dict(bucket_map={"other": "x"}), ["bucket_map", "other"]),
    ("backup_info", dict(destination="s3://Bad_Bucket/x"), ["bucket name"]),
    ("backup_info", dict(backup_id="20000101T000000Z"), ["20000101T000000Z"]),
])
def test_bad_inputs_fail_in_one_line_and_change_nothing(stack, module, extra, words):
    before = sorted(os.listdir(stack["dir"]))
    runs = run_count(stack)
    if module == "backup":
        args = dict(stack["options"], destination=stack["dir"])
    elif module == "restore":
        args = dict(stack["options"], source=stack["dir"], force=True)
        args.pop("buckets")
    else:
        args = dict(destination=stack["dir"])
    args.update(extra)
    result = run_module(module, args)
    assert_one_line_failure(result, *words)
    assert "wrong" not in result["msg"] or module != "backup"
    assert sorted(os.listdir(stack["dir"])) == before
    assert run_count(stack) == runs


def test_old_local_pg_dump_is_refused(stack, tmp_path):
    fake = tmp_path / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    os.chmod(str(fake), 0o755)
    result = backup(stack, stack["dir"], pg_bindir=str(tmp_path))
    assert_one_line_failure(result, "pg_dump 9.6.24 is older than the server")


def test_secrets_never_show(stack):
    result = backup(stack, stack["dir"], check=True)
    text = json.dumps(result)
    assert stack["options"]["secret_key"] not in text.replace("********", "")
    assert stack["options"]["login_password"] not in text.replace("********", "")


def test_object_not_matching_the_manifest_is_refused_by_the_server(minio, tmp_path):
    """Objects sent from a directory carry their manifest sha256: the server checks it."""
    import sys
    collections = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".tools", "collections")
    if os.path.abspath(collections) not in [os.path.abspath(p) for p in sys.path]:
        sys.path.insert(0, collections)
    from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
    from ansible_collections.mlops.stack.plugins.module_utils._backup import objects, stores
    from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError

    store = stores.DirectoryStore(str(tmp_path))
    store.claim("20261126T061500Z")
    path = sets.object_path("checked", "a/b.bin")
    size, digest = store.write_stream("20261126T061500Z", path, io.BytesIO(b"original"))
    client = minio.client()
    objects.create_bucket(client, "checked")
    entry = dict(path=path, size=size, sha256=digest)
    objects.restore_objects(store, "20261126T061500Z", [entry], client, {}, False, 2, objects.transfer_config())
    assert client.get_object(Bucket="checked", Key="a/b.bin")["Body"].read() == b"original"
    # The file changes after verification: the server refuses it, nothing is replaced.
    with open(store.local_path("20261126T061500Z", path), "r+b") as handle:
        handle.write(b"O")
    with pytest.raises(BackupError, match="changed while it was restored"):
        objects.restore_objects(store, "20261126T061500Z", [entry], client, {}, False, 2, objects.transfer_config())
    assert client.get_object(Bucket="checked", Key="a/b.bin")["Body"].read() == b"original"

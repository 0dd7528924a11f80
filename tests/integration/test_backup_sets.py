"""Signed, encrypted backup sets against real PostgreSQL and MinIO.

Every set is signed with the backup key and encrypted by default; the stack
that wrote it is recorded. Sets planted by someone who can write the
destination but has no key (altered and re-sealed, future-dated, unsigned,
with a hostile dump, another stack's) take no effect: restore refuses them by
name with nothing changed, latest never picks them, retention never deletes
them. Object keys of any shape survive a directory set, and an object that
vanishes during a backup is skipped, not fatal.

The tests run in file order on their own database and buckets.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from services import owned_database, run_module

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".tools", "collections")
if os.path.abspath(COLLECTIONS) not in [os.path.abspath(p) for p in sys.path]:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets  # noqa: E402
from ansible_collections.mlops.stack.plugins.module_utils._backup import objects, seal, stores  # noqa: E402

KEY = "sets-integration-key-" + "fedcba9876543210" * 2
OTHER_KEY = "someone-elses-backup-key-" + "0123456789abcdef" * 2
DATABASE, OWNER, BUCKET = "sets_db", "sets_owner", "sets-art"
# Keys that collide or overflow file names unless encoded with care.
# (MinIO refuses an object whose key is also a prefix of others, such as "a~" next to "a~/b".)
TRICKY_KEYS = ["a", "a~/b", "b~", "a%7E/c", "a~+/d", "ü" * 120 + "/model.bin", "x" * 250, "日本語/" * 20 + "z"]
STATE = {}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def env(postgres, minio, tmp_path_factory):
    """A database with rows and a bucket with objects, and the options to back them up."""
    owned_database(postgres, DATABASE, OWNER, 50)
    client = minio.client()
    for bucket in (BUCKET, "sets-copy", "sets-backups"):
        try:
            client.create_bucket(Bucket=bucket)
        except client.exceptions.BucketAlreadyOwnedByYou:
            pass
    for index in range(12):
        client.put_object(Bucket=BUCKET, Key="runs/%02d/model.bin" % index, Body=os.urandom(20000 + index))
    client.put_object(Bucket=BUCKET, Key="secret.txt", Body=b"plain artifact text that must not show")
    options = dict(minio.connection_args(), **postgres.connection_args())
    options.update(database=DATABASE, buckets=[BUCKET], key=KEY, stack_id="mine", namespace="mlops")
    root = str(tmp_path_factory.mktemp("signed-sets"))
    yield dict(options=options, root=root, minio=minio, postgres=postgres)


def backup(env, destination, **extra):
    return run_module("backup", dict(env["options"], destination=destination, **extra))


def restore(env, source, check=False, **extra):
    args = dict(env["options"], source=source)
    args.pop("buckets")
    args.update(extra)
    return run_module("restore", args, check=check)


def info(env, destination, **extra):
    args = dict(destination=destination, key=KEY, stack_id="mine", namespace="mlops")
    if destination.startswith("s3://"):
        args.update(env["minio"].connection_args())
    args.update(extra)
    return run_module("backup_info", args)


def bucket_state(env, bucket=BUCKET):
    client = env["minio"].client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = sha256(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return found


def database_state(env):
    import psycopg
    with psycopg.connect(env["postgres"].uri(), autocommit=True) as conn:
        databases = sorted(r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (DATABASE + "%",)).fetchall())
        roles = sorted(r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall())
    with psycopg.connect(env["postgres"].uri(DATABASE), autocommit=True) as conn:
        tables = sorted(r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall())
        rows = conn.execute("SELECT count(*), coalesce(sum(id), 0) FROM runs").fetchone()
    return dict(databases=databases, roles=roles, tables=tables, rows=rows)


def everything(env):
    return dict(database=database_state(env), objects=bucket_state(env))


def assert_refused(result, *words):
    assert result["failed"], result
    message = result["msg"]
    assert message.startswith("Failed to ") and "\n" not in message and "Traceback" not in message, message
    for word in words:
        assert word in message, message


def set_dir(root, backup_id):
    return os.path.join(root, backup_id)


def read_manifest(root, backup_id):
    with open(os.path.join(set_dir(root, backup_id), sets.MANIFEST), "rb") as handle:
        return json.loads(handle.read())


def write_manifest(root, backup_id, manifest):
    with open(os.path.join(set_dir(root, backup_id), sets.MANIFEST), "wb") as handle:
        handle.write(sets.serialize_manifest(manifest))


def sign_with(key_text, body):
    body = dict(body)
    body.pop("signature", None)
    body.pop("checksum", None)
    key = seal.SetKey(key_text)
    body["key_id"] = key.key_id
    body["signature"] = key.sign(sets._canonical(body))
    return body


def reseal_unsigned(body):
    """body sealed as 0.1.0 did: format 1 and an unkeyed sha256 anyone can compute."""
    body = dict(body)
    for name in ("signature", "stack", "encryption", "key_id", "skipped"):
        body.pop(name, None)
    body["format"] = sets.UNSIGNED_FORMAT
    body["checksum"] = "sha256:" + hashlib.sha256(sets._canonical(body)).hexdigest()
    return body


def plant_copy(root, source_id, new_id):
    """A copy of a set under another id, its manifest naming the new id (not re-signed)."""
    shutil.copytree(set_dir(root, source_id), set_dir(root, new_id))
    manifest = read_manifest(root, new_id)
    manifest["backup_id"] = new_id
    return manifest


def replace_file(root, backup_id, manifest, path, data):
    with open(os.path.join(set_dir(root, backup_id), *path.split("/")), "wb") as handle:
        handle.write(data)
    for entry in manifest["files"]:
        if entry["path"] == path:
            entry.update(size=len(data), sha256=sha256(data))


# --- a set as the backup writes it -------------------------------------------

def test_a_set_is_signed_encrypted_private_and_names_its_stack(env):
    destination = os.path.join(env["root"], "own")
    result = backup(env, destination)
    assert result["status"] == "complete" and result["encrypted"] is True, result
    assert result["server_side_copy"] is False and result["skipped_objects"] == 0
    assert result["stack"] == dict(namespace="mlops", id="mine")
    assert result["key_id"] == seal.SetKey(KEY).key_id
    location = result["location"]
    manifest = read_manifest(destination, result["backup_id"])
    assert manifest["signature"].startswith("hmac-sha256:") and manifest["format"] == sets.MANIFEST_FORMAT
    assert manifest["encryption"]["algorithm"] == seal.ALGORITHM
    plain = b"plain artifact text that must not show"
    for directory, _subdirectories, files in os.walk(location):
        assert os.stat(directory).st_mode & 0o777 == 0o700, directory
        for name in files:
            path = os.path.join(directory, name)
            assert os.stat(path).st_mode & 0o777 == 0o600, path
            if name != sets.MANIFEST:
                with open(path, "rb") as handle:
                    data = handle.read()
                assert data.startswith(seal.MAGIC) and plain not in data and b"PGDMP" not in data, path
    verified = info(env, destination, backup_id="latest", verify=True)
    (described,) = verified["backups"]
    assert described["verified"] is True and described["signature"] == "valid" and described["encrypted"]
    assert KEY not in json.dumps(result) and KEY not in result["_stdout"]
    STATE["own"] = (destination, result["backup_id"])
    STATE["before"] = everything(env)


def test_an_encrypted_set_restores_into_a_wiped_stack_from_a_directory_and_s3(env):
    import psycopg

    s3_result = backup(env, "s3://sets-backups/mine")
    assert s3_result["status"] == "complete" and s3_result["encrypted"], s3_result
    destination, backup_id = STATE["own"]
    with psycopg.connect(env["postgres"].uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE "%s" WITH (FORCE)' % DATABASE)
    client = env["minio"].client()
    for key in bucket_state(env):
        client.delete_object(Bucket=BUCKET, Key=key)
    result = restore(env, destination, backup_id=backup_id)
    assert result["changed"] and not result["failed"], result
    assert result["signed"] is True and result["stack"] == dict(namespace="mlops", id="mine")
    assert everything(env) == STATE["before"]
    # From S3 (the same endpoint): encrypted objects stream through, no server-side copy.
    again = restore(env, "s3://sets-backups/mine", force=True)
    assert again["changed"] and again["server_side_copy"] is False, again
    assert everything(env) == STATE["before"]


def test_keys_of_any_shape_round_trip_through_a_directory(env):
    client = env["minio"].client()
    for index, key in enumerate(TRICKY_KEYS):
        client.put_object(Bucket="sets-copy", Key=key, Body=("object %d" % index).encode())
    wanted = bucket_state(env, "sets-copy")
    assert len(wanted) == len(TRICKY_KEYS)
    destination = os.path.join(env["root"], "tricky")
    result = backup(env, destination, buckets=["sets-copy"])
    assert result["status"] == "complete" and result["object_count"] == len(TRICKY_KEYS), result
    for _directory, subdirectories, files in os.walk(result["location"]):
        for name in subdirectories + files:
            assert len(name.encode("utf-8")) <= 255, name
    for key in wanted:
        client.delete_object(Bucket="sets-copy", Key=key)
    restored = restore(env, destination, force=True)
    assert restored["changed"] and not restored["failed"], restored
    assert bucket_state(env, "sets-copy") == wanted
    assert everything(env) == STATE["before"]


def test_an_object_that_vanishes_during_the_backup_is_skipped(env, tmp_path):
    client = env["minio"].client()
    listing = objects.list_buckets(client, [BUCKET])
    # As MLflow's gc would: listed, then deleted before its copy.
    listing[0][1].append(dict(Key="runs/gone/model.bin", Size=7))
    store = stores.DirectoryStore(str(tmp_path))
    store.claim("20261126T061500Z")
    files, buckets, skipped = objects.backup_objects(
        client, [BUCKET], seal.SealedStore(store, seal.SetKey(KEY)), "20261126T061500Z", False, 4,
        objects.transfer_config(), listing=listing)
    assert skipped == [dict(bucket=BUCKET, key="runs/gone/model.bin")]
    assert len(files) == len(bucket_state(env)) == buckets[0]["objects"]


# --- sets planted by someone who can write the destination --------------------

def test_planted_sets_are_refused_by_name_and_change_nothing(env, tmp_path):
    root = os.path.join(env["root"], "planted")
    good = backup(env, root, encrypt=False)
    assert good["status"] == "complete", good
    good_id = good["backup_id"]
    victim = [e["path"] for e in read_manifest(root, good_id)["files"] if e["path"].startswith("objects/")][0]
    planted = {}

    # Altered and re-sealed the way 0.1.0 sealed (anyone can compute it).
    resealed = plant_copy(root, good_id, "20990101T000001Z")
    replace_file(root, "20990101T000001Z", resealed, victim, b"planted payload")
    write_manifest(root, "20990101T000001Z", reseal_unsigned(resealed))
    planted["20990101T000001Z"] = ("unsigned", "trust_unsigned=true")

    # Altered and signed with another key.
    foreign_key = plant_copy(root, good_id, "20990101T000002Z")
    replace_file(root, "20990101T000002Z", foreign_key, victim, b"planted payload")
    write_manifest(root, "20990101T000002Z", sign_with(OTHER_KEY, foreign_key))
    planted["20990101T000002Z"] = ("invalid", "signed with another key")

    # Altered, keeping the original signature.
    kept_signature = plant_copy(root, good_id, "20990101T000003Z")
    replace_file(root, "20990101T000003Z", kept_signature, victim, b"planted payload")
    write_manifest(root, "20990101T000003Z", kept_signature)
    planted["20990101T000003Z"] = ("invalid", "does not match its signature")

    # A hostile dump: restored, it would create a table (or run anything) in the stack's database.
    hostile_db = "sets_hostile_src"
    import psycopg
    with psycopg.connect(env["postgres"].uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "%s"' % hostile_db)
        conn.execute('CREATE DATABASE "%s"' % hostile_db)
    with psycopg.connect(env["postgres"].uri(hostile_db), autocommit=True) as conn:
        conn.execute("CREATE TABLE planted_marker (x int)")
        conn.execute("CREATE FUNCTION planted() RETURNS int LANGUAGE sql AS 'SELECT 1'")
    pg_dump = os.path.join(env["postgres"].bindir, "pg_dump")
    dump = subprocess.run([pg_dump, "-Fc", env["postgres"].uri(hostile_db)], check=True,
                          capture_output=True).stdout
    hostile = plant_copy(root, good_id, "20990101T000004Z")
    replace_file(root, "20990101T000004Z", hostile, hostile["database"]["file"], dump)
    write_manifest(root, "20990101T000004Z", reseal_unsigned(hostile))
    planted["20990101T000004Z"] = ("unsigned", "unsigned")
    hostile_signed = plant_copy(root, good_id, "20990101T000005Z")
    replace_file(root, "20990101T000005Z", hostile_signed, hostile_signed["database"]["file"], dump)
    write_manifest(root, "20990101T000005Z", sign_with(OTHER_KEY, hostile_signed))
    planted["20990101T000005Z"] = ("invalid", "signed with another key")

    # Future-dated copies: without the key; and one signed with it (a skewed clock of a key holder).
    future_forged = plant_copy(root, good_id, "20991231T235959Z")
    write_manifest(root, "20991231T235959Z", reseal_unsigned(future_forged))
    planted["20991231T235959Z"] = ("unsigned", "unsigned")
    future_signed = plant_copy(root, good_id, "20991230T000000Z")
    write_manifest(root, "20991230T000000Z", sign_with(KEY, future_signed))

    before = everything(env)
    listed = info(env, root)
    statuses = dict((b["id"], b["status"]) for b in listed["backups"])
    for backup_id, (status, _words) in planted.items():
        assert statuses[backup_id] == status, (backup_id, listed["backups"])
    assert statuses["20991230T000000Z"] == "future"
    assert listed["latest"] == good_id
    assert info(env, root, verify=True)["latest"] == good_id

    latest = restore(env, root, check=True, force=True)
    assert latest["backup_id"] == good_id, latest
    for backup_id, (_status, words) in sorted(planted.items()):
        result = restore(env, root, backup_id=backup_id, force=True)
        assert_refused(result, backup_id, words)
        assert everything(env) == before, backup_id
    assert "planted_marker" not in everything(env)["database"]["tables"]
    STATE["planted"] = (root, good_id, sorted(list(planted) + ["20991230T000000Z"]))


def test_retention_deletes_only_what_it_can_trust(env):
    root, good_id, planted = STATE["planted"]
    # An interrupted set, long past the grace.
    os.makedirs(os.path.join(root, "20200101T000000Z", "objects"))
    result = backup(env, root, keep_last=1, incomplete_grace="1h")
    assert result["status"] == "complete", result
    assert result["deleted"] == ["20200101T000000Z", good_id], result["deleted"]
    skipped = dict((s["id"], s["status"]) for s in result["retention_skipped"])
    assert sorted(skipped) == planted, skipped
    assert all(os.path.isdir(set_dir(root, backup_id)) for backup_id in planted)
    assert any("Retention left set" in w for w in result.get("warnings", [])), result


def test_an_unsigned_set_of_0_1_0_needs_trust_and_is_never_latest(env):
    root = os.path.join(env["root"], "old")
    good = backup(env, root, encrypt=False)
    old_id = "20250101T000000Z"
    write_manifest(root, old_id, reseal_unsigned(plant_copy(root, good["backup_id"], old_id)))
    shutil.rmtree(set_dir(root, good["backup_id"]))
    assert_refused(restore(env, root, backup_id=old_id, check=True, force=True), old_id, "trust_unsigned=true")
    assert_refused(restore(env, root, check=True, force=True, trust_unsigned=True), "no complete backup set")
    trusted = restore(env, root, backup_id=old_id, check=True, force=True, trust_unsigned=True)
    assert not trusted["failed"] and trusted["backup_id"] == old_id and trusted["signed"] is False, trusted
    without_key = dict(env["options"], source=root, backup_id=old_id, force=True, trust_unsigned=True)
    without_key.pop("buckets")
    without_key.pop("key")
    assert not run_module("restore", without_key, check=True)["failed"]


def test_another_stacks_sets_are_foreign(env):
    root = os.path.join(env["root"], "shared")
    theirs = backup(env, root, stack_id="theirs")
    mine = backup(env, root)
    assert theirs["status"] == mine["status"] == "complete"
    listed = info(env, root)
    assert dict((b["id"], b["status"]) for b in listed["backups"]) == {
        theirs["backup_id"]: "foreign", mine["backup_id"]: "complete"}
    assert listed["latest"] == mine["backup_id"]
    assert info(env, root, all_stacks=True)["complete_count"] == 2
    assert_refused(restore(env, root, backup_id=theirs["backup_id"], check=True, force=True),
                   "written by stack mlops/theirs", "all_stacks=true")
    across = restore(env, root, backup_id=theirs["backup_id"], check=True, force=True, all_stacks=True)
    assert not across["failed"] and across["stack"]["id"] == "theirs", across
    pruned = backup(env, root, keep_last=1)
    assert pruned["deleted"] == [mine["backup_id"]], pruned
    assert [s["id"] for s in pruned["retention_skipped"]] == [theirs["backup_id"]]
    # Another namespace is another stack too, whatever its id.
    assert info(env, root, namespace="prod", stack_id=None)["latest"] is None


def test_an_altered_encrypted_file_or_a_wrong_key_is_refused(env):
    destination, backup_id = STATE["own"]
    before = everything(env)
    root = os.path.join(env["root"], "tampered")
    os.makedirs(root)
    shutil.copytree(set_dir(destination, backup_id), set_dir(root, backup_id))
    manifest = read_manifest(root, backup_id)
    paths = [e["path"] for e in manifest["files"] if e["path"].startswith("objects/")]
    first = os.path.join(set_dir(root, backup_id), *paths[0].split("/"))
    second = os.path.join(set_dir(root, backup_id), *paths[1].split("/"))
    # Two encrypted files swapped: each one is intact, but not in its place.
    os.rename(first, first + ".tmp")
    os.rename(second, first)
    os.rename(first + ".tmp", second)
    assert_refused(restore(env, root, force=True), "verify backup set", "fails authentication")
    assert everything(env) == before
    os.rename(first, first + ".tmp")
    os.rename(second, first)
    os.rename(first + ".tmp", second)
    with open(first, "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 1]))
    assert_refused(restore(env, root, force=True), "fails authentication")
    assert everything(env) == before
    assert_refused(restore(env, destination, force=True, key=OTHER_KEY), "signed with another key")
    assert_refused(run_module("backup_info", dict(destination=destination, verify=True)), "verify needs key")
    assert everything(env) == before

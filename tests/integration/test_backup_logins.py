"""Backups with the MinIO logins the minio role hands out, against a real MinIO and PostgreSQL.

The policies are the role's own (roles/minio/vars/main.yml, rendered by
Ansible): the backups' user reads the artifacts and writes a set but cannot
delete one, so the backup module writes with apply_retention=false; the
retention user lists the sets, reads their manifests and deletes under the
prefix (module backup_retention), and reads no artifact, no set file and no
other bucket. A 1,000-byte non-ASCII artifact key, past what S3 allows once
percent-encoded in a set, round trips through S3 and directory sets.
"""

import json
import os
import subprocess
import sys

import boto3
import botocore.config
import pytest
from test_minio_user_policy import error_code as code

from services import REPO, owned_database, run_module

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

KEY = "logins-integration-key-" + "0123456789abcdef" * 2
DATABASE, OWNER = "logins_db", "logins_owner"
ARTIFACTS, SETS, OTHER = "bl-artifacts", "bl-backups", "bl-other"
PREFIX = "mlops"
# 1,000 bytes of UTF-8 in segments MinIO accepts (at most 255 bytes each).
LONG_KEY = "/".join(["ü" * 120] * 4) + "/" + "m" * 36
assert len(LONG_KEY.encode("utf-8")) == 1000


def role_logins(tmp_path):
    """The minio role's backup and retention logins for this test's buckets, as Ansible renders them."""
    out = os.path.join(str(tmp_path), "logins.json")
    playbook = os.path.join(str(tmp_path), "logins.yml")
    with open(playbook, "w") as handle:
        json.dump([{
            "hosts": "localhost", "gather_facts": False, "connection": "local",
            "vars": {"minio_backup_location": "s3://%s/%s" % (SETS, PREFIX), "minio_backup_buckets": [ARTIFACTS],
                     "minio_backup_secret_name": "mlops-backup-s3", "minio_backup_user_prefix": "backup",
                     "minio_backup_policy_name": "bl-backup",
                     "minio_backup_retention_secret_name": "mlops-backup-retention-s3",
                     "minio_backup_retention_user_prefix": "backup-retention",
                     "minio_backup_retention_policy_name": "bl-retention"},
            "tasks": [
                {"ansible.builtin.include_vars": {"file": os.path.join(REPO, "roles", "minio", "vars", "main.yml")}},
                {"ansible.builtin.copy": {"content": "{{ __minio_backup_logins | to_json }}", "dest": out}},
            ],
        }], handle)
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                    playbook, "-e", "ansible_python_interpreter=%s" % sys.executable],
                   cwd=REPO, env=dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg")),
                   capture_output=True, text=True, check=True)
    with open(out) as handle:
        return dict((login["description"], login) for login in json.load(handle))


def client_as(minio, pair):
    return boto3.client("s3", endpoint_url=minio.endpoint, aws_access_key_id=pair[0], aws_secret_access_key=pair[1],
                        region_name="us-east-1",
                        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def env(postgres, minio, tmp_path_factory):
    owned_database(postgres, DATABASE, OWNER, 20)
    root = minio.client()
    for bucket in (ARTIFACTS, SETS, OTHER):
        try:
            root.create_bucket(Bucket=bucket)
        except root.exceptions.BucketAlreadyOwnedByYou:
            pass
    root.put_object(Bucket=ARTIFACTS, Key="1/run/model.bin", Body=os.urandom(5000))
    root.put_object(Bucket=ARTIFACTS, Key=LONG_KEY, Body=b"an artifact with a long name")
    root.put_object(Bucket=OTHER, Key="x", Body=b"x")
    pairs = {}
    logins = role_logins(tmp_path_factory.mktemp("logins"))
    for description, user in (("the backups", "bl-backup-user"), ("retention", "bl-retention-user")):
        login = logins[description]
        policy = run_module("minio_policy", dict(minio.connection_args(), name=login["policy_name"],
                                                 policy=login["policy"]))
        assert not policy["failed"], policy
        made = run_module("minio_user", dict(minio.connection_args(), name=user, password=user + "-secret-0123",
                                             policies=[login["policy_name"]]))
        assert not made["failed"], made
        pairs[description] = (user, user + "-secret-0123")
    options = dict(postgres.connection_args(), database=DATABASE, buckets=[ARTIFACTS], key=KEY, stack_id="bl",
                   namespace="mlops", endpoint_url=minio.endpoint)
    yield dict(options=options, minio=minio, root=root, pairs=pairs,
               directory=str(tmp_path_factory.mktemp("bl-sets")))


def as_user(env, description):
    access_key, secret_key = env["pairs"][description]
    return dict(access_key=access_key, secret_key=secret_key)


def artifacts(env):
    root = env["root"]
    return dict((item["Key"], root.get_object(Bucket=ARTIFACTS, Key=item["Key"])["Body"].read())
                for item in root.list_objects_v2(Bucket=ARTIFACTS).get("Contents", []))


def set_ids(env):
    answer = env["root"].list_objects_v2(Bucket=SETS, Prefix=PREFIX + "/", Delimiter="/")
    return sorted(p["Prefix"].split("/")[1] for p in answer.get("CommonPrefixes", []))


def test_the_backups_user_writes_sets_and_cannot_delete_them(env):
    destination = "s3://%s/%s" % (SETS, PREFIX)
    args = dict(env["options"], destination=destination, keep_last=1, apply_retention=False,
                **as_user(env, "the backups"))
    first = run_module("backup", args)
    assert first["status"] == "complete" and first["object_count"] == 2 and first["deleted"] == [], first
    second = run_module("backup", args)
    assert second["status"] == "complete" and second["deleted"] == [], second
    assert set_ids(env) == sorted([first["backup_id"], second["backup_id"]])
    # Retention in the same call needs a delete the backups' user may not make.
    pruning = run_module("backup", dict(args, apply_retention=True))
    assert pruning["failed"] and "AccessDenied" in pruning["msg"], pruning
    backups = client_as(env["minio"], env["pairs"]["the backups"])
    assert code(backups.delete_object, Bucket=SETS, Key="%s/%s/manifest.json" % (PREFIX, first["backup_id"])) \
        == "AccessDenied"
    assert code(backups.delete_bucket, Bucket=SETS) == "AccessDenied"
    assert code(backups.put_object, Bucket=OTHER, Key="y", Body=b"y") == "AccessDenied"


def test_retention_deletes_with_its_own_user_and_reads_nothing_else(env):
    destination = "s3://%s/%s" % (SETS, PREFIX)
    args = dict(destination=destination, key=KEY, stack_id="bl", namespace="mlops", keep_last=1,
                endpoint_url=env["minio"].endpoint, **as_user(env, "retention"))
    before = set_ids(env)
    planned = run_module("backup_retention", args, check=True)
    assert planned["changed"] and planned["deleted"] == before[:-1], planned
    assert set_ids(env) == before
    applied = run_module("backup_retention", args)
    assert applied["changed"] and applied["deleted"] == before[:-1], applied
    assert set_ids(env) == before[-1:]
    assert not run_module("backup_retention", args)["changed"]
    retention = client_as(env["minio"], env["pairs"]["retention"])
    newest = "%s/%s/" % (PREFIX, before[-1])
    files = [item["Key"] for item in env["root"].list_objects_v2(Bucket=SETS, Prefix=newest)["Contents"]]
    data_file = next(key for key in files if key.endswith(".dump"))
    assert code(retention.get_object, Bucket=SETS, Key=newest + "manifest.json") is None
    assert code(retention.get_object, Bucket=SETS, Key=data_file) == "AccessDenied"
    assert code(retention.get_object, Bucket=ARTIFACTS, Key="1/run/model.bin") == "AccessDenied"
    assert code(retention.list_objects_v2, Bucket=ARTIFACTS) == "AccessDenied"
    assert code(retention.list_objects_v2, Bucket=OTHER) == "AccessDenied"
    assert code(retention.put_object, Bucket=SETS, Key=newest + "planted", Body=b"x") == "AccessDenied"
    assert code(retention.delete_object, Bucket=OTHER, Key="x") == "AccessDenied"
    assert code(retention.delete_object, Bucket=SETS, Key="elsewhere/x") == "AccessDenied"
    assert code(retention.delete_object, Bucket=ARTIFACTS, Key="1/run/model.bin") == "AccessDenied"


@pytest.mark.parametrize("where", ["s3", "directory"])
def test_a_1000_byte_non_ascii_key_round_trips(env, where):
    destination = "s3://%s/%s" % (SETS, PREFIX) if where == "s3" else env["directory"]
    wanted = artifacts(env)
    assert LONG_KEY in wanted
    written = run_module("backup", dict(env["options"], destination=destination, apply_retention=False,
                                        **as_user(env, "the backups")))
    assert written["status"] == "complete" and written["object_count"] == len(wanted), written
    if where == "s3":
        keys = [item["Key"] for page in env["root"].get_paginator("list_objects_v2").paginate(
            Bucket=SETS, Prefix="%s/%s/" % (PREFIX, written["backup_id"])) for item in page.get("Contents", [])]
        assert keys and max(len(key.encode("utf-8")) for key in keys) <= 1024
    else:
        for _directory, subdirectories, names in os.walk(written["location"]):
            assert all(len(name.encode("utf-8")) <= 255 for name in subdirectories + names)
    for key in wanted:
        env["root"].delete_object(Bucket=ARTIFACTS, Key=key)
    restore = dict(env["options"], source=destination, backup_id=written["backup_id"], force=True,
                   **env["minio"].connection_args())
    restore.pop("buckets")
    restored = run_module("restore", restore)
    assert restored["changed"] and not restored["failed"], restored
    assert artifacts(env) == wanted


def test_the_long_key_is_kept_under_its_hash_and_named_in_the_signed_manifest(env):
    listing = run_module("backup_info", dict(destination=env["directory"], key=KEY, stack_id="bl", namespace="mlops"))
    assert listing["latest"], listing
    with open(os.path.join(env["directory"], listing["latest"], "manifest.json")) as handle:
        manifest = json.load(handle)
    # In a directory the key fits once encoded (6,000 bytes, in pieces of file-name size).
    assert not [entry for entry in manifest["files"] if "/~h/" in entry["path"]]
    written = run_module("backup", dict(env["options"], destination="s3://%s/%s" % (SETS, PREFIX),
                                        apply_retention=False, **as_user(env, "the backups")))
    described = run_module("backup_info", dict(
        destination="s3://%s/%s" % (SETS, PREFIX), backup_id=written["backup_id"], key=KEY, stack_id="bl",
        namespace="mlops", verify=True, **env["minio"].connection_args()))
    assert described["backups"][0]["verified"] is True, described
    manifest = json.loads(env["root"].get_object(
        Bucket=SETS, Key="%s/%s/manifest.json" % (PREFIX, written["backup_id"]))["Body"].read())
    assert [entry["key"] for entry in manifest["files"] if "/~h/" in entry["path"]] == [LONG_KEY]

"""mlops.stack.minio_bucket against a real MinIO server."""

import json
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from services import run_module

TOOLS_PYTHON_STUB = "raise ImportError(\"No module named 'boto3'\")\n"


def connection(minio, **overrides):
    args = minio.connection_args()
    args.update(overrides)
    return args


def bucket_exists(client, name):
    try:
        client.head_bucket(Bucket=name)
        return True
    except botocore.exceptions.ClientError:
        return False


def bucket_tags(client, name):
    try:
        tag_set = client.get_bucket_tagging(Bucket=name)["TagSet"]
    except botocore.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "NoSuchTagSet"
        return {}
    return {tag["Key"]: tag["Value"] for tag in tag_set}


def anonymous_get(minio, path):
    """HTTP status of an unauthenticated GET."""
    try:
        with urllib.request.urlopen("%s/%s" % (minio.endpoint, path), timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def assert_one_line_failure(result, *words):
    assert result["failed"], result
    message = result["msg"]
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message
    assert "module_stderr" not in result, result.get("module_stderr")
    assert "Traceback" not in str(result.get("exception", ""))
    for word in words:
        assert word in message, message


def full_task(minio, name):
    return connection(
        minio, name=name, versioning="enabled",
        lifecycle=[dict(prefix="tmp/", expiration_days=7),
                   dict(id="old-versions", prefix="", noncurrent_expiration_days=30)],
        anonymous_access="download", tags=dict(team="ml", env="test"))


def test_check_mode_create_and_idempotency(minio):
    client = minio.client()
    name = "it-full"
    task = full_task(minio, name)

    planned = run_module("minio_bucket", task, check=True)
    assert not planned["failed"], planned["msg"] if "msg" in planned else planned
    assert planned["changed"] is True
    assert planned["changes"][0] == "create bucket"
    assert planned["bucket"]["versioning"] == "enabled"
    assert not bucket_exists(client, name), "check mode created the bucket"

    created = run_module("minio_bucket", task, diff=True)
    assert created["changed"] is True, created
    assert created["changes"] == [
        "create bucket", "set versioning to enabled", "add lifecycle rule expire-tmp/",
        "add lifecycle rule old-versions", "set anonymous access to download",
        "add tag env", "add tag team"]
    assert created["diff"]["before"] == {}
    assert created["diff"]["after"]["tags"] == {"team": "ml", "env": "test"}
    assert created["diff"]["after"] == created["bucket"]
    assert minio.secret_key not in created["_stdout"]

    # Read everything back with boto3, not through the module.
    assert client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    rules = {rule["ID"]: rule for rule in
             client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
    assert rules["expire-tmp/"]["Expiration"]["Days"] == 7
    assert rules["old-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert bucket_tags(client, name) == {"team": "ml", "env": "test"}
    policy = json.loads(client.get_bucket_policy(Bucket=name)["Policy"])
    granted = {(action, resource) for statement in policy["Statement"]
               for action in statement["Action"] for resource in statement["Resource"]}
    assert ("s3:GetObject", "arn:aws:s3:::%s/*" % name) in granted
    assert not any(action == "s3:PutObject" for action, _resource in granted)
    client.put_object(Bucket=name, Key="data/a.txt", Body=b"hello")
    assert anonymous_get(minio, "%s/data/a.txt" % name) == 200

    again = run_module("minio_bucket", task, diff=True)
    assert again["changed"] is False, again["changes"]
    assert again["changes"] == []
    assert again["diff"]["before"] == again["diff"]["after"]

    # A change in check mode is reported but not made.
    modified = dict(task, versioning="suspended", tags=dict(team="ai"))
    planned = run_module("minio_bucket", modified, check=True, diff=True)
    assert planned["changed"] is True
    assert "set versioning to suspended" in planned["changes"]
    assert planned["diff"]["after"]["tags"] == {"team": "ai"}
    assert client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert bucket_tags(client, name) == {"team": "ml", "env": "test"}


def test_merge_and_purge_semantics(minio):
    client = minio.client()
    name = "it-merge"
    assert run_module("minio_bucket", full_task(minio, name))["changed"]

    merged = run_module("minio_bucket", connection(
        minio, name=name, lifecycle=[dict(prefix="logs/", expiration_days=1)],
        purge_lifecycle=False, tags=dict(owner="bob"), purge_tags=False,
        anonymous_access="none"))
    assert merged["changed"] is True
    assert merged["changes"] == ["add lifecycle rule expire-logs/",
                                 "set anonymous access to none", "add tag owner"]
    ids = {rule["ID"] for rule in client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
    assert ids == {"expire-tmp/", "old-versions", "expire-logs/"}
    assert bucket_tags(client, name) == {"team": "ml", "env": "test", "owner": "bob"}
    with pytest.raises(botocore.exceptions.ClientError):
        client.get_bucket_policy(Bucket=name)
    client.put_object(Bucket=name, Key="x.txt", Body=b"x")
    assert anonymous_get(minio, "%s/x.txt" % name) == 403
    # Untouched settings stay as they were.
    assert client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"

    purge_task = connection(minio, name=name, lifecycle=[], tags={}, versioning="suspended",
                            anonymous_access="public")
    purged = run_module("minio_bucket", purge_task)
    assert purged["changed"] is True
    assert bucket_tags(client, name) == {}
    assert client.get_bucket_versioning(Bucket=name)["Status"] == "Suspended"
    with pytest.raises(botocore.exceptions.ClientError):
        client.get_bucket_lifecycle_configuration(Bucket=name)
    assert purged["bucket"]["tags"] == {} and purged["bucket"]["lifecycle"] == []
    assert purged["bucket"]["policy"] == "public"
    upload = urllib.request.Request("%s/%s/anon.txt" % (minio.endpoint, name),
                                    data=b"anon", method="PUT")
    with urllib.request.urlopen(upload, timeout=10) as answer:
        assert answer.status == 200
    assert client.get_object(Bucket=name, Key="anon.txt")["Body"].read() == b"anon"
    assert run_module("minio_bucket", purge_task)["changed"] is False


def test_non_empty_bucket_needs_force(minio):
    client = minio.client()
    name = "it-delete"
    assert run_module("minio_bucket", connection(minio, name=name, versioning="enabled"))["changed"]
    for body in (b"one", b"two"):
        client.put_object(Bucket=name, Key="model.bin", Body=body)
    client.delete_object(Bucket=name, Key="model.bin")  # leaves a delete marker

    refused = run_module("minio_bucket", connection(minio, name=name, state="absent"))
    assert_one_line_failure(refused, "Failed to delete bucket %s" % name, "force=true")
    assert bucket_exists(client, name)
    assert len(client.list_object_versions(Bucket=name)["Versions"]) == 2

    planned = run_module("minio_bucket", connection(minio, name=name, state="absent", force=True),
                         check=True, diff=True)
    assert planned["changed"] is True
    assert planned["changes"] == ["delete every object version", "delete bucket"]
    assert planned["diff"]["after"] == {} and planned["diff"]["before"]["name"] == name
    assert bucket_exists(client, name)

    deleted = run_module("minio_bucket", connection(minio, name=name, state="absent", force=True))
    assert deleted["changed"] is True
    assert not bucket_exists(client, name)

    again = run_module("minio_bucket", connection(minio, name=name, state="absent"))
    assert again["changed"] is False and again["bucket"] == {}


def test_object_lock_only_at_creation(minio):
    client = minio.client()
    locked = run_module("minio_bucket", connection(minio, name="it-locked", object_lock=True))
    assert locked["changes"] == ["create bucket with object lock"]
    config = client.get_object_lock_configuration(Bucket="it-locked")
    assert config["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    assert locked["bucket"]["versioning"] == "enabled"

    client.create_bucket(Bucket="it-unlocked")
    refused = run_module("minio_bucket", connection(
        minio, name="it-unlocked", object_lock=True, tags=dict(a="b")))
    assert_one_line_failure(refused, "Failed to update bucket it-unlocked", "object_lock")
    assert bucket_tags(client, "it-unlocked") == {}


def _fake_boto3(tmp_path):
    package = tmp_path / "boto3"
    package.mkdir()
    (package / "__init__.py").write_text(TOOLS_PYTHON_STUB)
    return {"PYTHONPATH": str(tmp_path)}


BAD_INPUTS = [
    ("invalid-name", dict(name="Bad_Bucket"), "Failed to validate name: 'Bad_Bucket'"),
    ("short-name", dict(name="ab"), "Failed to validate name: 'ab'"),
    ("zero-days", dict(lifecycle=[dict(prefix="a/", expiration_days=0)]),
     "Failed to validate lifecycle: rule 1 (prefix 'a/') has expiration_days 0"),
    ("negative-noncurrent", dict(lifecycle=[dict(prefix="", noncurrent_expiration_days=-1)]),
     "noncurrent_expiration_days -1"),
    ("no-days", dict(lifecycle=[dict(prefix="a/")]), "Failed to validate lifecycle"),
    ("days-not-int", dict(lifecycle=[dict(prefix="a/", expiration_days="ten")]),
     "expiration_days"),
    ("reserved-tag", dict(tags={"aws:owner": "x"}), "Failed to validate tags"),
    ("bad-access", dict(anonymous_access="private"), "anonymous_access"),
    ("lock-suspended", dict(object_lock=True, versioning="suspended"),
     "Failed to validate versioning"),
    ("wrong-secret", dict(secret_key="not-the-secret"),
     ("Failed to read bucket it-bad-wrong-secret: SignatureDoesNotMatch", "secret_key")),
    ("wrong-key", dict(access_key="nobody"),
     ("Failed to read bucket it-bad-wrong-key: InvalidAccessKeyId", "access_key")),
    ("unreachable", dict(endpoint_url="http://127.0.0.1:9"), "endpoint unreachable"),
    ("bad-endpoint", dict(endpoint_url="minio:9000"),
     "Failed to create S3 client: endpoint_url 'minio:9000'"),
    ("missing-boto3", dict(), "Failed to import the required Python library (boto3)"),
]


@pytest.mark.parametrize("case, args, words", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_fails_in_one_line_and_changes_nothing(minio, tmp_path, case, args, words):
    client = minio.client()
    before = sorted(b["Name"] for b in client.list_buckets()["Buckets"])
    task = connection(minio, name="it-bad-%s" % case, versioning="enabled")
    task.update(args)
    env = _fake_boto3(tmp_path) if case == "missing-boto3" else None
    result = run_module("minio_bucket", task, env=env)
    assert_one_line_failure(result, *(words if isinstance(words, tuple) else (words,)))
    assert result["changed"] is False
    assert minio.secret_key not in result["_stdout"]
    assert sorted(b["Name"] for b in client.list_buckets()["Buckets"]) == before

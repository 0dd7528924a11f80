"""mlops.stack.minio_policy and mlops.stack.minio_user against a real MinIO server."""

import boto3
import botocore.config
import botocore.exceptions
import pytest
from test_minio_bucket import assert_one_line_failure, connection

from services import run_module

BUCKET = "it-users"
OTHER_BUCKET = "it-users-other"
PASSWORD = "first-password-0123456789"


def policy_for(bucket):
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": ["arn:aws:s3:::%s" % bucket]},
            {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
             "Resource": ["arn:aws:s3:::%s/*" % bucket]},
        ],
    }


def client_as(minio, name, password):
    return boto3.session.Session().client(
        "s3", endpoint_url=minio.endpoint, aws_access_key_id=name, aws_secret_access_key=password,
        region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "path"}))


def error_code(call, **kwargs):
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    return None


@pytest.fixture(scope="module")
def buckets(minio):
    root = minio.client()
    for name in (BUCKET, OTHER_BUCKET):
        root.create_bucket(Bucket=name)
    return root


def test_policy_check_mode_idempotence_and_order_insensitive(minio):
    task = connection(minio, name="it-policy", policy=policy_for(BUCKET))
    planned = run_module("minio_policy", task, check=True)
    assert planned["changed"] and planned["changes"] == ["create policy"], planned
    again = run_module("minio_policy", task, check=True)
    assert again["changes"] == ["create policy"], "check mode created the policy"

    created = run_module("minio_policy", task, diff=True)
    assert created["changed"] and created["diff"]["before"] == {}, created
    # The same meaning in another order is no change.
    reordered = policy_for(BUCKET)
    reordered["Statement"].reverse()
    reordered["Statement"][0]["Action"].reverse()
    same = run_module("minio_policy", connection(minio, name="it-policy", policy=reordered))
    assert not same["changed"], same

    wider = policy_for(BUCKET)
    wider["Statement"][1]["Action"].append("s3:GetObjectTagging")
    updated = run_module("minio_policy", connection(minio, name="it-policy", policy=wider))
    assert updated["changes"] == ["update policy"], updated

    removed = run_module("minio_policy", connection(minio, name="it-policy", state="absent"))
    assert removed["changes"] == ["delete policy"], removed
    assert not run_module("minio_policy", connection(minio, name="it-policy", state="absent"))["changed"]


def test_user_is_allowed_only_what_its_policy_grants(minio, buckets):
    assert not run_module("minio_policy", connection(minio, name="it-only-bucket", policy=policy_for(BUCKET)))["failed"]
    task = connection(minio, name="it-user-a", password=PASSWORD, policies=["it-only-bucket"])

    planned = run_module("minio_user", task, check=True)
    assert planned["changes"] == ["create user", "attach policy it-only-bucket"], planned
    assert error_code(client_as(minio, "it-user-a", PASSWORD).list_buckets) == "InvalidAccessKeyId"

    created = run_module("minio_user", task, diff=True)
    assert created["changed"] and created["user"]["policies"] == ["it-only-bucket"], created
    assert PASSWORD not in created["_stdout"]
    second = run_module("minio_user", task)
    assert not second["changed"], second
    # The policy tells whom it is attached to (how the minio role finds MLflow's user again).
    attached = run_module("minio_policy", connection(minio, name="it-only-bucket", policy=policy_for(BUCKET)))
    assert "it-user-a" in attached["users"], attached

    user = client_as(minio, "it-user-a", PASSWORD)
    user.put_object(Bucket=BUCKET, Key="a.txt", Body=b"a")
    assert user.get_object(Bucket=BUCKET, Key="a.txt")["Body"].read() == b"a"
    user.delete_object(Bucket=BUCKET, Key="a.txt")
    assert error_code(user.put_object, Bucket=OTHER_BUCKET, Key="a.txt", Body=b"a") == "AccessDenied"
    assert error_code(user.list_objects_v2, Bucket=OTHER_BUCKET) == "AccessDenied"
    assert error_code(user.create_bucket, Bucket="it-users-new") == "AccessDenied"
    assert error_code(user.delete_bucket, Bucket=BUCKET) == "AccessDenied"


def test_user_password_is_set_only_when_it_differs(minio, buckets):
    base = connection(minio, name="it-user-b", password=PASSWORD, policies=["it-only-bucket"])
    run_module("minio_policy", connection(minio, name="it-only-bucket", policy=policy_for(BUCKET)))
    assert run_module("minio_user", base)["changed"]

    new_password = "second-password-987654321"
    on_create = run_module("minio_user", dict(base, password=new_password, update_password="on_create"))
    assert not on_create["changed"], on_create
    planned = run_module("minio_user", dict(base, password=new_password), check=True)
    assert planned["changes"] == ["set password"], planned
    assert error_code(client_as(minio, "it-user-b", PASSWORD).list_objects_v2, Bucket=BUCKET) is None

    changed = run_module("minio_user", dict(base, password=new_password))
    assert changed["changes"] == ["set password"], changed
    assert error_code(client_as(minio, "it-user-b", PASSWORD).list_objects_v2, Bucket=BUCKET) in (
        "InvalidAccessKeyId", "SignatureDoesNotMatch")
    assert error_code(client_as(minio, "it-user-b", new_password).list_objects_v2, Bucket=BUCKET) is None


def test_user_policies_purged_or_kept_and_user_removed(minio, buckets):
    run_module("minio_policy", connection(minio, name="it-only-bucket", policy=policy_for(BUCKET)))
    run_module("minio_policy", connection(minio, name="it-other-bucket", policy=policy_for(OTHER_BUCKET)))
    base = connection(minio, name="it-user-c", password=PASSWORD, policies=["it-only-bucket"])
    run_module("minio_user", base)

    kept = run_module("minio_user", dict(base, policies=["it-other-bucket"], purge_policies=False))
    assert kept["changes"] == ["attach policy it-other-bucket"], kept
    assert kept["user"]["policies"] == ["it-only-bucket", "it-other-bucket"]
    purged = run_module("minio_user", dict(base, policies=["it-other-bucket"]))
    assert purged["changes"] == ["detach policy it-only-bucket"], purged
    assert error_code(client_as(minio, "it-user-c", PASSWORD).list_objects_v2, Bucket=BUCKET) == "AccessDenied"

    planned = run_module("minio_user", connection(minio, name="it-user-c", state="absent"), check=True)
    assert planned["changes"] == ["delete user"]
    removed = run_module("minio_user", connection(minio, name="it-user-c", state="absent"))
    assert removed["changes"] == ["delete user"], removed
    assert error_code(client_as(minio, "it-user-c", PASSWORD).list_buckets) == "InvalidAccessKeyId"
    assert not run_module("minio_user", connection(minio, name="it-user-c", state="absent"))["changed"]


@pytest.mark.parametrize("module, args, words", [
    ("minio_user", dict(name="ab", password=PASSWORD), ["Failed to manage the MinIO user", "name"]),
    ("minio_user", dict(name="it-user-d", password="short"), ["password", "8 to 40"]),
    ("minio_user", dict(name="it-user-d"), ["password is required"]),
    ("minio_user", dict(name="it-user-d", password=PASSWORD, policies=["no-such-policy"]),
     ["policies", "do not exist: no-such-policy"]),
    ("minio_user", dict(name="it-user-d", password=PASSWORD, update_password="never"), ["update_password"]),
    ("minio_policy", dict(name="it-bad"), ["policy is required"]),
    ("minio_policy", dict(name="it-bad", policy={"Statement": []}), ["policy must be an IAM policy"]),
    ("minio_policy", dict(name="it-bad", policy={"Statement": [{"Effect": "Maybe", "Action": "s3:*",
                                                                "Resource": "*"}]}),
     ["policy.Statement[0].Effect"]),
    ("minio_policy", dict(name="bad name", policy=policy_for(BUCKET)), ["name"]),
])
def test_bad_input_fails_in_one_line_naming_the_parameter(minio, module, args, words):
    result = run_module(module, connection(minio, **args))
    assert_one_line_failure(result, *words)
    assert PASSWORD not in result["msg"]


def test_wrong_admin_login_and_unreachable_endpoint(minio):
    denied = run_module("minio_user", connection(minio, name="it-user-e", password=PASSWORD,
                                                 secret_key="not-the-root-password"))
    assert_one_line_failure(denied, "Failed to read user it-user-e", "check access_key and secret_key")
    unreachable = run_module("minio_policy", connection(minio, name="x1", state="absent",
                                                        endpoint_url="http://127.0.0.1:9"))
    assert_one_line_failure(unreachable, "Failed to read policy x1", "unreachable")

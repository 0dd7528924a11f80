"""Unit tests for the pure rules of MinIO users and policies."""

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import _minio_admin
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError, S3Error

DOCUMENT = {"Statement": [
    {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::b/*"},
    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": ["arn:aws:s3:::b"]},
]}


def test_policies_equal_in_meaning_normalize_equal():
    reordered = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::b", "Sid": ""},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::b/*"]},
    ]}
    assert _minio_admin.normalize_policy(DOCUMENT) == _minio_admin.normalize_policy(reordered)


@pytest.mark.parametrize("document, words", [
    ("text", "policy must be an IAM policy"),
    ({"Statement": []}, "policy must be an IAM policy"),
    ({"Statement": ["x"]}, "policy.Statement[0] must be a dictionary"),
    ({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}, "policy.Statement[0] needs Resource"),
    ({"Statement": [{"Effect": "allow", "Action": "s3:*", "Resource": "*"}]}, "Effect must be Allow or Deny"),
    ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}]},
     "unknown keys: Principal"),
])
def test_bad_policies_name_where(document, words):
    with pytest.raises(ParameterError) as raised:
        _minio_admin.normalize_policy(document)
    assert words in str(raised.value)


@pytest.mark.parametrize("name, password, words", [
    ("ab", "password1", "name"), ("a,bc", "password1", "name"), ("user", "short", "password"),
    ("user", "x" * 41, "password"),
])
def test_bad_users_name_the_parameter(name, password, words):
    with pytest.raises(ParameterError) as raised:
        _minio_admin.validate_user(name, password, "present")
    assert str(raised.value).startswith(words)


def params(**overrides):
    base = dict(name="u-1", password="p" * 10, state="present", policies=["a"], purge_policies=True)
    base.update(overrides)
    return base


def test_plan_user_creates_attaches_and_purges():
    assert _minio_admin.plan_user(None, params(), None) == ["create user", "attach policy a"]
    current = {"name": "u-1", "status": "disabled", "policies": ["b"]}
    changes = _minio_admin.plan_user(current, params(), False)
    assert changes == ["set password", "enable user", "attach policy a", "detach policy b"]
    assert _minio_admin.user_after(current, params(), changes)["policies"] == ["a"]
    kept = _minio_admin.plan_user(current, params(purge_policies=False), True)
    assert kept == ["enable user", "attach policy a"]
    assert _minio_admin.plan_user(current, params(policies=None), True) == ["enable user"]
    assert _minio_admin.plan_user(current, params(state="absent"), None) == ["delete user"]
    assert _minio_admin.plan_user(None, params(state="absent"), None) == []


def test_plan_policy():
    doc = _minio_admin.normalize_policy(DOCUMENT)
    assert _minio_admin.plan_policy(None, doc, "present") == ["create policy"]
    assert _minio_admin.plan_policy(doc, doc, "present") == []
    assert _minio_admin.plan_policy(doc, None, "absent") == ["delete policy"]


@pytest.mark.parametrize("validate_certs,ca_bundle,expected", [
    (True, None, {"cert_reqs": "CERT_REQUIRED"}),
    (True, "/etc/mlops/ca.crt", {"cert_reqs": "CERT_REQUIRED", "ca_certs": "/etc/mlops/ca.crt"}),
    (False, "/etc/mlops/ca.crt", {"cert_reqs": "CERT_NONE"}),
])
def test_admin_client_verifies_with_the_ca_bundle(validate_certs, ca_bundle, expected):
    admin = _minio_admin.admin_client(dict(endpoint_url="https://127.0.0.1:9", access_key="a", secret_key="b",
                                           validate_certs=validate_certs, ca_bundle=ca_bundle))
    pool = admin._http.connection_pool_kw
    assert {key: pool[key] for key in ("cert_reqs", "ca_certs") if key in pool} == expected


def test_admin_errors_say_which_ca_to_set():
    import urllib3

    cause = urllib3.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                        "self-signed certificate in certificate chain (_ssl.c:1006)")
    with pytest.raises(S3Error) as caught:
        with _minio_admin.admin_errors("read user u"):
            raise urllib3.exceptions.MaxRetryError(None, "/minio/admin/v3/user-info", reason=cause)
    assert caught.value.message == (
        "Failed to read user u: TLS handshake failed (certificate verify failed: self-signed certificate in "
        "certificate chain); set ca_bundle to the CA that signs the endpoint's certificate")


def test_admin_errors_keep_a_plain_text_answer():
    from minio.error import MinioAdminException

    with pytest.raises(S3Error) as caught:
        with _minio_admin.admin_errors("read user u"):
            raise MinioAdminException("400", "Client sent an HTTP request to an HTTPS server.\n")
    assert caught.value.message == "Failed to read user u: HTTP 400 Client sent an HTTP request to an HTTPS server."

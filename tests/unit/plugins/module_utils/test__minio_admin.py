"""Unit tests for the pure rules of MinIO users and policies."""

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import _minio_admin
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError

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

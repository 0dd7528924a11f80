"""Pure logic of minio_bucket: names, lifecycle and tag plans, policy meaning."""

import copy
import json

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import _bucket
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError


def params(**overrides):
    base = dict(
        name="data", state="present", versioning=None, object_lock=None,
        lifecycle=None, purge_lifecycle=True, anonymous_access=None,
        tags=None, purge_tags=True, force=False,
    )
    base.update(overrides)
    return base


def plan(current, **overrides):
    task = params(**overrides)
    return _bucket.plan_bucket(current, task, _bucket.validate_settings(task))


def existing(**overrides):
    bucket = _bucket.absent_bucket("data")
    bucket["exists"] = True
    bucket.update(overrides)
    return bucket


# Names.

@pytest.mark.parametrize("name", ["abc", "mlflow", "my.bucket-1", "a" * 63, "1bucket"])
def test_valid_names_pass(name):
    assert _bucket.validate_name(name) == name


@pytest.mark.parametrize("name, reason", [
    ("ab", "3 to 63 characters"),
    ("a" * 64, "3 to 63 characters"),
    ("MyBucket", "lowercase"),
    ("my_bucket", "lowercase"),
    ("-bucket", "begin and end"),
    ("bucket.", "begin and end"),
    ("my..bucket", "adjacent"),
    ("my.-bucket", "adjacent"),
    ("192.168.1.10", "IP address"),
    ("xn--bucket", "reserved"),
    ("bucket-s3alias", "reserved"),
])
def test_invalid_names_fail_with_one_line_naming_the_parameter(name, reason):
    with pytest.raises(ParameterError) as caught:
        _bucket.validate_name(name)
    message = caught.value.message
    assert message.startswith("Failed to validate name: %r" % name)
    assert reason in message
    assert "\n" not in message


# Lifecycle validation.

def test_lifecycle_rules_get_default_ids_and_canonical_form():
    rules = _bucket.validate_lifecycle([
        dict(prefix="tmp/", expiration_days=7, id=None, noncurrent_expiration_days=None),
        dict(prefix="", expiration_days=None, id=None, noncurrent_expiration_days=30),
    ])
    assert [rule["id"] for rule in rules] == ["expire-tmp/", "expire-all"]
    assert rules[1] == dict(id="expire-all", prefix="", expiration_days=None,
                            noncurrent_expiration_days=30, enabled=True, managed=True)


@pytest.mark.parametrize("rule, words", [
    (dict(prefix="a/", expiration_days=0), "expiration_days 0"),
    (dict(prefix="a/", expiration_days=-3), "expiration_days -3"),
    (dict(prefix="a/", noncurrent_expiration_days=0), "noncurrent_expiration_days 0"),
    (dict(prefix="a/"), "needs expiration_days"),
    (dict(prefix="a/", expiration_days=1, id="x" * 256), "longer than 255"),
])
def test_bad_lifecycle_rules_fail_before_anything_changes(rule, words):
    with pytest.raises(ParameterError) as caught:
        _bucket.validate_lifecycle([rule])
    assert caught.value.message.startswith("Failed to validate lifecycle: rule 1")
    assert words in caught.value.message


def test_duplicate_rule_ids_are_refused():
    with pytest.raises(ParameterError, match="repeats the id 'expire-a/'"):
        _bucket.validate_lifecycle([
            dict(prefix="a/", expiration_days=1), dict(prefix="a/", expiration_days=2),
        ])


def test_lifecycle_none_means_leave_alone():
    assert _bucket.validate_lifecycle(None) is None
    current = [_bucket.rule_from_s3(dict(ID="keep", Filter=dict(Prefix="x/"),
                                         Status="Enabled", Expiration=dict(Days=3)))]
    assert _bucket.plan_lifecycle(current, None, True) == (current, [])


# Lifecycle plans.

def s3_rule(rule_id, prefix, days=None, noncurrent=None, **extra):
    raw = dict(ID=rule_id, Filter=dict(Prefix=prefix), Status="Enabled")
    if days:
        raw["Expiration"] = dict(Days=days)
    if noncurrent:
        raw["NoncurrentVersionExpiration"] = dict(NoncurrentDays=noncurrent)
    raw.update(extra)
    return _bucket.rule_from_s3(raw)


def wanted(*rules):
    return _bucket.validate_lifecycle([dict(rule) for rule in rules])


def test_same_rules_plan_no_change():
    current = [s3_rule("expire-tmp/", "tmp/", days=7)]
    after, changes = _bucket.plan_lifecycle(
        current, wanted(dict(prefix="tmp/", expiration_days=7)), True)
    assert changes == []
    assert [_bucket.public_rule(r) for r in after] == [_bucket.public_rule(current[0])]


def test_changed_days_update_the_rule():
    current = [s3_rule("expire-tmp/", "tmp/", days=7)]
    after, changes = _bucket.plan_lifecycle(
        current, wanted(dict(prefix="tmp/", expiration_days=14)), True)
    assert changes == ["update lifecycle rule expire-tmp/"]
    assert after[0]["expiration_days"] == 14


def test_purge_removes_rules_not_in_the_task():
    current = [s3_rule("old", "old/", days=1), s3_rule("expire-tmp/", "tmp/", days=7)]
    after, changes = _bucket.plan_lifecycle(
        current, wanted(dict(prefix="tmp/", expiration_days=7)), True)
    assert changes == ["remove lifecycle rule old"]
    assert [rule["id"] for rule in after] == ["expire-tmp/"]


def test_without_purge_other_rules_are_kept_verbatim():
    foreign = s3_rule("archive", "arch/", Transitions=[dict(Days=30, StorageClass="COLD")])
    assert foreign["managed"] is False
    after, changes = _bucket.plan_lifecycle(
        [foreign], wanted(dict(prefix="tmp/", expiration_days=7)), False)
    assert changes == ["add lifecycle rule expire-tmp/"]
    assert _bucket.rule_to_s3(after[0]) is foreign["raw"]
    assert _bucket.rule_to_s3(after[1]) == dict(
        ID="expire-tmp/", Filter=dict(Prefix="tmp/"), Status="Enabled",
        Expiration=dict(Days=7))


def test_empty_list_with_purge_removes_every_rule():
    after, changes = _bucket.plan_lifecycle([s3_rule("a", "a/", days=1)], [], True)
    assert after == [] and changes == ["remove lifecycle rule a"]


def test_rule_not_managed_is_replaced_when_the_task_names_its_id():
    current = [s3_rule("expire-tmp/", "tmp/", days=7,
                       AbortIncompleteMultipartUpload=dict(DaysAfterInitiation=1))]
    _rules, changes = _bucket.plan_lifecycle(
        current, wanted(dict(prefix="tmp/", expiration_days=7)), True)
    assert changes == ["update lifecycle rule expire-tmp/"]


def test_disabled_rule_counts_as_a_difference():
    rule = s3_rule("expire-tmp/", "tmp/", days=7)
    rule["raw"]["Status"] = "Disabled"
    rule = _bucket.rule_from_s3(rule["raw"])
    _rules, changes = _bucket.plan_lifecycle(
        [rule], wanted(dict(prefix="tmp/", expiration_days=7)), True)
    assert changes == ["update lifecycle rule expire-tmp/"]


def test_legacy_top_level_prefix_is_read():
    rule = _bucket.rule_from_s3(dict(ID="x", Prefix="logs/", Status="Enabled",
                                     Expiration=dict(Days=2)))
    assert rule["prefix"] == "logs/" and rule["managed"] is True


# Policies.

@pytest.mark.parametrize("access", ["download", "upload", "public"])
def test_canned_policies_are_recognised(access):
    document = _bucket.canned_policy(access, "data")
    assert _bucket.anonymous_access_of(document, "data") == access
    assert _bucket.anonymous_access_of(json.dumps(document), "data") == access


def test_canned_policies_grant_what_mc_anonymous_grants():
    download = _bucket.policy_grants(_bucket.canned_policy("download", "data"))
    actions = sorted((grant[2], grant[3]) for grant in download)
    assert actions == [
        ("s3:getbucketlocation", "arn:aws:s3:::data"),
        ("s3:getobject", "arn:aws:s3:::data/*"),
        ("s3:listbucket", "arn:aws:s3:::data"),
    ]
    public = _bucket.policy_grants(_bucket.canned_policy("public", "data"))
    upload = _bucket.policy_grants(_bucket.canned_policy("upload", "data"))
    assert public == download | upload
    assert _bucket.canned_policy("none", "data") is None


def test_equivalent_policy_written_differently_compares_equal():
    # One statement per action, string principal and scalars, other order and case.
    document = {"Version": "2012-10-17", "Statement": [
        {"Sid": "b", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::data/*"},
        {"Sid": "a", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": ["s3:ListBucket", "S3:GetBucketLocation"],
         "Resource": "arn:aws:s3:::data"},
    ]}
    assert _bucket.anonymous_access_of(document, "data") == "download"


def test_policy_of_another_bucket_or_with_conditions_is_custom():
    assert _bucket.anonymous_access_of(_bucket.canned_policy("download", "other"), "data") == "custom"
    document = _bucket.canned_policy("download", "data")
    document["Statement"][1]["Condition"] = {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    assert _bucket.anonymous_access_of(document, "data") == "custom"
    assert _bucket.anonymous_access_of(None, "data") == "none"


# Tags.

def test_tags_purge_and_merge():
    current = {"team": "ml", "old": "x"}
    after, changes = _bucket.plan_tags(current, {"team": "ml", "env": "dev"}, True)
    assert after == {"team": "ml", "env": "dev"}
    assert changes == ["add tag env", "remove tag old"]
    after, changes = _bucket.plan_tags(current, {"team": "ai"}, False)
    assert after == {"team": "ai", "old": "x"}
    assert changes == ["update tag team"]
    assert _bucket.plan_tags(current, None, True) == (current, [])


@pytest.mark.parametrize("tags, words", [
    ({"k" * 129: "v"}, "1 to 128"),
    ({"": "v"}, "1 to 128"),
    ({"aws:owner": "v"}, "reserved prefix"),
    ({"k": "v" * 257}, "longer than 256"),
    (dict(("k%d" % i, "v") for i in range(51)), "at most 50"),
])
def test_bad_tags_fail(tags, words):
    with pytest.raises(ParameterError) as caught:
        _bucket.validate_tags(tags)
    assert caught.value.message.startswith("Failed to validate tags: ")
    assert words in caught.value.message


def test_tag_values_become_strings():
    assert _bucket.validate_tags({"n": 3, "b": True, "e": None}) == {"n": "3", "b": "True", "e": ""}


# Whole-bucket plans.

def test_new_bucket_plan_lists_every_step():
    after, changes = plan(
        _bucket.absent_bucket("data"), versioning="enabled",
        lifecycle=[dict(prefix="tmp/", expiration_days=1)],
        anonymous_access="download", tags={"a": "b"})
    assert changes == ["create bucket", "set versioning to enabled",
                       "add lifecycle rule expire-tmp/", "set anonymous access to download",
                       "add tag a"]
    view = _bucket.public_view(after)
    assert view["versioning"] == "enabled" and view["policy"] == "download"
    assert view["policy_document"] == _bucket.canned_policy("download", "data")
    assert "raw" not in view["lifecycle"][0] and "exists" not in view


def test_unchanged_bucket_plans_nothing_and_does_not_mutate_current():
    current = existing(versioning="enabled", tags={"a": "b"}, policy="download",
                       policy_document=_bucket.canned_policy("download", "data"))
    snapshot = copy.deepcopy(current)
    after, changes = plan(current, versioning="enabled", tags={"a": "b"},
                          anonymous_access="download")
    assert changes == []
    assert current == snapshot and after == current


def test_object_lock_sets_versioning_and_cannot_be_changed_later():
    after, changes = plan(_bucket.absent_bucket("data"), object_lock=True)
    assert changes == ["create bucket with object lock"]
    assert after["versioning"] == "enabled" and after["object_lock"] is True
    with pytest.raises(ParameterError) as caught:
        plan(existing(), object_lock=True)
    assert caught.value.message.startswith("Failed to update bucket data: object_lock can only")
    with pytest.raises(ParameterError):
        plan(existing(object_lock=True, versioning="enabled"), object_lock=False)
    # Leaving object_lock out accepts whatever the bucket has.
    assert plan(existing(object_lock=True, versioning="enabled"))[1] == []


def test_versioning_cannot_be_suspended_with_object_lock():
    with pytest.raises(ParameterError, match="^Failed to validate versioning: "):
        _bucket.validate_settings(params(object_lock=True, versioning="suspended"))
    with pytest.raises(ParameterError, match="^Failed to validate versioning: "):
        plan(existing(object_lock=True, versioning="enabled"), versioning="suspended")


def test_custom_policy_is_replaced_and_none_removes_it():
    current = existing(policy="custom", policy_document={"Statement": []})
    after, changes = plan(current, anonymous_access="none")
    assert changes == ["set anonymous access to none"]
    assert after["policy_document"] is None


def test_absent_bucket_view_is_empty():
    assert _bucket.public_view(_bucket.absent_bucket("data")) == {}

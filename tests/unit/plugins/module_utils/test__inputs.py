"""The input rules, each alone: what passes, what is refused and the line a refusal gives."""

import glob
import os

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils import _inputs as inputs

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))

GOOD = [
    ("namespace", "mlops"), ("namespace", "a-1"), ("release_name", "minio"), ("cronjob_name", "mlops-stack-backup"),
    ("resource_name", "mlflow-s3"), ("resource_name", "a.b-c"),
    ("quantity", "10Gi"), ("quantity", "500m"), ("quantity", "1"), ("quantity", "1.5"), ("quantity", "1e3"),
    ("resources", {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}),
    ("go_duration", "10m"), ("go_duration", "1h30m"), ("duration", "14d"), ("duration", "12h"),
    ("backup_id", "latest"), ("backup_id", ""), ("backup_id", "20261126T061500Z"), ("backup_id", "20261126T061500Z-2"),
    ("location", "s3://mlflow-backups/mlops"), ("location", "/srv/backups"),
    ("bucket", "mlflow"), ("buckets", ["mlflow", "models"]), ("url", "https://s3.example.com"),
    ("image_ref", "localhost/mlops-stack/ee:0.2.0"), ("image_ref", "registry.example.com:5000/ml/ee:1"),
    ("image_ref", "ee@sha256:" + "a" * 64),
    ("image", {"registry": "", "repository": "localhost/mlops-stack/mlflow", "tag": "3.17.2"}),
    ("image", {"registry": "registry.example.com/ml", "repository": "mlflow", "tag": "3.17.2"}),
    ("cron", "15 2 * * *"), ("cron", "*/5 0-6,22 * JAN-MAR mon-fri"), ("cron", "@daily"), ("cron", "0 0 ? * 7"),
    ("time_zone", "Etc/UTC"), ("time_zone", "Europe/Berlin"), ("boolean", "yes"), ("boolean", False),
    ("min:1", 1), ("max:64", 64), (["optional", "url"], ""),
]

BAD = [
    ("namespace", "My_NS", "must be a namespace name"),
    ("namespace", "a" * 64, "at most 63"),
    ("release_name", "r" * 54, "Helm release name"),
    ("cronjob_name", "c" * 53, "at most 52"),
    ("resource_name", "Secret!", "Kubernetes name"),
    ("quantity", "10GB", "Kubernetes quantity"),
    ("resources", {"requests": {"memory": "lots"}}, "requests.memory"),
    ("resources", {"request": {}}, "not request"),
    ("go_duration", "10 minutes", "duration such as 5m"),
    ("duration", "2 weeks", "followed by s, m, h, d or w"),
    ("backup_id", "yesterday", "must be latest or the id"),
    ("location", "backups", "not a relative path"),
    ("location", "s3://Bad_Bucket/x", "invalid bucket"),
    ("location", "ftp://host/x", "s3://bucket/prefix"),
    ("bucket", "ab", "bucket name"),
    ("buckets", [], "at least one"),
    ("buckets", ["mlflow", "mlflow"], "twice"),
    ("url", "s3.example.com", "http://"),
    ("image_ref", "localhost/mlops-stack/ee", "tag or a digest"),
    ("image_ref", "Registry/EE:1", "bad repository"),
    ("image_ref", "ee:bad tag", "bad tag"),
    ("image", {"registry": "", "repository": "MLflow", "tag": "1"}, "repository"),
    ("image", {"registry": "", "repository": "mlflow", "tag": ""}, "tag must be"),
    ("cron", "0 25 * * *", "hour field 25"),
    ("cron", "every day", "5 fields"),
    ("cron", "*/0 * * * *", "minute field"),
    ("cron", "0 0 * 13 *", "month field 13"),
    ("time_zone", "Mars/Olympus", "tz database"),
    ("boolean", "maybe", "true or false"),
    ("min:1", 0, "at least 1"),
    ("max:64", 65, "at most 64"),
]


@pytest.mark.parametrize("rules,value", GOOD, ids=[str(case[0]) for case in GOOD])
def test_good_values_pass(rules, value):
    assert inputs.problems_of(value, rules) is None


@pytest.mark.parametrize("rules,value,phrase", BAD, ids=["%s-%s" % (case[0], case[2]) for case in BAD])
def test_bad_values_are_refused_with_a_reason(rules, value, phrase):
    assert phrase in inputs.problems_of(value, rules)


def test_optional_values_still_follow_the_rule_when_given():
    assert "http://" in inputs.problems_of("example.com", ["optional", "url"])


def test_an_unknown_rule_is_a_programming_error():
    with pytest.raises(ValueError):
        inputs.rule("nonsense")


def test_a_refusal_is_one_line_naming_the_variable_and_the_value():
    line = inputs.line("mlops_backup_schedule", inputs.cron("0 25 * * *"), "0 25 * * *")
    assert line == "mlops_backup_schedule: must be a cron expression: hour field 25 is not within 0-23 (0 25 * * *)"
    assert "\n" not in line


def test_a_secret_is_never_shown():
    assert inputs.line("mlflow_backend_store_password", "must be a string", "hunter22", secret=True) == (
        "mlflow_backend_store_password: must be a string")


def test_values_are_shown_as_written():
    assert inputs.shown("") == "''"
    assert inputs.shown({"b": 1, "a": [1]}) == '{"a":[1],"b":1}'


def _specified():
    names = set()
    for path in glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml")):
        with open(path, encoding="utf-8") as handle:
            for spec in yaml.safe_load(handle)["argument_specs"].values():
                names |= set(spec.get("options") or {})
    return names


def test_every_ruled_variable_is_one_a_role_declares():
    # A rule for a renamed or removed variable would never be applied.
    assert sorted(set(inputs.VARIABLE_RULES) - _specified()) == []


def test_every_rule_named_exists():
    for rules in list(inputs.VARIABLE_RULES.values()) + list(inputs.STACK_RULES.values()):
        for name in [rules] if isinstance(rules, str) else rules:
            if name != "optional":
                assert callable(inputs.rule(name))


@pytest.mark.parametrize("stat,mode,ancestor,phrase", [
    ({"exists": False}, "read", None, "directory does not exist"),
    ({"exists": False}, "file", None, "file does not exist"),
    ({"exists": True, "isdir": True, "readable": True}, "file", None, "not a readable file"),
    ({"exists": True, "isdir": False}, "read", None, "it is not a directory"),
    ({"exists": True, "isdir": True, "readable": False, "executable": True}, "read", None, "not readable"),
    ({"exists": True, "isdir": True, "writeable": False, "executable": True}, "write", None, "not writable"),
    ({"exists": True, "isdir": True, "writeable": False, "executable": True}, "write", "/srv",
     "cannot be created: /srv"),
])
def test_path_problems(stat, mode, ancestor, phrase):
    assert phrase in inputs.path_problem(stat, mode, ancestor)


@pytest.mark.parametrize("stat,mode", [
    ({"exists": True, "isdir": False, "readable": True}, "file"),
    ({"exists": True, "isdir": True, "readable": True, "executable": True}, "read"),
    ({"exists": True, "isdir": True, "writeable": True, "executable": True}, "write"),
])
def test_usable_paths_pass(stat, mode):
    assert inputs.path_problem(stat, mode) is None


def test_relations_name_the_missing_half_without_a_value():
    names = {"mlflow_backend_store_username", "mlflow_backend_store_password", "minio_access", "minio_endpoint_url"}
    lines = inputs.relation_problems({"mlflow_backend_store_password": "hunter22", "minio_access": "endpoint"}, names)
    assert lines == ["mlflow_backend_store_username: must be given together with mlflow_backend_store_password",
                     "minio_endpoint_url: must be set when minio_access is endpoint"]
    assert not [text for text in lines if "hunter22" in text]

"""The input rules of the TLS settings: hours, DNS names, and renew_before below the lifetime."""

import os
import re

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils import _inputs as inputs

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


@pytest.mark.parametrize("value", [1, "1", 2160, "87600", " 720 "])
def test_hours_take_a_positive_whole_number(value):
    assert inputs.problems_of(value, "hours") is None


@pytest.mark.parametrize("value", [0, "0", -1, "-5", "ten", "1.5", 1.5, "", None, True, "90d"])
def test_hours_refuse_anything_else(value):
    assert inputs.problems_of(value, "hours") == "must be a whole number of hours, at least 1"


@pytest.mark.parametrize("value", [[], ["s3.example.com"], ["*.example.com", "minio"], ["a-1.b"]])
def test_dns_names_take_lowercase_names(value):
    assert inputs.problems_of(value, "dns_names") is None


@pytest.mark.parametrize("value,problem", [
    ("s3.example.com", "must be a list of DNS names such as mlflow.example.com"),
    (["S3.example.com"], "holds S3.example.com, not a DNS name"),
    (["s3.example.com", "bad_name"], "holds bad_name, not a DNS name"),
    (["a.*.example.com"], "holds a.*.example.com, not a DNS name"),
    (["127.0.0.1:9000"], "holds 127.0.0.1:9000, not a DNS name"),
    (["a" * 254], "not a DNS name"),
])
def test_dns_names_refuse_what_a_certificate_cannot_name(value, problem):
    assert problem in inputs.problems_of(value, "dns_names")


@pytest.mark.parametrize("name,rule", [
    ("mlops_tls", "boolean"),
    ("mlops_tls_certificate_hours", "hours"),
    ("mlops_tls_renew_before_hours", "hours"),
    ("mlops_tls_ca_hours", "hours"),
    ("mlops_tls_ca_secret_name", "resource_name"),
    ("mlops_tls_trust_configmap", "resource_name"),
])
def test_the_stack_wide_settings_are_checked_whenever_set(name, rule):
    assert inputs.STACK_RULES[name] == rule


@pytest.mark.parametrize("role", ["minio", "postgresql"])
def test_the_roles_certificate_settings_are_checked(role):
    assert inputs.VARIABLE_RULES[role + "_tls_secret_name"] == "resource_name"
    assert inputs.VARIABLE_RULES[role + "_tls_extra_dns_names"] == "dns_names"


@pytest.mark.parametrize("values,lines", [
    ({}, []),
    ({"mlops_tls_renew_before_hours": 719}, []),
    ({"mlops_tls_certificate_hours": "721"}, []),
    ({"mlops_tls_certificate_hours": 2, "mlops_tls_renew_before_hours": 1}, []),
    ({"mlops_tls_renew_before_hours": "3000"},
     ["mlops_tls_renew_before_hours: must be less than mlops_tls_certificate_hours, which is 2160 (3000)"]),
    ({"mlops_tls_certificate_hours": 720},
     ["mlops_tls_renew_before_hours: must be less than mlops_tls_certificate_hours, which is 720 (720)"]),
    ({"mlops_tls_certificate_hours": 10, "mlops_tls_renew_before_hours": 10},
     ["mlops_tls_renew_before_hours: must be less than mlops_tls_certificate_hours, which is 10 (10)"]),
    # A value that is not a number of hours is refused by its own rule, once.
    ({"mlops_tls_certificate_hours": "ten"}, []),
    ({"mlops_tls_certificate_hours": 0, "mlops_tls_renew_before_hours": 5}, []),
])
def test_renewal_starts_within_the_lifetime(values, lines):
    assert inputs.relation_problems(values, set()) == lines


def _role_default(role, key):
    with open(os.path.join(REPO, "roles", role, "vars", "main.yml"), encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)["__%s_component" % role]["tls"]
    return int(re.search(r"default\((\d+)\)", spec[key]).group(1))


@pytest.mark.parametrize("role", ["minio", "postgresql"])
def test_the_relation_knows_the_defaults_the_roles_use(role):
    (variable, default, bound, bound_default), = inputs.BELOW
    assert (variable, bound) == ("mlops_tls_renew_before_hours", "mlops_tls_certificate_hours")
    assert default == _role_default(role, "renew_before_hours")
    assert bound_default == _role_default(role, "certificate_hours")

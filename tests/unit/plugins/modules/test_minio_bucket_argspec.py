"""Argument validation of minio_bucket, and its docs matching its argspec."""

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mlops.stack.plugins.modules import minio_bucket


def validate(**params):
    return ArgumentSpecValidator(minio_bucket.argspec()).validate(params)


def test_minimal_task_gets_defaults_and_leaves_settings_alone():
    result = validate(name="data")
    assert result.error_messages == []
    values = result.validated_parameters
    assert values["state"] == "present"
    assert values["purge_tags"] is True and values["purge_lifecycle"] is True
    assert values["force"] is False
    for key in ("versioning", "object_lock", "lifecycle", "anonymous_access", "tags"):
        assert values[key] is None, key


def test_secret_key_is_never_logged():
    assert minio_bucket.argspec()["secret_key"]["no_log"] is True
    result = validate(name="data", secret_key="hunter2-secret")
    assert "hunter2-secret" in result._no_log_values


@pytest.mark.parametrize("params, words", [
    (dict(), "name"),
    (dict(name="data", state="gone"), "state"),
    (dict(name="data", versioning="on"), "versioning"),
    (dict(name="data", anonymous_access="private"), "anonymous_access"),
    (dict(name="data", lifecycle=[dict(expiration_days=1)]), "prefix"),
    (dict(name="data", lifecycle=[dict(prefix="a/", expiration_days="ten")]), "expiration_days"),
    (dict(name="data", lifecycle=[dict(prefix="a/", days=3)]), "days"),
    (dict(name="data", tags="team"), "tags"),
])
def test_bad_arguments_name_the_parameter(params, words):
    result = validate(**params)
    assert result.error_messages
    assert words in result.error_messages[0]


def test_lifecycle_days_are_converted_to_int():
    result = validate(name="data", lifecycle=[dict(prefix="a/", expiration_days="7")])
    assert result.validated_parameters["lifecycle"][0]["expiration_days"] == 7


def test_documented_options_match_the_argspec():
    documented = yaml.safe_load(minio_bucket.DOCUMENTATION)["options"]
    spec = minio_bucket.argspec()
    own = set(spec) - {"endpoint_url", "access_key", "secret_key", "region",
                       "validate_certs", "ca_bundle"}
    assert own == set(documented)
    for option in own:
        assert documented[option]["type"] == spec[option]["type"], option
        assert documented[option].get("default") == spec[option].get("default"), option
        assert documented[option].get("choices") == spec[option].get("choices"), option
    assert set(documented["lifecycle"]["suboptions"]) == set(spec["lifecycle"]["options"])

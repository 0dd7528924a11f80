"""The roles' defaults and their meta/argument_specs.yml say the same thing.

argument_specs is what users read (ansible-doc, AWX) and what validates their
input; a default that drifts from defaults/main.yml documents a stack that is
not the one installed.
"""

import os

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = ("minio", "postgresql", "mlflow", "backup")


def _load(role, *path):
    with open(os.path.join(REPO, "roles", role, *path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_specified_with_the_same_value(role):
    defaults = _load(role, "defaults", "main.yml")
    # A default may belong to another entry point than main (backup's restore and schedule).
    options = {name: spec for entry in _load(role, "meta", "argument_specs.yml")["argument_specs"].values()
               for name, spec in entry.get("options", {}).items()}
    missing = sorted(set(defaults) - set(options))
    assert not missing, "defaults without an argument spec: %s" % missing
    for name, value in defaults.items():
        spec_default = options[name].get("default")
        if spec_default is not None:
            assert _same(value, spec_default), name


def _same(value, spec_default):
    """Equal, where a templated value (computed at run time) matches anything."""
    if isinstance(value, str) and "{{" in value:
        return True
    if isinstance(value, dict) and isinstance(spec_default, dict):
        return value.keys() == spec_default.keys() and all(_same(value[k], spec_default[k]) for k in value)
    return value == spec_default


def test_mlflow_resources_default_to_the_seed_table():
    # The other roles leave resources to their chart (tested with the charts).
    assert _load("mlflow", "defaults", "main.yml")["mlflow_resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1000m", "memory": "1Gi"},
    }


def test_mlflow_background_jobs_are_off_by_default():
    assert _load("mlflow", "defaults", "main.yml")["mlflow_job_execution"] is False

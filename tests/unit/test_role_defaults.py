"""The roles' defaults and their meta/argument_specs.yml say the same thing.

argument_specs is what users read (ansible-doc, AWX) and what validates their
input; a default that drifts from defaults/main.yml documents a stack that is
not the one installed. The internal role mlops.stack.component is imported
without run-time validation, so its imports are checked against its specs here.
"""

import glob
import os
import re

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = sorted(os.path.basename(os.path.dirname(os.path.dirname(path)))
               for path in glob.glob(os.path.join(REPO, "roles", "*", "meta", "argument_specs.yml")))
COMPONENT = "mlops.stack.component"


def _load(role, *path):
    full = os.path.join(REPO, "roles", role, *path)
    if not os.path.exists(full):
        return {}
    with open(full, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _specs(role):
    return _load(role, "meta", "argument_specs.yml")["argument_specs"]


ENTRY_POINTS = [(role, entry_point) for role in ROLES for entry_point in _specs(role)]


def test_the_roles_are_found():
    assert {"minio", "postgresql", "mlflow", "component"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_specified(role):
    specified = set()
    for spec in _specs(role).values():
        specified |= set(spec.get("options") or {})
    missing = sorted(set(_load(role, "defaults", "main.yml")) - specified)
    assert not missing, "defaults without an argument spec: %s" % missing


# The backup role's defaults belong to its several entry points (restore,
# schedule, before_upgrade); the component roles' main takes every default.
@pytest.mark.parametrize("role", [role for role in ROLES if "main" in _specs(role) and role != "backup"])
def test_main_specifies_every_default(role):
    missing = sorted(set(_load(role, "defaults", "main.yml")) - set(_specs(role)["main"].get("options") or {}))
    assert not missing, "defaults without an argument spec in main: %s" % missing


@pytest.mark.parametrize("role,entry_point", ENTRY_POINTS)
def test_every_entry_point_states_the_defaults_values(role, entry_point):
    defaults = _load(role, "defaults", "main.yml")
    options = _specs(role)[entry_point].get("options") or {}
    for name, spec in options.items():
        if spec.get("default") is not None:
            assert name in defaults, "%s: a spec default but none in defaults/main.yml" % name
            assert _same(defaults[name], spec["default"]), name


def _same(value, spec_default):
    """Equal, where a templated value (computed at run time) matches anything."""
    if isinstance(value, str) and "{{" in value:
        return True
    if isinstance(value, dict) and isinstance(spec_default, dict):
        return value.keys() == spec_default.keys() and all(_same(value[k], spec_default[k]) for k in value)
    return value == spec_default


def _tasks(node):
    """Every task in a task list, blocks included."""
    for task in node or []:
        yield task
        for section in ("block", "rescue", "always"):
            yield from _tasks(task.get(section))


def _component_imports():
    for path in sorted(glob.glob(os.path.join(REPO, "roles", "*", "tasks", "*.yml"))):
        role = path.split(os.sep)[-3]
        with open(path, encoding="utf-8") as handle:
            for task in _tasks(yaml.safe_load(handle)):
                action = task.get("ansible.builtin.import_role") or task.get("ansible.builtin.include_role")
                if action and action["name"] == COMPONENT:
                    yield role, os.path.basename(path), action, task.get("vars", {})


IMPORTS = list(_component_imports())


def test_the_roles_use_the_component_role():
    assert {entry[0] for entry in IMPORTS} == {"minio", "postgresql", "mlflow"}


@pytest.mark.parametrize("role,path,action,variables", IMPORTS,
                         ids=["%s/%s:%s" % (i[0], i[1], i[2]["tasks_from"]) for i in IMPORTS])
def test_component_imports_pass_their_entry_points_options(role, path, action, variables):
    options = _specs("component")[action["tasks_from"]]["options"]
    assert set(variables) == set(options)
    # Validation at run time is left to this test (see the component role's specs).
    assert action.get("rolespec_validate") is False
    assert variables["component_spec"] == "{{ __%s_component }}" % role


@pytest.mark.parametrize("role", sorted({entry[0] for entry in IMPORTS}))
def test_each_role_declares_every_option_of_its_component(role):
    declared = _load(role, "vars", "main.yml")["__%s_component" % role]
    spec = _specs("component")["preflight"]["options"]["component_spec"]["options"]
    assert set(declared) == set(spec)
    assert declared["name"] == role


def _shape(role, path):
    """A task file with the role's name (in its spellings), comments and task
    names taken out: what it does, whichever component it serves."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    text = re.sub(r"(?m)^\s*#.*\n", "", text)
    text = re.sub(r"(?m)^(\s*-?\s*)name: .*$", r"\1name:", text)
    return re.sub(role, "ROLE", text, flags=re.I)


def test_no_two_role_task_files_are_the_same_but_for_the_component():
    shapes = {}
    for path in sorted(glob.glob(os.path.join(REPO, "roles", "*", "tasks", "*.yml"))):
        if os.path.islink(path):
            continue
        role = path.split(os.sep)[-3]
        shapes.setdefault(_shape(role, path), []).append(os.path.relpath(path, REPO))
    assert [paths for paths in shapes.values() if len(paths) > 1] == []


def test_mlflow_resources_default_to_the_seed_table():
    # The other roles leave resources to their chart (tested with the charts).
    assert _load("mlflow", "defaults", "main.yml")["mlflow_resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1000m", "memory": "1Gi"},
    }


def test_mlflow_background_jobs_are_off_by_default():
    assert _load("mlflow", "defaults", "main.yml")["mlflow_job_execution"] is False


# Registries anyone's cluster can pull from without an account of ours.
PUBLIC_REGISTRIES = {"docker.io", "ghcr.io", "quay.io", "cgr.dev"}
IMAGE_DEFAULTS = [("minio", "minio_image"), ("postgresql", "postgresql_image"), ("mlflow", "mlflow_image")]


def _chart_image(chart):
    with open(os.path.join(REPO, "charts", chart, "values.yaml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["image"]


@pytest.mark.parametrize("role,variable", IMAGE_DEFAULTS)
def test_default_images_are_public_pinned_and_the_charts_agree(role, variable):
    """A user's cluster pulls the default: fully qualified, a public registry,
    a pinned tag (never latest), and the chart's own default is the same image."""
    image = _load(role, "defaults", "main.yml")[variable]
    assert image["registry"] in PUBLIC_REGISTRIES, image
    assert re.fullmatch(r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)+", image["repository"]), image
    assert image["tag"] and image["tag"] != "latest" and not image["tag"].startswith("latest"), image
    chart = _chart_image(role)
    fields = ("registry", "repository", "tag")
    assert [chart[field] for field in fields] == [image[field] for field in fields]

"""The job templates and surveys of playbooks/awx_job_templates.yml, rendered as Ansible renders them.

The play's `vars:` are templated with ansible-core's Templar (no AWX, no
cluster), then every survey is checked against what AWX accepts (its
SURVEY_TYPE_MAPPING and default/choices rules) and every variable a survey, a
template's extra_vars or the backup schedule's extra_data sets against what the
target playbook documents: an option of a role entry point the playbook (or one
it imports) applies (roles/<role>/meta/argument_specs.yml), a variable named in
its header comment, or one in its row of README.md's playbook table. A survey
question whose variable nothing reads would be silently ignored by the job.
"""

import glob
import os
import re

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYBOOK = os.path.join(REPO, "playbooks", "awx_job_templates.yml")
COLLECTION = "mlops.stack."
VARIABLE = re.compile(r"\b(?:mlops|minio|postgresql|mlflow)_[a-z0-9_]*[a-z0-9]\b")

# AWX's accepted question types and the Python type of their defaults
# (awx/main/constants.py SURVEY_TYPE_MAPPING).
SURVEY_TYPES = {
    "text": str, "textarea": str, "password": str,
    "multiplechoice": str, "multiselect": str,
    "integer": int, "float": (float, int),
}
# The argument_specs types a survey answer of each type fits (AWX passes
# multiplechoice answers as strings; "true"/"false" become booleans through
# argument validation and `| bool`).
SPEC_TYPES = {
    "text": {"str", "path", "raw"}, "textarea": {"str", "raw"}, "password": {"str", "raw"},
    "integer": {"int", "raw"}, "float": {"float", "raw"},
}
TEMPLATES = ["install", "verify", "backup", "restore", "uninstall", "diagnose"]


def _play(extra_vars=None):
    """The play's tasks and its vars rendered with extra_vars on top (as -e would)."""
    loader = DataLoader()
    play = loader.load_from_file(PLAYBOOK, cache="none", trusted_as_template=True)[0]
    variables = dict(play["vars"])
    variables.update(extra_vars or {})
    templar = Templar(loader=loader, variables=variables)
    return play, templar


def _task(play, module):
    tasks = [task for task in play["tasks"] if module in task]
    assert len(tasks) == 1, "one %s task expected" % module
    return tasks[0]


def _templates(extra_vars=None):
    play, templar = _play(extra_vars)
    return {item["name"]: item for item in templar.template(play["vars"]["__awx_templates"])}


def _schedule(extra_vars=None):
    play, templar = _play(extra_vars)
    task = _task(play, "awx.awx.schedule")
    return templar.template(task["awx.awx.schedule"])


def _prefix():
    play, templar = _play()
    return templar.template(play["vars"]["__awx_prefix"])


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _walk(node):
    """Every dict in a loaded playbook, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _playbooks(playbook):
    """The playbook and those it imports (site.yml ends with verify.yml)."""
    found = [playbook]
    for node in _walk(_load(playbook)):
        imported = node.get("ansible.builtin.import_playbook")
        if imported:
            found += _playbooks(os.path.join(os.path.dirname(playbook), imported))
    return found


def _entry_points(playbook):
    """(role, entry point) of every role the playbook or one it imports applies."""
    found = set()
    for node in (node for path in _playbooks(playbook) for node in _walk(_load(path))):
        for key in ("ansible.builtin.include_role", "ansible.builtin.import_role"):
            if isinstance(node.get(key), dict):
                found.add((node[key]["name"], node[key].get("tasks_from", "main")))
        for role in node.get("roles") or []:
            found.add((role if isinstance(role, str) else role["role"], "main"))
    return found


def _header(playbook):
    lines = []
    with open(playbook, encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("#"):
                lines.append(line)
            elif line.strip() not in ("---", ""):
                break
    return "".join(lines)


def _readme_row(playbook):
    relative = os.path.relpath(playbook, REPO)
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        rows = [line for line in handle if line.startswith("| `%s` |" % relative)]
    assert len(rows) == 1, "README.md's playbook table has no row for %s" % relative
    return rows[0].rstrip().rstrip("|").rsplit("|", 1)[-1]


def _specs(playbook):
    """name -> argument spec, over every entry point the playbook applies."""
    options = {}
    for role, entry_point in sorted(_entry_points(playbook)):
        assert role.startswith(COLLECTION), role
        path = os.path.join(REPO, "roles", role[len(COLLECTION):], "meta", "argument_specs.yml")
        options.update(_load(path)["argument_specs"][entry_point].get("options") or {})
    return options


def _documented(playbook):
    playbook = os.path.join(REPO, playbook)
    names = set(_specs(playbook))
    for path in _playbooks(playbook):
        names |= set(VARIABLE.findall(_header(path)))
        names |= set(VARIABLE.findall(_readme_row(path)))
    return names


def _readers():
    """The text of every playbook and role task file, where survey variables are read."""
    text = []
    for path in glob.glob(os.path.join(REPO, "playbooks", "**", "*.yml"), recursive=True) + \
            glob.glob(os.path.join(REPO, "roles", "*", "*", "*.yml")):
        if os.path.abspath(path) != PLAYBOOK:
            with open(path, encoding="utf-8") as handle:
                text.append(handle.read())
    return "\n".join(text)


def test_every_template_is_rendered():
    assert sorted(_templates()) == sorted(TEMPLATES)


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_playbook_exists(name):
    path = _templates()[name]["playbook"]
    assert path.startswith("playbooks/") and os.path.isfile(os.path.join(REPO, path)), path


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_survey_has_the_shape_awx_accepts(name):
    template = _templates()[name]
    survey = template["survey"]
    assert template["description"] and isinstance(survey, list) and survey
    variables = [question["variable"] for question in survey]
    assert len(variables) == len(set(variables)), "a variable asked twice: %s" % variables
    for question in survey:
        where = "%s/%s" % (name, question.get("variable"))
        assert isinstance(question.get("question_name"), str) and question["question_name"], where
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", question["variable"]), where
        assert question.get("type") in SURVEY_TYPES, where
        assert isinstance(question.get("required"), bool), where
        default = question.get("default")
        if question["type"] == "integer" and default not in (None, ""):
            assert isinstance(default, int) and not isinstance(default, bool), where
            assert question.get("min", default) <= default <= question.get("max", default), where
        elif default is not None:
            assert isinstance(default, SURVEY_TYPES[question["type"]]), where
        if question["type"] in ("multiplechoice", "multiselect"):
            choices = question.get("choices")
            assert isinstance(choices, list) and choices, where
            assert all(isinstance(choice, str) and choice for choice in choices), where
            assert len(choices) == len(set(choices)), where
            chosen = default.split("\n") if question["type"] == "multiselect" and default else [default]
            assert set(chosen) <= set(choices), "%s: default %r is not a choice" % (where, default)
        if question["required"] and question["type"] != "password":
            assert default not in (None, ""), "%s: required without a default" % where


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_survey_variable_is_documented_by_the_playbook(name):
    template = _templates()[name]
    documented = _documented(template["playbook"])
    unknown = sorted({question["variable"] for question in template["survey"]} - documented)
    assert not unknown, "%s sets variables %s does not document" % (name, template["playbook"]) \
        + ": %s" % unknown


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_survey_types_fit_the_argument_specs(name):
    template = _templates()[name]
    specs = _specs(os.path.join(REPO, template["playbook"]))
    readers = _readers()
    for question in template["survey"]:
        variable, kind = question["variable"], question["type"]
        if kind == "multiplechoice" and set(question["choices"]) <= {"true", "false"}:
            # AWX passes the string "false": only `| bool` (or a bool spec) reads it right.
            read_as_bool = re.search(r"\b%s\s*(?:\|\s*default\([^)]*\)\s*)?\|\s*bool\b" % variable, readers)
            assert read_as_bool or specs.get(variable, {}).get("type") == "bool", \
                "%s is a true/false choice but never read with | bool" % variable
        elif variable in specs:
            assert specs[variable].get("type", "str") in SPEC_TYPES[kind], \
                "%s: survey type %s, argument spec type %s" % (variable, kind, specs[variable].get("type"))


def test_the_survey_defaults_follow_the_inventory():
    """Defaults are rendered from the variables the playbook runs with (one namespace everywhere)."""
    templates = _templates({"mlops_namespace": "ml-team"})
    for name in TEMPLATES:
        assert templates[name]["survey"][0] == {
            "question_name": "Namespace", "question_description": "Namespace of the stack",
            "variable": "mlops_namespace", "type": "text", "required": True, "default": "ml-team",
        }
    destination = {question["variable"]: question["default"] for question in templates["backup"]["survey"]}
    assert destination["mlops_backup_destination"] == "s3://mlflow-backups/ml-team"
    assert _schedule({"mlops_namespace": "ml-team"})["extra_data"]["mlops_namespace"] == "ml-team"


def test_the_job_template_task_passes_the_rendered_survey():
    play = _play()[0]
    params = _task(play, "awx.awx.job_template")["awx.awx.job_template"]
    assert params["playbook"] == "{{ item.playbook }}"
    assert params["survey_enabled"] is True
    assert params["survey_spec"]["spec"] == "{{ item.survey }}"
    assert params["survey_spec"]["name"] and params["survey_spec"]["description"]


@pytest.mark.parametrize("name", TEMPLATES)
def test_the_template_extra_vars_are_documented_by_the_playbook(name):
    """Extra variables a template sets itself (today none) go to the same playbook as its survey's."""
    play, templar = _play()
    template = _templates()[name]
    params = _task(play, "awx.awx.job_template")["awx.awx.job_template"]
    extra_vars = dict(template.get("extra_vars") or {})
    if "extra_vars" in params:
        extra_vars.update(templar.copy_with_new_env(available_variables=dict(
            templar.available_variables, item=template)).template(params["extra_vars"]) or {})
    unknown = sorted(set(extra_vars) - _documented(template["playbook"]))
    assert not unknown, "%s sets extra variables %s does not document: %s" % (name, template["playbook"], unknown)


def test_the_schedule_extra_data_is_documented_by_the_backup_playbook():
    schedule = _schedule()
    prefix = _prefix()
    assert schedule["unified_job_template"].startswith(prefix + " - ")
    target = _templates()[schedule["unified_job_template"][len(prefix + " - "):]]
    assert target["playbook"] == "playbooks/backup.yml"
    data = schedule["extra_data"]
    unknown = sorted(set(data) - _documented(target["playbook"]))
    assert not unknown, "the schedule sets variables backup.yml does not document: %s" % unknown
    specs = _specs(os.path.join(REPO, target["playbook"]))
    assert isinstance(data["mlops_backup_keep_last"], int) and specs["mlops_backup_keep_last"]["type"] == "int"
    assert data == {"mlops_namespace": "mlops", "mlops_backup_destination": "s3://mlflow-backups/mlops",
                    "mlops_backup_keep_last": 7}
    assert re.fullmatch(r"DTSTART:\d{8}T\d{6}Z RRULE:FREQ=\w+;INTERVAL=\d+", schedule["rrule"])

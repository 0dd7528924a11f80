"""backup.yml, restore.yml and backup_schedule.yml are thin plays over the role mlops.stack.backup.

Their variables are the role's options under the names users, inventories, AWX
surveys and the tests have always given them; the Lease lock that lets one
backup or restore run at a time is claimed and released in one place.
"""

import glob
import os
import re

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLE = os.path.join(REPO, "roles", "backup")
# Where the public names are used: the docs, the playbooks, the inventories and the e2e tests.
USERS = ("README.md", "docs/*.md", "playbooks/*.yml", "inventories/*/group_vars/*/*.yml", "tests/e2e/*.py")
PUBLIC_NAME = re.compile(r"\bmlops_(?:backup|restore)_[a-z0-9_]*[a-z0-9]\b")


def _load(*path):
    with open(os.path.join(*path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _options():
    specs = _load(ROLE, "meta", "argument_specs.yml")["argument_specs"]
    return {name for entry in specs.values() for name in entry["options"]}


def test_every_public_variable_is_a_role_option():
    used = {}
    for pattern in USERS:
        for path in glob.glob(os.path.join(REPO, pattern)):
            with open(path, encoding="utf-8") as handle:
                for name in PUBLIC_NAME.findall(handle.read()):
                    used.setdefault(name, os.path.relpath(path, REPO))
    assert "mlops_restore_confirm" in used and "mlops_backup_schedule" in used
    unknown = {name: path for name, path in used.items() if name not in _options()}
    assert not unknown, "used but not options of mlops.stack.backup: %s" % unknown


@pytest.mark.parametrize("playbook, entry_point", [
    ("backup.yml", None), ("restore.yml", "restore"), ("backup_schedule.yml", "schedule"),
])
def test_the_playbook_applies_the_role(playbook, entry_point):
    (play,) = _load(REPO, "playbooks", playbook)
    assert "vars" not in play
    (task,) = play["tasks"]
    applied = task["ansible.builtin.import_role"]
    assert applied["name"] == "mlops.stack.backup"
    assert applied.get("tasks_from") == entry_point


def test_the_lease_is_claimed_and_released_in_one_place():
    files = glob.glob(os.path.join(REPO, "playbooks", "**", "*.yml"), recursive=True)
    files += glob.glob(os.path.join(REPO, "roles", "*", "tasks", "*.yml"))
    touching = []
    for path in files:
        with open(path, encoding="utf-8") as handle:
            # The Lease as a resource, or through the collection's lease module.
            if re.search(r"^\s*(kind: Lease|mlops\.stack\.lease:)$", handle.read(), re.MULTILINE):
                touching.append(os.path.relpath(path, REPO))
    assert sorted(touching) == ["roles/backup/tasks/lock.yml", "roles/backup/tasks/unlock.yml"]


def test_site_brings_back_what_a_killed_restore_stopped_before_installing_mlflow():
    (play, *_rest) = _load(REPO, "playbooks", "site.yml")
    names = [task["name"] for task in play["tasks"]]
    resume = names.index("Bring back what a killed restore stopped")
    assert play["tasks"][resume]["ansible.builtin.include_role"] == {"name": "mlops.stack.backup",
                                                                     "tasks_from": "resume"}
    assert resume == names.index("Install MLflow") - 1

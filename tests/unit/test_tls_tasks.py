"""Private keys in roles/component/tasks/tls.yml stay out of logs and off the controller's disk.

Every task whose arguments name a private key hides its arguments and result
(no_log), and every module among them is piped to its interpreter
(ansible_pipelining), so Ansible writes no module file holding the key; the
key itself is made by an action plugin, in the controller's memory.
"""

import os
import re

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TASKS = os.path.join(REPO, "roles", "component", "tasks", "tls.yml")
# What names a key in a task's arguments: the key modules' results, the remembered
# keys and the object definitions the Secrets are written from.
KEY = re.compile(r"privatekey|__component_tls_key\b|__component_tls_ca\.key|__component_tls_objects")
# Run in the controller's memory, not as a module file.
ACTIONS = {"ansible.builtin.set_fact", "ansible.builtin.debug", "community.crypto.openssl_privatekey_pipe"}


def _tasks(node, inherited):
    for task in node or []:
        variables = dict(inherited, **(task.get("vars") or {}))
        if "block" in task:
            yield from _tasks(task["block"], variables)
        else:
            yield task, variables


TASK_LIST = list(_tasks(yaml.safe_load(open(TASKS, encoding="utf-8")), {}))
WITH_KEYS = [(task, variables) for task, variables in TASK_LIST
             if KEY.search(yaml.safe_dump({k: v for k, v in task.items() if k not in ("name", "register")}))]


def test_the_keys_are_found():
    names = [task["name"] for task, _variables in WITH_KEYS]
    assert "Generate the CA's private key" in names
    assert "Sign the server certificate with the CA when it is missing, due or out of date" in names
    assert "Write the CA, the server certificate and the trust ConfigMap where they differ" in names


@pytest.mark.parametrize("task,variables", WITH_KEYS, ids=[task["name"] for task, _variables in WITH_KEYS])
def test_a_task_with_a_key_hides_it_and_writes_no_module_file(task, variables):
    assert task.get("no_log") in (True, "{{ component_spec.no_log }}")
    module = next(key for key in task if "." in key)
    if module not in ACTIONS:
        assert variables.get("ansible_pipelining") is True

"""kubernetes.core.helm reads the AWX credential's K8S_AUTH_* variables only for options left out.

Given as null, kubeconfig and context keep their K8S_AUTH_KUBECONFIG and
K8S_AUTH_CONTEXT fallbacks from applying, and a null context next to the
credential's CA or certificate check fails the task ("parameters are mutually
exclusive: context|ca_cert"). So every helm task leaves them out when unset.
"""

import glob
import os

import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NESTED = ("block", "rescue", "always")


def _tasks(items):
    for item in items or []:
        if not isinstance(item, dict):
            continue
        yield item
        for key in NESTED + ("tasks", "pre_tasks", "post_tasks", "handlers"):
            yield from _tasks(item.get(key))


def _helm_tasks():
    files = glob.glob(os.path.join(REPO, "roles", "*", "tasks", "*.yml")) + glob.glob(
        os.path.join(REPO, "playbooks", "*.yml"))
    for path in files:
        with open(path, encoding="utf-8") as handle:
            for task in _tasks(yaml.safe_load(handle)):
                if "kubernetes.core.helm" in task:
                    yield os.path.relpath(path, REPO), task["kubernetes.core.helm"]


def test_helm_tasks_leave_out_an_unset_kubeconfig_and_context():
    found = list(_helm_tasks())
    assert {path for path, options in found} >= {"roles/component/tasks/install.yml", "playbooks/uninstall.yml"}
    for path, options in found:
        for option in ("kubeconfig", "context"):
            value = str(options.get(option, "{{ omit }}")).replace(" ", "")
            assert value.endswith("oromit}}"), "%s: helm option %s=%s is null when unset" % (path, option, value)

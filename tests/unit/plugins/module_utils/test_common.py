"""Unit tests for the module wrapper: option groups, libraries, one-line failures."""

import importlib
import os

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils import common
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError, S3Error

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
MODULES = ["backup", "restore", "backup_info", "minio_bucket", "minio_policy", "minio_user", "postgresql_bootstrap"]


def fragment_options(group):
    """The options the doc fragment named like the group documents."""
    name, _dot, variable = group.partition(".")
    module = importlib.import_module("ansible_collections.mlops.stack.plugins.doc_fragments.%s" % name)
    text = getattr(module.ModuleDocFragment, (variable or "documentation").upper())
    return yaml.safe_load(text)["options"]


def test_the_collection_version_is_galaxy_yml_s():
    # Bump common.COLLECTION_VERSION together with galaxy.yml's version.
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        assert common.COLLECTION_VERSION == yaml.safe_load(handle)["version"]


@pytest.mark.parametrize("group", sorted(common.OPTION_GROUPS))
def test_each_group_is_documented_by_its_doc_fragment(group):
    spec = common.OPTION_GROUPS[group][0]()
    documented = fragment_options(group)
    assert set(spec) == set(documented)
    for name, option in spec.items():
        assert option.get("type", "str") == documented[name].get("type", "str"), name
        assert option.get("default") == documented[name].get("default"), name


@pytest.mark.parametrize("name", MODULES)
def test_modules_extend_the_fragments_of_their_groups(name):
    module = importlib.import_module("ansible_collections.mlops.stack.plugins.modules.%s" % name)
    fragments = yaml.safe_load(module.DOCUMENTATION)["extends_documentation_fragment"]
    # mlops.stack.attributes documents behaviour (check and diff mode), no option group.
    option_fragments = [fragment for fragment in fragments if fragment != "mlops.stack.attributes"]
    assert option_fragments == ["mlops.stack.%s" % group for group in module.MODULE.groups]


def test_own_options_come_after_the_groups():
    spec = common.argument_spec(["s3_connection"], dict(region=dict(type="str", default="eu"), name=dict()))
    assert spec["region"] == dict(type="str", default="eu")
    assert "endpoint_url" in spec and "name" in spec


class Exit(Exception):
    pass


class FakeAnsibleModule:
    """Records what a real AnsibleModule would print and stops like it."""

    def __init__(self, argument_spec, **kwargs):
        self.argument_spec = argument_spec
        self.kwargs = kwargs
        self.params = dict(FakeAnsibleModule.params)
        self.check_mode = False
        self._diff = False
        self.no_log_values = set()

    def fail_json(self, **result):
        raise Exit(dict(result, failed=True))

    def exit_json(self, **result):
        raise Exit(result)

    def warn(self, message):
        pass


@pytest.fixture
def fake_ansible(monkeypatch):
    FakeAnsibleModule.params = {}
    monkeypatch.setattr(common, "AnsibleModule", FakeAnsibleModule)
    return FakeAnsibleModule


def outcome(function, action="do it", groups=(), params=None, fake=None):
    FakeAnsibleModule.params = params or {}
    with pytest.raises(Exit) as caught:
        common.ModuleDeclaration(function, action, dict(name=dict()), groups=groups).main()
    return caught.value.args[0]


def test_a_result_is_returned(fake_ansible):
    assert outcome(lambda module: dict(changed=True)) == dict(changed=True)


def test_an_expected_error_fails_in_one_line_as_the_action(fake_ansible):
    def fail(module):
        raise ParameterError("no good")
    result = outcome(fail, "back up the stack")
    assert result == dict(failed=True, msg="Failed to back up the stack: no good")


def test_an_error_naming_its_action_keeps_it(fake_ansible):
    def fail(module):
        raise S3Error("AccessDenied", action="read bucket b", code="AccessDenied")
    assert outcome(fail)["msg"] == "Failed to read bucket b: AccessDenied"


def test_a_bug_keeps_its_traceback(fake_ansible):
    def bug(module):
        raise KeyError("oops")
    result = outcome(bug)
    assert result["msg"] == "Unexpected error: 'oops'"
    assert "Traceback" in result["exception"]


@pytest.mark.parametrize("params, library", [
    (dict(), "psycopg"),
    (dict(pod="postgresql-0"), "kubernetes"),
])
def test_the_library_the_options_need_is_required(fake_ansible, monkeypatch, params, library):
    monkeypatch.setattr(common.postgres, "PSYCOPG_IMPORT_ERROR", ImportError("no psycopg"))
    monkeypatch.setattr(common.k8s, "KUBERNETES_IMPORT_ERROR", ImportError("no kubernetes"))
    result = outcome(lambda module: dict(), groups=("postgres_connection", "postgres_client"), params=params)
    assert result["failed"] and "(%s)" % library in result["msg"]
    assert result["exception"] == "no %s" % library


def test_every_module_supports_check_mode(fake_ansible):
    with pytest.raises(Exit):
        common.run_module(lambda module: dict(check_mode=module.check_mode), "do it", (), {})
    module = common.StackModule({}, supports_check_mode=True)
    assert module._module.kwargs == dict(supports_check_mode=True)


def test_hidden_values_join_no_log_values(fake_ansible):
    module = common.StackModule({})
    module.hide("s3cr3t", None, "")
    assert module._module.no_log_values == {"s3cr3t"}

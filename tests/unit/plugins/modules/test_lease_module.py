"""The lease and service_access modules: their documentation matches their options;
the lease module fails in one line."""

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.doc_fragments import k8s_auth
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError
from ansible_collections.mlops.stack.plugins.modules import backup, lease, restore, service_access


@pytest.mark.parametrize("module", [lease, service_access])
def test_docs_name_every_option(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    # kubeconfig and context come from the k8s_auth fragment, as in every module that calls the API.
    assert doc["extends_documentation_fragment"] == ["mlops.stack.k8s_auth"]
    fragment = yaml.safe_load(k8s_auth.ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(doc["options"]) | set(fragment) == set(module.argspec())
    assert doc["attributes"]["check_mode"]["support"] == "full"
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)


@pytest.mark.parametrize("module", [backup, restore])
def test_long_steps_take_the_lock_option(module):
    spec = module.argspec()["lock"]
    assert spec["type"] == "dict"
    assert all(option["required"] for option in spec["options"].values())
    assert "mlops.stack.lock" in yaml.safe_load(module.DOCUMENTATION)["extends_documentation_fragment"]


class Module:
    check_mode = False

    def __init__(self, **params):
        self.params = dict(dict((name, option.get("default")) for name, option in lease.argspec().items()), **params)

    def require(self, library, import_error):
        assert import_error is None


def test_a_duration_below_one_second_is_refused():
    with pytest.raises(ParameterError, match="^Invalid duration 0: it must be at least 1 second$"):
        lease.run_lease(Module(name="lock", holder="backup/a", duration=0))

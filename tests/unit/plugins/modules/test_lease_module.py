"""The lease module: its documentation matches its options, and it fails in one line."""

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError
from ansible_collections.mlops.stack.plugins.modules import backup, lease, restore


def test_docs_name_every_option():
    doc = yaml.safe_load(lease.DOCUMENTATION)
    assert set(doc["options"]) == set(lease.argspec())
    assert doc["attributes"]["check_mode"]["support"] == "full"
    yaml.safe_load(lease.EXAMPLES)
    yaml.safe_load(lease.RETURN)


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

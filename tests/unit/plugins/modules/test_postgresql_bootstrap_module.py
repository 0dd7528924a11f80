"""The documented options of postgresql_bootstrap match its argument spec."""

import yaml

from ansible_collections.mlops.stack.plugins.doc_fragments.postgres_connection import (
    ModuleDocFragment,
)
from ansible_collections.mlops.stack.plugins.modules import postgresql_bootstrap as module


def _documented():
    options = yaml.safe_load(module.DOCUMENTATION)["options"]
    options.update(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"])
    return options


def _compare(spec, documented, path):
    assert sorted(spec) == sorted(documented), path
    for name, option in spec.items():
        doc = documented[name]
        where = "%s%s" % (path, name)
        assert option.get("type", "str") == doc.get("type", "str"), where
        assert option.get("default") == doc.get("default"), where
        assert option.get("choices") == doc.get("choices"), where
        assert option.get("elements") == doc.get("elements"), where
        assert bool(option.get("required")) == bool(doc.get("required")), where
        if "options" in option:
            _compare(option["options"], doc["suboptions"], where + ".")


def test_argspec_matches_documentation():
    _compare(module.argspec(), _documented(), "")


def test_every_password_is_no_log():
    spec = module.argspec()
    assert spec["password"]["no_log"] is True
    assert spec["login_password"]["no_log"] is True
    assert spec["additional_roles"]["options"]["password"]["no_log"] is True


def test_examples_and_return_are_valid_yaml():
    assert len(yaml.safe_load(module.EXAMPLES)) == 3
    returned = yaml.safe_load(module.RETURN)
    assert set(returned) == {"queries", "roles", "databases", "diff"}
    assert all("password" not in str(sample) for sample in returned["roles"]["sample"].values())

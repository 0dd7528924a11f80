"""Argument specs of backup, restore, backup_info and backup_retention: secrets and documented options."""

import pytest
import yaml

from ansible_collections.mlops.stack.plugins.modules import backup, backup_info, backup_retention, restore


def is_secret(name):
    # "key" is the backup key, which signs and decrypts the sets.
    return name.endswith(("secret_key", "password")) or name == "key"


@pytest.mark.parametrize("module", [backup, restore, backup_info, backup_retention])
def test_every_secret_is_no_log(module):
    spec = module.argspec()
    secrets = [name for name in spec if is_secret(name)]
    assert secrets and "key" in secrets
    for name in secrets:
        assert spec[name].get("no_log") is True, name
    for name, option in spec.items():
        if not is_secret(name):
            assert not option.get("no_log"), name


@pytest.mark.parametrize("module,prefix", [(backup, "destination"), (restore, "source"), (backup_info, "destination"),
                                           (backup_retention, "destination")])
def test_location_options(module, prefix):
    spec = module.argspec()
    assert spec[prefix]["required"] is True
    for key in ("endpoint_url", "access_key", "secret_key", "region", "validate_certs", "ca_bundle"):
        assert "default" not in spec["%s_%s" % (prefix, key)]


@pytest.mark.parametrize("module", [backup, restore, backup_info, backup_retention])
def test_docs_parse_and_name_own_options(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["attributes"]["check_mode"]["support"] == "full"
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    assert set(doc["options"]) <= set(module.argspec())

"""Fixtures the e2e modules share."""
import json

import pytest

from e2e_support import SHARED, UPGRADED, kubectl


@pytest.fixture(scope="session")
def shared_stack():
    """One installed stack (site.yml without verify) for every module that needs
    only a working stack; purged at the end of the session."""
    with SHARED.installed():
        yield SHARED


@pytest.fixture(scope="session")
def upgraded_stack():
    """The namespace test_upgrade_e2e upgrades from the first release and
    test_migration_e2e goes on with (each also works alone); purged at the end
    of the session, whatever happened."""
    try:
        yield UPGRADED
    finally:
        if kubectl("get", "namespace", UPGRADED.namespace, check=False).returncode == 0:
            try:
                UPGRADED.playbook("uninstall.yml", "-e", "mlops_purge=true", label="uninstall.yml purge (end)")
            except AssertionError:
                kubectl("delete", "namespace", UPGRADED.namespace, "--ignore-not-found", "--wait=false", check=False)
                raise
            finally:
                print(f"\ntimings (s) in {UPGRADED.namespace}: {json.dumps(UPGRADED.timings)}")

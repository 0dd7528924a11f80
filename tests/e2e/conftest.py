"""Fixtures the e2e modules share."""
import pytest

from e2e_support import SHARED


@pytest.fixture(scope="session")
def shared_stack():
    """One installed stack (site.yml without verify) for every module that needs
    only a working stack; purged at the end of the session."""
    with SHARED.installed():
        yield SHARED

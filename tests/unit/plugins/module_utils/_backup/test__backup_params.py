"""Unit tests for the option checks backup, restore and backup_info share."""

import pytest

from ansible_collections.mlops.stack.plugins.module_utils._backup import params as checks
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError


@pytest.mark.parametrize("workers", [0, 65])
def test_workers_are_bounded(workers):
    with pytest.raises(ParameterError, match="Invalid workers %d: it must be between 1 and 64" % workers):
        checks.check_workers(dict(workers=workers))


@pytest.mark.parametrize("name", ["mlflow", "_x", "a-b$1", "d" * 63])
def test_database_names(name):
    checks.check_database_access(dict(database=name, workers=1))


@pytest.mark.parametrize("name", ["", "1db", "a b", "d" * 64, None])
def test_bad_database_names(name):
    with pytest.raises(ParameterError, match="Invalid database"):
        checks.check_database_access(dict(database=name, workers=1))


def test_restore_may_leave_the_database_to_the_set():
    checks.check_database_access(dict(database=None, workers=1), database_optional=True)


def test_pg_bindir_is_for_local_programs_only():
    with pytest.raises(ParameterError, match="cannot be used with pod"):
        checks.check_database_access(dict(database="mlflow", workers=1, pod="postgresql-0", pg_bindir="/usr/bin"))


def test_rates_and_durations():
    assert checks.rate(3 * 1024 * 1024, 2) == 1.5
    assert checks.rate(10, 0) is None
    assert checks.rounded(total=1.23456, objects=0.0004) == dict(total=1.235, objects=0.0)

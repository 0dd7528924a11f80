"""Retention as a step of its own (module backup_retention), after a backup that deleted nothing."""

import os

import pytest
from conftest import KEY_TEXT  # noqa: E402 - the unit tests' backup key
from test__backup_backup import backup_params, run

from ansible_collections.mlops.stack.plugins.module_utils import s3
from ansible_collections.mlops.stack.plugins.module_utils._backup import database, retention
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError


@pytest.fixture
def stack(fakes, monkeypatch):
    """What the backups before retention read: a bucket of one object and a database."""
    monkeypatch.setattr(s3, "s3_client", lambda connection, max_pool_connections=16: fakes.S3({"mlflow": {"a": b"a"}}))
    monkeypatch.setattr(database, "postgres_access", lambda params: fakes.Postgres())


def retention_params(destination, **extra):
    params = dict(destination=destination, keep_last=None, keep_within=None, incomplete_grace="1d",
                  key=KEY_TEXT, stack_id="unit-stack", namespace="mlops")
    params.update(dict((key, None) for key in s3.s3_argument_spec()))
    params.update(dict((key, None) for key in s3.location_argument_spec("destination") if key != "destination"))
    params.update(extra)
    return params


@pytest.mark.usefixtures("stack")
def test_a_backup_without_retention_deletes_nothing_and_the_step_after_it_does(fakes, tmp_path):
    first, _module = run(fakes, backup_params(str(tmp_path)))
    second, _module = run(fakes, backup_params(str(tmp_path), keep_last=1, apply_retention=False))
    assert second["deleted"] == [] and second["retention_skipped"] == []
    assert sorted(os.listdir(str(tmp_path))) == [first["backup_id"], second["backup_id"]]

    planned = retention.run_backup_retention(fakes.Module(retention_params(str(tmp_path), keep_last=1), True))
    assert planned == dict(changed=True, location=str(tmp_path), deleted=[first["backup_id"]], retention_skipped=[])
    assert len(os.listdir(str(tmp_path))) == 2

    applied = retention.run_backup_retention(fakes.Module(retention_params(str(tmp_path), keep_last=1)))
    assert applied["changed"] and applied["deleted"] == [first["backup_id"]]
    assert os.listdir(str(tmp_path)) == [second["backup_id"]]
    again = retention.run_backup_retention(fakes.Module(retention_params(str(tmp_path), keep_last=1)))
    assert again == dict(changed=False, location=str(tmp_path), deleted=[], retention_skipped=[])


@pytest.mark.usefixtures("stack")
def test_the_newest_complete_set_is_kept_even_past_every_limit(fakes, tmp_path):
    only, _module = run(fakes, backup_params(str(tmp_path), apply_retention=False))
    applied = retention.run_backup_retention(fakes.Module(retention_params(str(tmp_path), keep_within="1s",
                                                                           keep_last=1)))
    assert applied["deleted"] == [] and os.listdir(str(tmp_path)) == [only["backup_id"]]


def test_a_destination_not_there_yet_has_nothing_to_remove(fakes, tmp_path):
    result = retention.run_backup_retention(fakes.Module(retention_params(str(tmp_path / "none"), keep_last=1)))
    assert result == dict(changed=False, location=str(tmp_path / "none"), deleted=[], retention_skipped=[])


@pytest.mark.parametrize("extra, message", [
    (dict(keep_last=0), "Invalid keep_last 0"),
    (dict(incomplete_grace="soon"), "incomplete_grace"),
    (dict(key=None), "key is required"),
    (dict(destination="relative/dir"), "absolute path"),
])
def test_bad_options_are_refused_before_anything_is_read(fakes, tmp_path, extra, message):
    params = dict(retention_params(str(tmp_path)), **extra)
    with pytest.raises(ParameterError, match=message):
        retention.run_backup_retention(fakes.Module(params))

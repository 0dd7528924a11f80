"""Unit tests for backup_info: listing and verifying the sets of a location."""

import os

import pytest
from conftest import KEY_TEXT  # noqa: E402 - the unit tests' backup key

from ansible_collections.mlops.stack.plugins.module_utils import s3
from ansible_collections.mlops.stack.plugins.module_utils._backup import info, manifest, stores
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, ParameterError


def info_params(destination, **extra):
    params = dict((key, None) for key in s3.s3_argument_spec())
    params.update(dict((key, None) for key in s3.location_argument_spec("destination")))
    params.update(destination=destination, backup_id=None, verify=False, workers=2, key=KEY_TEXT, namespace="mlops")
    params.update(extra)
    return params


@pytest.fixture
def location(tmp_path, sample_manifest):
    """Two complete sets and an interrupted one."""
    store = stores.DirectoryStore(str(tmp_path))
    for backup_id in ("20261126T061500Z", "20261127T061500Z", "20261128T061500Z"):
        store.claim(backup_id)
        if backup_id != "20261128T061500Z":
            store.write_bytes(backup_id, manifest.MANIFEST, manifest.serialize_manifest(sample_manifest(backup_id)))
    return str(tmp_path)


def test_every_set_is_listed_with_its_status(fakes, location):
    result = info.run_backup_info(fakes.Module(info_params(location)))
    assert [(b["id"], b["status"]) for b in result["backups"]] == [
        ("20261126T061500Z", "complete"), ("20261127T061500Z", "complete"), ("20261128T061500Z", "incomplete")]
    assert result["latest"] == "20261127T061500Z" and result["complete_count"] == 2 and not result["changed"]


def test_latest_is_the_newest_complete_set(fakes, location):
    result = info.run_backup_info(fakes.Module(info_params(location, backup_id="latest")))
    assert [b["id"] for b in result["backups"]] == ["20261127T061500Z"]


def test_verify_reports_files_that_are_missing(fakes, location):
    result = info.run_backup_info(fakes.Module(info_params(location, backup_id="20261126T061500Z", verify=True)))
    (described,) = result["backups"]
    assert described["status"] == "damaged" and described["verified"] is False
    assert described["reason"].startswith("database/mlflow.dump: No such file or directory")


def test_an_unknown_set_is_named(fakes, location):
    with pytest.raises(BackupError) as caught:
        info.run_backup_info(fakes.Module(info_params(location, backup_id="20000101T000000Z")))
    assert caught.value.message == "Failed to describe backup set 20000101T000000Z: no such set at %s" % location


def test_a_location_not_made_yet_holds_no_sets(fakes, tmp_path):
    result = info.run_backup_info(fakes.Module(info_params(str(tmp_path / "later"))))
    assert result["backups"] == [] and result["latest"] is None
    assert not os.path.exists(str(tmp_path / "later"))


@pytest.mark.parametrize("extra, message", [
    (dict(workers=65), "Invalid workers 65"),
    (dict(backup_id="monday"), "Invalid backup id"),
    (dict(destination="s3://Bad_Bucket/x"), "not a valid bucket name"),
])
def test_bad_options(fakes, extra, message):
    params = info_params("/srv/backups")
    params.update(extra)
    with pytest.raises(ParameterError, match=message):
        info.run_backup_info(fakes.Module(params))

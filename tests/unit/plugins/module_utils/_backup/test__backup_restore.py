"""Unit tests for restore: validate, plan, run and report, against in-memory S3 and PostgreSQL."""

import os

import pytest
from conftest import KEY_TEXT  # noqa: E402 - the unit tests' backup key

from ansible_collections.mlops.stack.plugins.module_utils import s3
from ansible_collections.mlops.stack.plugins.module_utils._backup import backup, database, restore
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, ParameterError, StackError

OBJECTS = {"1/a/artifacts/model.pkl": b"model", "1/a/meta.yaml": b"meta: 1\n"}


def connection_params(prefix):
    params = dict((key, None) for key in s3.s3_argument_spec())
    params.update(dict((key, None) for key in s3.location_argument_spec(prefix) if key != prefix))
    params.update(endpoint_url="http://minio:9000", access_key="admin", secret_key="s3cr3t", pod=None,
                  pg_bindir=None, workers=2, multipart_threshold_mb=64, multipart_chunk_mb=16, key=KEY_TEXT,
                  stack_id="unit-stack", namespace="mlops", encrypt=False)
    return params


@pytest.fixture
def written(fakes, monkeypatch, tmp_path):
    """A directory holding one complete set of OBJECTS and a dump; returns (directory, backup id)."""
    monkeypatch.setattr(s3, "s3_client", lambda connection, max_pool_connections=16: fakes.S3({"mlflow": OBJECTS}))
    monkeypatch.setattr(database, "postgres_access", lambda params: fakes.Postgres())
    params = connection_params("destination")
    params.update(database="mlflow", buckets=["mlflow"], keep_last=None, keep_within=None, incomplete_grace="1d",
                  apply_retention=True,
                  validate_dump=True, destination=str(tmp_path))
    result = backup.run_backup(fakes.Module(params))
    return str(tmp_path), result["backup_id"]


@pytest.fixture
def targets(fakes, monkeypatch):
    """An empty stack to restore into: (target S3, database client)."""
    target, pg = fakes.S3(), fakes.Postgres(databases={})
    monkeypatch.setattr(s3, "s3_client", lambda connection, max_pool_connections=16: target)
    monkeypatch.setattr(database, "postgres_access", lambda params: pg)
    return target, pg


def run(fakes, location, check_mode=False, **extra):
    params = connection_params("source")
    params.update(source=location, backup_id="latest", database=None, bucket_map=None, force=False)
    params.update(extra)
    return restore.run_restore(fakes.Module(params, check_mode))


def test_check_mode_verifies_and_changes_nothing(fakes, written, targets):
    directory, backup_id = written
    target, pg = targets
    result = run(fakes, directory, check_mode=True)
    assert result["backup_id"] == backup_id and result["verified_files"] == 3
    assert result["database"] == "mlflow" and result["buckets"] == ["mlflow"] and result["replaced"] == []
    assert result["msg"] == "Backup set %s verified; would restore mlflow" % backup_id
    assert target.buckets == {} and pg.executed == []


def test_a_restore_into_an_empty_stack(fakes, written, targets):
    directory, backup_id = written
    target, pg = targets
    result = run(fakes, directory, bucket_map={"mlflow": "restored"})
    assert result["changed"] and result["deleted_objects"] == 0 and result["buckets"] == ["restored"]
    assert target.buckets == {"restored": OBJECTS}
    staging = "mlflow__restore_%s" % backup_id.lower()
    assert pg.restored == [(staging, b"PGDMP-dump", 10, 15, 2)]
    assert pg.executed[-1] == 'ALTER DATABASE "%s" RENAME TO "mlflow"' % staging
    assert set(result["durations"]) == {"verify", "database", "objects", "total"}


def test_occupied_targets_need_force(fakes, written, targets):
    directory, backup_id = written
    target, pg = targets
    pg.databases["mlflow"] = "mlflow"
    pg.tables = True
    target.buckets["mlflow"] = {"stray": b"x"}
    with pytest.raises(BackupError) as caught:
        run(fakes, directory)
    assert caught.value.message == ("Failed to restore backup set %s: database mlflow and bucket mlflow already "
                                    "hold(s) data; set force=true to replace it" % backup_id)
    result = run(fakes, directory, force=True)
    assert result["replaced"] == ["database mlflow", "bucket mlflow"] and result["deleted_objects"] == 1
    assert target.buckets["mlflow"] == OBJECTS
    assert any(statement.startswith('ALTER DATABASE "mlflow" RENAME TO "mlflow__previous_')
               for statement in pg.executed)


def test_bucket_map_must_name_buckets_of_the_set(fakes, written, targets):
    directory, backup_id = written
    with pytest.raises(ParameterError) as caught:
        run(fakes, directory, bucket_map={"other": "x"})
    assert caught.value.message == ("Failed to restore backup set %s: bucket_map names buckets the set does not "
                                    "hold: other" % backup_id)


def test_a_damaged_set_is_refused_before_any_change(fakes, written, targets):
    directory, backup_id = written
    target, pg = targets
    with open(os.path.join(directory, backup_id, "database", "mlflow.dump"), "r+b") as handle:
        handle.write(b"X")
    with pytest.raises(BackupError) as caught:
        run(fakes, directory)
    assert caught.value.message == ("Failed to verify backup set %s: 1 file(s) damaged, nothing was changed: "
                                    "database/mlflow.dump does not match its sha256" % backup_id)
    assert target.buckets == {} and pg.executed == []


def test_the_owner_role_must_exist(fakes, written, targets):
    directory, backup_id = written
    _target, pg = targets
    pg.roles = set()
    with pytest.raises(StackError, match="role mlflow, owner of the backed up database, does not exist"):
        run(fakes, directory)


@pytest.mark.parametrize("extra, message", [
    (dict(backup_id="yesterday"), "Invalid backup id 'yesterday'"),
    (dict(source="relative"), "Invalid source 'relative'"),
    (dict(database="bad name"), "Invalid database"),
])
def test_bad_options_fail_before_anything_is_read(fakes, extra, message):
    with pytest.raises(ParameterError, match=message):
        run(fakes, "/nonexistent", **extra)


def test_a_missing_location_or_set_is_named(fakes, written, targets, tmp_path):
    directory, _backup_id = written
    with pytest.raises(BackupError) as caught:
        run(fakes, str(tmp_path / "nowhere"))
    assert caught.value.message == "Failed to read backup set latest from %s: %s does not exist" % (
        tmp_path / "nowhere", tmp_path / "nowhere")
    with pytest.raises(BackupError, match="backup 20000101T000000Z does not exist at"):
        run(fakes, directory, backup_id="20000101T000000Z")


@pytest.fixture
def written_encrypted(fakes, monkeypatch, tmp_path):
    """As written, with encryption on (the default of the module)."""
    monkeypatch.setattr(s3, "s3_client", lambda connection, max_pool_connections=16: fakes.S3({"mlflow": OBJECTS}))
    monkeypatch.setattr(database, "postgres_access", lambda params: fakes.Postgres())
    params = connection_params("destination")
    params.update(database="mlflow", buckets=["mlflow"], keep_last=None, keep_within=None, incomplete_grace="1d",
                  apply_retention=True,
                  validate_dump=True, destination=str(tmp_path), encrypt=True)
    result = backup.run_backup(fakes.Module(params))
    assert result["encrypted"] is True
    return str(tmp_path), result["backup_id"]


def test_an_encrypted_set_restores_the_plaintext(fakes, written_encrypted, targets):
    directory, backup_id = written_encrypted
    target, pg = targets
    with open(os.path.join(directory, backup_id, "database", "mlflow.dump"), "rb") as handle:
        assert not handle.read().startswith(b"PGDMP")
    result = run(fakes, directory)
    assert result["changed"] and target.buckets == {"mlflow": OBJECTS}
    staging = "mlflow__restore_%s" % backup_id.lower()
    # Streamed and decrypted: no file handed to pg_restore, whose bytes are the dump's own.
    assert pg.restored[0][:3] == (staging, b"PGDMP-dump", 10)


def test_an_encrypted_set_needs_its_key(fakes, written_encrypted, targets):
    directory, backup_id = written_encrypted
    with pytest.raises(BackupError, match="signed with another key"):
        run(fakes, directory, key="another-stack-backup-key-0123456789", backup_id=backup_id)
    with pytest.raises(ParameterError, match="key is required"):
        run(fakes, directory, key=None)
    target, pg = targets
    assert target.buckets == {} and pg.executed == []


def test_a_failed_object_step_undoes_the_swap_and_says_so(fakes, written, targets, monkeypatch):
    directory, backup_id = written
    target, pg = targets
    pg.databases["mlflow"] = "mlflow"
    pg.tables = True

    def refuse(*args, **kwargs):
        raise StackError("AccessDenied Access Denied.", action="create bucket mlflow")

    monkeypatch.setattr(restore.objects, "create_bucket", refuse)
    monkeypatch.setattr(database.time, "sleep", lambda seconds: None)
    with pytest.raises(BackupError) as caught:
        run(fakes, directory, force=True)
    assert caught.value.message == (
        "Failed to create bucket mlflow: AccessDenied Access Denied.; the database swap was undone (mlflow is as it "
        "was before the restore); buckets mlflow may hold part of the set's objects: restore again once the cause "
        "is fixed")
    previous = "mlflow__previous_%s" % backup_id.lower()
    assert pg.executed[-2:] == ['ALTER DATABASE "%s" RENAME TO "mlflow"' % previous,
                                'ALTER DATABASE "mlflow" ALLOW_CONNECTIONS true']
    assert 'DROP DATABASE IF EXISTS "%s"' % previous not in pg.executed

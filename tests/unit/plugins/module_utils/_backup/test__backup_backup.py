"""Unit tests for backup: validate, plan, run and report, against in-memory S3 and PostgreSQL."""

import json
import os

import pytest
from conftest import KEY_TEXT  # noqa: E402 - the unit tests' backup key

from ansible_collections.mlops.stack.plugins.module_utils import s3
from ansible_collections.mlops.stack.plugins.module_utils._backup import backup, database
from ansible_collections.mlops.stack.plugins.module_utils.common import COLLECTION_VERSION
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError, PostgresError, StackError

OBJECTS = {"1/a/artifacts/model.pkl": b"model", "1/a/meta.yaml": b"meta: 1\n"}


def backup_params(destination, **extra):
    params = dict(database="mlflow", buckets=["mlflow"], keep_last=None, keep_within=None, incomplete_grace="1d",
                  apply_retention=True, workers=2, multipart_threshold_mb=64, multipart_chunk_mb=16, validate_dump=True,
                  destination=destination, pod=None, pg_bindir=None, key=KEY_TEXT, stack_id="unit-stack",
                  namespace="mlops", encrypt=False)
    params.update(dict((key, None) for key in s3.s3_argument_spec()))
    params.update(dict((key, None) for key in s3.location_argument_spec("destination") if key != "destination"))
    params.update(endpoint_url="http://minio:9000", access_key="admin", secret_key="s3cr3t")
    params.update(extra)
    return params


@pytest.fixture
def stack(fakes, monkeypatch):
    """The in-memory stack backup reads: a bucket of objects and a database."""
    source = fakes.S3({"mlflow": OBJECTS})
    pg = fakes.Postgres()
    monkeypatch.setattr(s3, "s3_client", lambda connection, max_pool_connections=16: source)
    monkeypatch.setattr(database, "postgres_access", lambda params: pg)
    return source, pg


def run(fakes, params, check_mode=False):
    module = fakes.Module(params, check_mode)
    return backup.run_backup(module), module


def test_check_mode_plans_and_writes_nothing(fakes, stack, tmp_path):
    destination = str(tmp_path / "sets")
    result, module = run(fakes, backup_params(destination), check_mode=True)
    assert result["changed"] and result["backup_id"] is None and result["deleted"] == []
    assert result["plan"] == dict(database="mlflow", database_size=8192, object_count=2, object_bytes=13,
                                  buckets=["mlflow"], server_side_copy=False)
    assert not os.path.exists(destination)


def test_a_complete_set_is_written_and_reported(fakes, stack, tmp_path):
    result, module = run(fakes, backup_params(str(tmp_path)))
    assert result["status"] == "complete" and result["object_count"] == 2 and result["object_bytes"] == 13
    assert result["database_bytes"] == len(b"PGDMP-dump") and result["total_bytes"] == 13 + 10
    assert result["versions"] == dict(collection=COLLECTION_VERSION, postgresql_server="15.10", pg_dump="15.10",
                                      mlflow_schema="1b5f0d9ad7c1")
    assert set(result["durations"]) == {"database", "objects", "total"}
    with open(os.path.join(result["location"], "manifest.json")) as handle:
        manifest = json.load(handle)
    assert manifest["database"] == dict(name="mlflow", owner="mlflow", encoding="UTF8", file="database/mlflow.dump",
                                        format="custom", pg_dump_major=15)
    assert sorted(f["key"] for f in manifest["files"] if "key" in f) == sorted(OBJECTS)
    # The destination's secret defaults to the module's: either way it is hidden.
    assert module.hidden == ["s3cr3t"]


def test_retention_removes_what_the_new_set_makes_superfluous(fakes, stack, tmp_path):
    first, _module = run(fakes, backup_params(str(tmp_path)))
    second, _module = run(fakes, backup_params(str(tmp_path), keep_last=1))
    assert second["deleted"] == [first["backup_id"]]
    assert os.listdir(str(tmp_path)) == [second["backup_id"]]


@pytest.mark.parametrize("extra, message", [
    (dict(keep_last=0), "Invalid keep_last 0"),
    (dict(keep_within="7 days"), "Invalid keep_within"),
    (dict(buckets=["mlflow", "mlflow"]), "buckets lists a bucket twice"),
    (dict(buckets=["Bad_Bucket"]), "Invalid bucket name 'Bad_Bucket'"),
    (dict(database="no good"), "Invalid database"),
    (dict(pod="postgresql-0", pg_bindir="/usr/bin"), "pg_bindir applies to local client programs"),
    (dict(workers=0), "Invalid workers 0"),
    (dict(destination="relative"), "absolute path"),
])
def test_bad_options_fail_before_anything_is_read(fakes, tmp_path, extra, message):
    params = backup_params(str(tmp_path))
    params.update(extra)
    with pytest.raises(ParameterError, match=message):
        run(fakes, params)


def test_a_missing_database_is_named(fakes, stack, tmp_path):
    with pytest.raises(PostgresError) as caught:
        run(fakes, backup_params(str(tmp_path), database="nope"))
    assert caught.value.message == "Failed to back up database nope: it does not exist"


def test_a_missing_bucket_is_named(fakes, stack, tmp_path):
    with pytest.raises(StackError) as caught:
        run(fakes, backup_params(str(tmp_path), buckets=["other"]))
    assert caught.value.message == "Failed to back up artifacts: artifact bucket other does not exist"


def test_a_failed_dump_leaves_no_set_behind(fakes, stack, tmp_path):
    _source, pg = stack

    def failing(dbname, sink):
        raise PostgresError("pg_dump of mlflow failed (rc=1): boom")

    pg.dump = failing
    with pytest.raises(PostgresError) as caught:
        run(fakes, backup_params(str(tmp_path)))
    assert caught.value.message.startswith("Failed to back up to %s/" % tmp_path)
    assert caught.value.message.endswith(": pg_dump of mlflow failed (rc=1): boom")
    assert os.listdir(str(tmp_path)) == []


def test_a_database_without_alembic_is_backed_up_with_a_warning(fakes, stack, tmp_path):
    _source, pg = stack
    answer = pg.query

    def query(sql, dbname=None):
        if "alembic_version" in sql:
            raise PostgresError('relation "alembic_version" does not exist')
        return answer(sql, dbname)

    pg.query = query
    result, module = run(fakes, backup_params(str(tmp_path)))
    assert result["versions"]["mlflow_schema"] is None
    assert module.warnings == ["Database mlflow has no alembic_version table: is it an MLflow database?"]


def test_claim_skips_taken_ids(tmp_path):
    from ansible_collections.mlops.stack.plugins.module_utils._backup.stores import DirectoryStore

    store = DirectoryStore(str(tmp_path))
    first = backup.claim(store)
    second = backup.claim(store)
    assert second.startswith(first) and second.endswith("-2")

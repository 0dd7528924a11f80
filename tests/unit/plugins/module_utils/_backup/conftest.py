"""A sample manifest and in-memory stand-ins for S3, PostgreSQL and the module."""

import copy
import datetime
import io
import types

import botocore.exceptions
import pytest

from ansible_collections.mlops.stack.plugins.module_utils._backup import backup as backup_run
from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup import seal

NOW = datetime.datetime(2026, 11, 26, 6, 15, 0, tzinfo=sets.UTC)
SHA = "0" * 64
# The backup key of the unit tests' sets, and the stack that writes them.
KEY_TEXT = "unit-test-backup-key-0123456789abcdef"
KEY = seal.SetKey(KEY_TEXT)
STACK = dict(namespace="mlops", id="unit-stack")


@pytest.fixture(autouse=True)
def botocore_reads(monkeypatch):
    """The stand-ins speak botocore: backups read objects through it, not through the minio reader."""
    monkeypatch.setattr(backup_run, "object_reader", lambda connection, pool_size: None)


@pytest.fixture
def sample_manifest():
    """Builds the manifest of a set of one dump and one object."""
    def build(backup_id="20261126T061500Z"):
        files = [
            dict(path="database/mlflow.dump", size=10, sha256=SHA),
            dict(path=sets.object_path("mlflow", "1/abc/artifacts/model.pkl"), size=5, sha256="1" * 64,
                 bucket="mlflow", key="1/abc/artifacts/model.pkl"),
        ]
        return sets.build_manifest(
            backup_id, NOW, NOW + datetime.timedelta(seconds=3),
            dict(collection="0.1.0", postgresql_server="15.10", pg_dump="15.10", mlflow_schema="abc"),
            dict(name="mlflow", file="database/mlflow.dump", format="custom", owner="mlflow"),
            [dict(name="mlflow", objects=1, bytes=5)], files, dict(database=1.0, objects=2.0, total=3.0),
            KEY, STACK)

    return build


class FakeModule:
    """What the backup package uses of StackModule."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.hidden = []
        self.warnings = []

    def hide(self, *values):
        self.hidden.extend(values)

    def warn(self, message):
        self.warnings.append(message)


class Body(io.BytesIO):
    """A streaming body as boto3 returns it."""


class FakeS3:
    """An S3 client holding buckets of objects in memory (the calls backup and restore make)."""

    def __init__(self, buckets=None):
        self.buckets = dict((name, dict(objects)) for name, objects in (buckets or {}).items())
        self.meta = types.SimpleNamespace(events=types.SimpleNamespace(register=lambda *a, **k: None))

    def _bucket(self, name):
        if name not in self.buckets:
            raise botocore.exceptions.ClientError({"Error": {"Code": "NoSuchBucket"}}, "Op")
        return self.buckets[name]

    def head_bucket(self, Bucket):
        self._bucket(Bucket)
        return {}

    def create_bucket(self, Bucket):
        if Bucket in self.buckets:
            raise botocore.exceptions.ClientError({"Error": {"Code": "BucketAlreadyOwnedByYou"}}, "CreateBucket")
        self.buckets[Bucket] = {}

    def list_objects_v2(self, Bucket, MaxKeys=1000):
        return dict(KeyCount=min(MaxKeys, len(self._bucket(Bucket))))

    def get_paginator(self, name):
        client = self

        class Paginator:
            def paginate(self, Bucket):
                objects = client._bucket(Bucket)
                yield dict(Contents=[dict(Key=k, Size=len(v)) for k, v in sorted(objects.items())])
        return Paginator()

    def get_object(self, Bucket, Key):
        return dict(Body=Body(self._bucket(Bucket)[Key]))

    def put_object(self, Bucket, Key, Body, ChecksumSHA256=None):
        self._bucket(Bucket)[Key] = Body.read()
        return dict(ChecksumSHA256=ChecksumSHA256)

    def upload_fileobj(self, reader, Bucket, Key, Config=None):
        self._bucket(Bucket)[Key] = reader.read()

    def delete_objects(self, Bucket, Delete):
        for item in Delete["Objects"]:
            self._bucket(Bucket).pop(item["Key"], None)
        return {}


class FakePostgres:
    """A database client that answers backup's and restore's queries and records what it runs."""

    where = "local"

    def __init__(self, databases=None, roles=("mlflow",), dump=b"PGDMP-dump", tables=False):
        self.databases = dict(databases if databases is not None else {"mlflow": "mlflow"})
        self.roles = set(roles)
        self.dump_bytes = dump
        self.tables = tables
        self.executed = []
        self.restored = []
        # (login, role) of every pg_restore.
        self.restored_as = []
        self.connection = dict(login_user="postgres")

    def server_version(self):
        return 15, "15.10"

    def check_client(self, name, minimum_major, why):
        return name, "15.10"

    def tool_version(self, name):
        return name, 15, "15.10"

    def query(self, sql, dbname=None):
        if "pg_database_size" in sql:
            name = sql.split("'")[1]
            return [(self.databases[name], "UTF8", "8192")] if name in self.databases else []
        if "alembic_version" in sql:
            return [("1b5f0d9ad7c1",)]
        if "FROM pg_catalog.pg_database" in sql:
            return [("1",)] if sql.split("'")[1] in self.databases else []
        if "pg_catalog.pg_class" in sql:
            return [("1",)] if self.tables else []
        if "pg_roles" in sql:
            return [("1",)] if sql.split("'")[1] in self.roles else []
        return []

    def execute(self, statements, dbname=None):
        self.executed.extend(statements)

    def dump(self, dbname, sink):
        return sink(io.BytesIO(self.dump_bytes))

    def validate(self, stream, minimum_major=None):
        assert stream.read().startswith(b"PGDMP")

    def login_as(self, user, password):
        restorer = copy.copy(self)
        restorer.connection = dict(login_user=user, login_password=password)
        return restorer

    def restore(self, dbname, stream, size, dump_major, dump_file=None, jobs=1, role=None):
        self.restored.append((dbname, stream.read(), size, dump_major, jobs))
        self.restored_as.append((self.connection["login_user"], role))


@pytest.fixture
def fakes():
    return types.SimpleNamespace(Module=FakeModule, S3=FakeS3, Postgres=FakePostgres)

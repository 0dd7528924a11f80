"""A complete manifest for the tests of the backup package."""

import datetime

import pytest

from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets

NOW = datetime.datetime(2026, 11, 26, 6, 15, 0, tzinfo=sets.UTC)
SHA = "0" * 64


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
            [dict(name="mlflow", objects=1, bytes=5)], files, dict(database=1.0, objects=2.0, total=3.0))

    return build

"""Session-wide real services for the integration tests."""

import shutil
import tempfile

import pytest

from services import MinioServer, MlflowServer, PostgresServer


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    # Not under pytest's private tmp: the server runs as the postgres user,
    # which must be able to reach its data directory.
    base = tempfile.mkdtemp(prefix="mlops-stack-pg-")
    server = PostgresServer(base).start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def minio(tmp_path_factory):
    server = MinioServer(str(tmp_path_factory.mktemp("minio"))).start()
    yield server
    server.stop()

"""Session-wide real services for the integration tests."""

import shutil
import tempfile

import pytest

from services import MinioServer, MlflowServer, PostgresServer, running_postgres


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
def tls_postgres():
    """A PostgreSQL that admits TCP logins over TLS only (ca_cert verifies it)."""
    with running_postgres("mlops-stack-pg-tls-", tls=True) as server:
        yield server


@pytest.fixture(scope="session")
def minio(tmp_path_factory):
    server = MinioServer(str(tmp_path_factory.mktemp("minio"))).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow(postgres, minio, tmp_path_factory):
    """A real MLflow server on its own database and bucket (created here directly).

    The names are its own so tests of other modules sharing the session's
    PostgreSQL and MinIO never meet its data. The returned server can be
    stopped and started again (a restore replaces its database).
    """
    import psycopg

    database, bucket, owner = "mlflow_br", "mlflow-br", "mlflow_br"
    with psycopg.connect(postgres.uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % database)
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone():
            conn.execute('CREATE ROLE "%s" LOGIN' % owner)
        conn.execute('CREATE DATABASE "%s" OWNER "%s"' % (database, owner))
    client = minio.client()
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    server = MlflowServer(str(tmp_path_factory.mktemp("mlflow")), postgres, minio,
                          database=database, bucket=bucket).start()
    yield server
    server.stop()

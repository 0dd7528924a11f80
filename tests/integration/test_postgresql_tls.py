"""Clients of a PostgreSQL that admits TCP logins over TLS only (hostssl), as the
postgresql chart's server with tls.enabled: the bootstrap module and MLflow's
backend URI verify it against the CA (verify-full), plaintext is refused, a
wrong CA fails, and the pod's loopback login (backup and restore) passes.
"""
import os
import socket
import ssl
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
import sqlalchemy
from cryptography import x509
from psycopg import sql
from test_mlflow_credentials import rendered_program, write_credentials

from services import make_certificate_authority, run_module, running_postgres, write_server_certificate

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".tools", "collections")
if os.path.abspath(COLLECTIONS) not in [os.path.abspath(p) for p in sys.path]:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_pod import PodPostgres  # noqa: E402

PASSWORD = "p:a\\ss%w@rd/" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory):
    """ca.crt of a CA that did not sign the server's certificate."""
    directory = tmp_path_factory.mktemp("other-ca")
    write_server_certificate(str(directory), make_certificate_authority("another CA"))
    return str(directory / "ca.crt")


def new_login(server, prefix):
    login = "%s_%s" % (prefix, uuid.uuid4().hex[:6])
    with psycopg.connect(server.uri(), sslmode="verify-full", sslrootcert=server.ca_cert, autocommit=True) as admin:
        statement = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(login), sql.Literal(PASSWORD))
        admin.execute(statement)
    return login


def tls_version(conn):
    return conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_verify_full_connects_over_tls_1_3(tls_postgres, host):
    with psycopg.connect(host=host, port=tls_postgres.port, user=tls_postgres.user, password=tls_postgres.password,
                         dbname="postgres", sslmode="verify-full", sslrootcert=tls_postgres.ca_cert,
                         connect_timeout=5) as conn:
        assert tls_version(conn) == (True, "TLSv1.3")


def test_plaintext_is_refused(tls_postgres):
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(host=tls_postgres.host, port=tls_postgres.port, user=tls_postgres.user,
                        password=tls_postgres.password, dbname="postgres", sslmode="disable", connect_timeout=5)
    assert 'no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "postgres", no encryption' \
        in str(caught.value)


def test_a_wrong_ca_is_refused(tls_postgres, other_ca):
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(host=tls_postgres.host, port=tls_postgres.port, user=tls_postgres.user,
                        password=tls_postgres.password, dbname="postgres", sslmode="verify-full",
                        sslrootcert=other_ca, connect_timeout=5)
    assert "certificate verify failed" in str(caught.value)


# --- postgresql_bootstrap -----------------------------------------------------------

def test_bootstrap_verifies_the_server(tls_postgres):
    name = "bs_tls_" + uuid.uuid4().hex[:6]
    args = dict(tls_postgres.connection_args(), role=name, database=name, password=PASSWORD)
    assert args["ssl_mode"] == "verify-full" and args["ca_cert"] == tls_postgres.ca_cert
    first = run_module("postgresql_bootstrap", args)
    assert not first["failed"], first.get("msg")
    assert first["changed"] is True
    again = run_module("postgresql_bootstrap", args)
    assert not again["failed"] and again["changed"] is False
    with psycopg.connect(host=tls_postgres.host, port=tls_postgres.port, user=name, password=PASSWORD, dbname=name,
                         sslmode="verify-full", sslrootcert=tls_postgres.ca_cert, connect_timeout=5) as conn:
        assert tls_version(conn) == (True, "TLSv1.3")


@pytest.mark.parametrize("change", [{"ssl_mode": "disable"}, {"ca_cert": "other"}])
def test_bootstrap_fails_without_a_verified_tls_connection(tls_postgres, other_ca, change):
    name = "bs_tls_" + uuid.uuid4().hex[:6]
    change = {k: other_ca if v == "other" else v for k, v in change.items()}
    result = run_module("postgresql_bootstrap", dict(tls_postgres.connection_args(), role=name, database=name,
                                                     password=PASSWORD, **change))
    assert result["failed"]
    assert result["msg"].startswith("Failed to connect to PostgreSQL at 127.0.0.1:%d" % tls_postgres.port)
    assert ("no encryption" if "ssl_mode" in change else "certificate verify failed") in result["msg"]
    assert PASSWORD not in result["_stdout"]


# --- MLflow's backend URI (server-credentials.py of the chart) ------------------------

def _server_uri(server, tmp_path, ca_file):
    login = new_login(server, "mlflow_tls")
    credentials, run = tmp_path / "secrets", tmp_path / "run"
    run.mkdir()
    write_credentials(credentials, {"database/username": login, "database/password": PASSWORD,
                                    "s3/access-key-id": "AKIA" + login, "s3/secret-access-key": PASSWORD,
                                    "auth/admin-username": "admin", "auth/admin-password": PASSWORD})
    env = dict(os.environ, MLFLOW_DB_HOST=server.host, MLFLOW_DB_PORT=str(server.port), MLFLOW_DB_NAME="postgres",
               MLFLOW_DB_SSLMODE="verify-full", MLFLOW_DB_SSLROOTCERT=ca_file,
               MLFLOW_AUTH_DEFAULT_PERMISSION="READ")
    for name in ("PGPASSWORD", "PGPASSFILE", "PGSSLMODE", "PGSSLROOTCERT"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", rendered_program(credentials, run)], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return login, done.stdout.strip(), run


def test_mlflow_backend_uri_verifies_the_server(tls_postgres, tmp_path):
    login, uri, run = _server_uri(tls_postgres, tmp_path, tls_postgres.ca_cert)
    # (rendered by SQLAlchemy, which percent-encodes the path)
    query = dict(sqlalchemy.engine.make_url(uri).query)
    assert query == {"sslmode": "verify-full", "sslrootcert": tls_postgres.ca_cert}, uri
    assert PASSWORD not in uri
    with psycopg.connect(uri, passfile=str(run / "pgpass"), connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == login
        assert tls_version(conn) == (True, "TLSv1.3")
    # What the server and gc hand to SQLAlchemy: the query keys reach libpq.
    engine = sqlalchemy.create_engine(uri, connect_args={"passfile": str(run / "pgpass")})
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).scalar()
    finally:
        engine.dispose()


def test_mlflow_backend_uri_with_a_wrong_ca_fails(tls_postgres, other_ca, tmp_path):
    _login, uri, run = _server_uri(tls_postgres, tmp_path, other_ca)
    with pytest.raises(psycopg.OperationalError) as caught:
        psycopg.connect(uri, passfile=str(run / "pgpass"), connect_timeout=5)
    assert "certificate verify failed" in str(caught.value)


# --- the loopback login in the PostgreSQL pod (backup and restore) ---------------------

def _pod_login(server, ssl_mode):
    """The command PodPostgres runs in the pod for a restorer login, run here instead."""
    login = new_login(server, "restorer_tls") if server.tls else "postgres"
    password = PASSWORD if server.tls else server.password
    client = PodPostgres(dict(login_host="localhost", login_port=server.port, login_user="postgres",
                              ssl_mode=ssl_mode), "postgresql-0", "mlops")
    restorer = client.login_as(login, password)
    command, preamble = restorer._command(["psql", "-X", "-At", "-w"] + restorer._target("postgres")
                                          + ["-c", "SELECT current_user, ssl FROM pg_stat_ssl "
                                                   "WHERE pid = pg_backend_pid()"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PATH"] = server.bindir + os.pathsep + env.get("PATH", "")
    return login, subprocess.run(command, input=preamble, capture_output=True, env=env, check=False)


@pytest.mark.parametrize("ssl_mode", ["verify-full", "prefer"])
def test_pod_loopback_login_passes_hostssl(tls_postgres, ssl_mode):
    login, done = _pod_login(tls_postgres, ssl_mode)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "%s|t" % login


def test_pod_loopback_login_without_tls_on_the_server(postgres):
    # Why "require" only when the connection asks for TLS: a server without it refuses require.
    _login, done = _pod_login(postgres, "prefer")
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "postgres|f"
    _login, done = _pod_login(postgres, "verify-full")
    assert done.returncode != 0
    assert b"server does not support SSL, but SSL was required" in done.stderr


# --- reload (what the chart's tls-reload sidecar asks for) ------------------------------

def served_serial(server):
    """Serial of the certificate the server presents (SSLRequest, then TLS, as libpq starts)."""
    context = ssl.create_default_context(cafile=server.ca_cert)
    with socket.create_connection((server.host, server.port), timeout=5) as raw:
        raw.sendall(b"\x00\x00\x00\x08\x04\xd2\x16\x2f")
        assert raw.recv(1) == b"S"
        with context.wrap_socket(raw, server_hostname=server.host) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def reload_conf(server):
    with psycopg.connect(server.uri(), sslmode="verify-full", sslrootcert=server.ca_cert, autocommit=True) as conn:
        assert conn.execute("SELECT pg_reload_conf()").fetchone()[0] is True


@pytest.fixture
def own_tls_postgres():
    with running_postgres("mlops-stack-pg-tls-reload-", tls=True) as server:
        yield server


def test_a_reload_serves_a_new_certificate_and_keeps_it_over_a_broken_one(own_tls_postgres):
    server = own_tls_postgres
    first = served_serial(server)
    renewed = server.write_certificate()
    assert served_serial(server) == first, "served before the reload"
    reload_conf(server)
    assert served_serial(server) == renewed.serial_number
    # A broken key on reload: an error in the log, the loaded pair stays in service.
    with open(os.path.join(server.tls_dir, "tls.key"), "w") as handle:
        handle.write("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    reload_conf(server)
    time.sleep(1)
    assert served_serial(server) == renewed.serial_number
    with psycopg.connect(server.uri(), sslmode="verify-full", sslrootcert=server.ca_cert) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
    with open(server.log) as handle:
        assert "could not load private key file" in handle.read()

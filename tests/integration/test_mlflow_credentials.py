"""The MLflow chart's server-credentials.py (rendered from the chart) against a
real PostgreSQL: from the mounted credential files it writes the files the
server's libraries read (pgpass, the AWS credentials file, the auth ini), each
0600, and prints the backend store URI without its password, which libpq then
completes from the pgpass file. A password holding every character those
formats escape (":", "\\", "%", "@", "/") must survive all three.
"""
import configparser
import os
import stat
import subprocess
import sys
import uuid

import botocore.session
import psycopg
import yaml
from psycopg import sql

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HELM = os.path.join(REPO, ".tools", "bin", "helm")
PASSWORD = "p:a\\ss%w@rd/" + uuid.uuid4().hex[:8]


def rendered_program(credentials, run):
    manifests = yaml.safe_load_all(subprocess.run(
        [HELM, "template", "t", os.path.join(REPO, "charts", "mlflow")],
        capture_output=True, text=True, check=True).stdout)
    data = next(m for m in manifests if m and m["kind"] == "ConfigMap")["data"]
    program = data["server-credentials.py"]
    assert 'CREDENTIALS = "/run/secrets/mlflow"' in program and 'RUN = "/run/mlflow"' in program
    return (program.replace('CREDENTIALS = "/run/secrets/mlflow"', "CREDENTIALS = %r" % str(credentials))
            .replace('RUN = "/run/mlflow"', "RUN = %r" % str(run)))


def write_credentials(directory, files):
    for name, value in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value, encoding="utf-8")


def test_the_server_connects_with_a_password_less_uri_and_its_pgpass_file(postgres, tmp_path):
    login = "mlflow_cred_" + uuid.uuid4().hex[:6]
    with psycopg.connect(postgres.uri(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(login), sql.Literal(PASSWORD)))
    credentials, run = tmp_path / "secrets", tmp_path / "run"
    run.mkdir()
    write_credentials(credentials, {"database/username": login, "database/password": PASSWORD,
                                    "s3/access-key-id": "AKIA" + login, "s3/secret-access-key": PASSWORD,
                                    "auth/admin-username": "admin", "auth/admin-password": PASSWORD})
    env = dict(os.environ, MLFLOW_DB_HOST=postgres.host, MLFLOW_DB_PORT=str(postgres.port), MLFLOW_DB_NAME="postgres",
               MLFLOW_DB_SSLMODE="disable", MLFLOW_AUTH_DEFAULT_PERMISSION="READ")
    env.pop("PGPASSWORD", None)
    env.pop("PGPASSFILE", None)
    done = subprocess.run([sys.executable, "-c", rendered_program(credentials, run)], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    uri = done.stdout.strip()
    assert PASSWORD not in uri and "p%3Aa" not in uri, "the printed URI carries the password"
    assert uri.startswith("postgresql://%s@" % login), uri

    for name in ("pgpass", "aws-credentials", "basic_auth.ini"):
        assert stat.S_IMODE(os.stat(run / name).st_mode) == 0o600, name

    # libpq completes the password-less URI from the pgpass file ...
    with psycopg.connect(uri, autocommit=True, passfile=str(run / "pgpass")) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == login
    # ... and without it the same URI is refused.
    try:
        psycopg.connect(uri, passfile=str(tmp_path / "absent"), connect_timeout=5).close()
        raise AssertionError("the URI connected without the pgpass file")
    except psycopg.OperationalError as exc:
        assert "password" in str(exc)

    # boto3 reads the key pair back exactly from the shared credentials file.
    session = botocore.session.Session()
    session.set_config_variable("credentials_file", str(run / "aws-credentials"))
    found = session.get_credentials()
    assert (found.access_key, found.secret_key) == ("AKIA" + login, PASSWORD)

    # MLflow's auth config (ConfigParser, interpolating) reads the admin
    # password back exactly, and the database URI carries no password.
    auth = configparser.ConfigParser()
    auth.read(run / "basic_auth.ini")
    assert auth["mlflow"]["admin_password"] == PASSWORD
    assert auth["mlflow"]["database_uri"] == uri
    assert auth["mlflow"]["default_permission"] == "READ"


def test_a_credential_of_two_lines_is_refused_by_name(tmp_path):
    credentials, run = tmp_path / "secrets", tmp_path / "run"
    run.mkdir()
    write_credentials(credentials, {"database/username": "u", "database/password": "pw",
                                    "s3/access-key-id": "k", "s3/secret-access-key": "first\nsecond",
                                    "auth/admin-username": "admin", "auth/admin-password": "pw"})
    env = dict(os.environ, MLFLOW_DB_HOST="db", MLFLOW_DB_PORT="5432", MLFLOW_DB_NAME="mlflow",
               MLFLOW_DB_SSLMODE="disable", MLFLOW_AUTH_DEFAULT_PERMISSION="READ")
    done = subprocess.run([sys.executable, "-c", rendered_program(credentials, run)], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == "the credential s3/secret-access-key must be a single line"
    assert "first" not in done.stderr and "second" not in done.stderr

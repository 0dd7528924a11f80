"""MinIO over HTTPS, its certificates laid out as charts/minio mounts its Secret:
the collection's S3 and MinIO admin modules with ca_bundle, MLflow's S3 client
with AWS_CA_BUNDLE, and plain HTTP refused."""

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import boto3
import botocore.config
import pytest
from test_minio_bucket import assert_one_line_failure, bucket_exists, connection
from test_minio_user_policy import error_code, policy_for
from test_mlflow_artifacts import chart_python_dir, payload, run_client

from services import MinioServer, MlflowServer, owned_database, run_module, wait_for

BUCKET = "it-tls"
MLFLOW_BUCKET = "it-tls-mlflow"
DATABASE = "mlflow_tls"
PASSWORD = "tls-password-0123456789"
UNKNOWN_CA = "set ca_bundle to the CA that signs the endpoint's certificate"


@pytest.fixture(scope="module")
def minio_tls(tmp_path_factory):
    server = MinioServer(str(tmp_path_factory.mktemp("minio-tls")), tls=True, console=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mlflow_bucket(minio_tls):
    minio_tls.client().create_bucket(Bucket=MLFLOW_BUCKET)
    return MLFLOW_BUCKET


def without_ca(minio, **overrides):
    args = connection(minio, **overrides)
    del args["ca_bundle"]
    return args


def served_certificate(port):
    """The PEM the server presents (read without verifying it)."""
    return ssl.get_server_certificate(("127.0.0.1", port)).encode()


def plain_http(port, path):
    connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection_.request("GET", path)
        answer = connection_.getresponse()
        return answer.status, answer.read().decode()
    finally:
        connection_.close()


def test_the_certs_dir_is_the_secret_volume_layout(minio_tls):
    entries = sorted(os.listdir(minio_tls.certs_dir))
    assert [e for e in entries if not e.startswith("..")] == ["CAs", "private.key", "public.crt"]
    assert "..data" in entries and all(os.path.islink(os.path.join(minio_tls.certs_dir, e))
                                       for e in ("CAs", "private.key", "public.crt", "..data"))
    with open(os.path.join(minio_tls.certs_dir, "public.crt"), "rb") as handle:
        installed = handle.read()
    assert ssl.PEM_cert_to_DER_cert(served_certificate(minio_tls.port).decode()) == \
        ssl.PEM_cert_to_DER_cert(installed.decode())


def test_plain_http_is_refused_on_both_ports(minio_tls):
    for port in (minio_tls.port, minio_tls.console_port):
        status, body = plain_http(port, "/minio/health/live")
        assert (status, body.strip()) == (400, "Client sent an HTTP request to an HTTPS server."), port


def test_https_needs_the_ca(minio_tls):
    with urllib.request.urlopen(minio_tls.endpoint + "/minio/health/live", timeout=10,
                                context=minio_tls.ssl_context()) as answer:
        assert answer.status == 200
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(minio_tls.endpoint + "/minio/health/live", timeout=10,
                               context=ssl.create_default_context())
    assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)


def test_the_console_logs_in_through_the_server_url(minio_tls):
    login = urllib.request.Request(
        minio_tls.console_url + "/api/v1/login", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"accessKey": minio_tls.access_key, "secretKey": minio_tls.secret_key}).encode())
    with urllib.request.urlopen(login, timeout=30, context=minio_tls.ssl_context()) as answer:
        assert answer.status == 204
        assert any(c.startswith("token=") for c in answer.headers.get_all("Set-Cookie"))


def test_bucket_module_over_https(minio_tls):
    task = connection(minio_tls, name=BUCKET, versioning="enabled")
    created = run_module("minio_bucket", task)
    assert created["changed"] and not created["failed"], created
    assert not run_module("minio_bucket", task)["changed"]
    # The option's environment fallback, as a role's environment would set it.
    by_env = run_module("minio_bucket", without_ca(minio_tls, name=BUCKET, versioning="enabled"),
                        env={"AWS_CA_BUNDLE": minio_tls.ca_bundle})
    assert not by_env["failed"] and not by_env["changed"], by_env


def test_modules_without_the_ca_fail_clearly_and_change_nothing(minio_tls):
    refused = run_module("minio_bucket", without_ca(minio_tls, name="it-tls-never"))
    assert_one_line_failure(refused, "Failed to read bucket it-tls-never", "TLS handshake failed",
                            "certificate verify failed", UNKNOWN_CA)
    assert not bucket_exists(minio_tls.client(), "it-tls-never")
    for module, args in (("minio_policy", dict(name="it-tls-never", policy=policy_for(BUCKET))),
                         ("minio_user", dict(name="it-tls-never", password=PASSWORD))):
        refused = run_module(module, without_ca(minio_tls, **args))
        assert_one_line_failure(refused, "TLS handshake failed", "certificate verify failed", UNKNOWN_CA)
    assert not run_module("minio_policy", connection(minio_tls, name="it-tls-never", state="absent"))["changed"]
    assert not run_module("minio_user", connection(minio_tls, name="it-tls-never", state="absent"))["changed"]


def test_http_url_to_the_https_server_fails_clearly(minio_tls):
    args = without_ca(minio_tls, endpoint_url=minio_tls.endpoint.replace("https://", "http://"),
                      name="it-tls-never", password=PASSWORD)
    assert_one_line_failure(run_module("minio_user", args), "Client sent an HTTP request to an HTTPS server")


def test_user_and_policy_modules_over_https(minio_tls):
    minio_tls.client().create_bucket(Bucket="it-tls-user")
    policy = run_module("minio_policy", connection(minio_tls, name="it-tls-policy", policy=policy_for("it-tls-user")))
    assert policy["changed"] and not policy["failed"], policy
    task = connection(minio_tls, name="it-tls-user", password=PASSWORD, policies=["it-tls-policy"])
    created = run_module("minio_user", task)
    assert created["changed"] and created["user"]["policies"] == ["it-tls-policy"], created
    assert not run_module("minio_user", task)["changed"]
    user = boto3.session.Session().client(
        "s3", endpoint_url=minio_tls.endpoint, aws_access_key_id="it-tls-user", aws_secret_access_key=PASSWORD,
        region_name="us-east-1", verify=minio_tls.ca_bundle,
        config=botocore.config.Config(s3={"addressing_style": "path"}))
    user.put_object(Bucket="it-tls-user", Key="a.txt", Body=b"a")
    assert error_code(user.put_object, Bucket=BUCKET, Key="a.txt", Body=b"a") == "AccessDenied"


# Writes and reads back an object through MLflow's own S3 artifact repository;
# AWS_CA_BUNDLE is all it is given about the endpoint's CA.
S3_REPOSITORY = r"""
import sys, tempfile, os
from mlflow.store.artifact.s3_artifact_repo import S3ArtifactRepository
repository = S3ArtifactRepository(sys.argv[1])
repository.log_artifact(sys.argv[2])
with tempfile.TemporaryDirectory() as target:
    path = repository.download_artifacts(os.path.basename(sys.argv[2]), target)
    print(open(path).read())
"""


def mlflow_repository(minio, local_file, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    env = dict(clean, MLFLOW_S3_ENDPOINT_URL=minio.endpoint, AWS_ACCESS_KEY_ID=minio.access_key,
               AWS_SECRET_ACCESS_KEY=minio.secret_key, AWS_DEFAULT_REGION="us-east-1", **env)
    return subprocess.run([sys.executable, "-", "s3://%s/repository" % MLFLOW_BUCKET, local_file], input=S3_REPOSITORY,
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def test_mlflow_s3_repository_trusts_aws_ca_bundle_only(minio_tls, mlflow_bucket, tmp_path):
    local = tmp_path / "note.txt"
    local.write_text("over https")
    trusted = mlflow_repository(minio_tls, str(local), AWS_CA_BUNDLE=minio_tls.ca_bundle)
    assert trusted.returncode == 0, trusted.stderr[-3000:]
    assert trusted.stdout.strip() == "over https"
    untrusted = mlflow_repository(minio_tls, str(local))
    assert untrusted.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr


def test_mlflow_server_artifact_round_trip(minio_tls, mlflow_bucket, postgres, tmp_path_factory, tmp_path):
    import psycopg

    with psycopg.connect(postgres.uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DATABASE)
        conn.execute('CREATE DATABASE "%s"' % DATABASE)
    # As the chart runs it: its artifact repository (every transfer through the
    # server) and AWS_CA_BUNDLE naming the CA.
    base = str(tmp_path_factory.mktemp("mlflow-tls"))
    server = MlflowServer(base, postgres, minio_tls, database=DATABASE, bucket=mlflow_bucket,
                          destination="s3://%s/artifacts" % mlflow_bucket,
                          env={"AWS_CA_BUNDLE": minio_tls.ca_bundle, "AWS_DEFAULT_REGION": "us-east-1",
                               "PYTHONPATH": chart_python_dir(os.path.join(base, "python"))})
    server.start()
    try:
        local, digest = payload(tmp_path, "model.bin", 256 * 1024)
        result = run_client(server, local)
        assert result["sha256"] == digest
        key = "artifacts/%s/%s/artifacts/model.bin" % (result["experiment"], result["run"])
        assert minio_tls.client().head_object(Bucket=mlflow_bucket, Key=key)["ContentLength"] == 256 * 1024
    finally:
        server.stop()


def test_backup_and_restore_stream_objects_over_https(minio_tls, postgres, tmp_path):
    """The backup reads every object through the controller (the minio SDK's
    reader) and the restore writes them back, both verifying the server with
    the CA bundle; a gzip-encoded object comes back byte for byte."""
    import gzip

    bucket, database, owner = "tls-backup-artifacts", "tls_backup_db", "tls_backup_owner"
    owned_database(postgres, database, owner, 5)
    client = minio_tls.client()
    client.create_bucket(Bucket=bucket)
    objects = {"1/run/model.bin": os.urandom(300 * 1024), "1/run/empty": b"",
               "1/run/log.txt.gz": gzip.compress(b"a gzip-encoded log\n" * 100)}
    for key, body in objects.items():
        extra = {"ContentEncoding": "gzip"} if key.endswith(".gz") else {}
        client.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    options = dict(postgres.connection_args(), database=database, buckets=[bucket], stack_id="tls", namespace="mlops",
                   key="tls-integration-key-" + "0123456789abcdef" * 2, **minio_tls.connection_args())
    written = run_module("backup", dict(options, destination=str(tmp_path / "sets")))
    assert written["status"] == "complete" and written["object_count"] == len(objects), written
    for key in objects:
        client.delete_object(Bucket=bucket, Key=key)
    restore = dict(options, source=str(tmp_path / "sets"), backup_id=written["backup_id"], force=True)
    restore.pop("buckets")
    restored = run_module("restore", restore)
    assert restored["changed"] and not restored["failed"], restored
    for key, body in objects.items():
        assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    # Without the CA the backup refuses the server instead of reading anything.
    refused = run_module("backup", dict({k: v for k, v in options.items() if k != "ca_bundle"},
                                        destination=str(tmp_path / "untrusted")))
    assert refused["failed"] and "certificate" in refused["msg"].lower(), refused


def test_a_renewed_certificate_is_served_without_a_restart(minio_tls):
    """A Secret update swaps "..data"; MinIO reloads on its timer (10 s, first
    after a minute) or at once on SIGHUP, which this test sends to stay short."""
    before = served_certificate(minio_tls.port)
    renewed = minio_tls.install_certificate()
    os.kill(minio_tls.process.pid, signal.SIGHUP)
    wait_for(lambda: ssl.PEM_cert_to_DER_cert(served_certificate(minio_tls.port).decode())
             == ssl.PEM_cert_to_DER_cert(renewed.decode()), "the renewed certificate", timeout=30)
    assert served_certificate(minio_tls.port) != before
    assert minio_tls.process.poll() is None
    minio_tls.client().list_buckets()

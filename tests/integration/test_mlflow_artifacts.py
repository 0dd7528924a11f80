"""The chart's artifact repository (charts/mlflow/files/mlops_stack_artifacts.py)
in a real MLflow server on a real MinIO, laid out on the PYTHONPATH as the
chart's Deployment mounts it.

Without an external endpoint the server advertises no presigned transfers, so
the client sends every byte through it; with one, the presigned URLs name that
endpoint and the client's direct transfers work.
"""

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import yaml

from services import MlflowServer

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HELM = os.path.join(REPO, ".tools", "bin", "helm")
BUCKET = "mlflow-art"
DATABASE = "mlflow_art"


def chart_python_dir(target):
    """The files the Deployment mounts at /opt/mlops-stack/python, from the rendered chart."""
    manifests = list(yaml.safe_load_all(subprocess.run(
        [HELM, "template", "t", os.path.join(REPO, "charts", "mlflow")],
        capture_output=True, text=True, check=True).stdout))
    data = next(m for m in manifests if m and m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-scripts"))
    deployment = next(m for m in manifests if m and m["kind"] == "Deployment")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "python")
    for item in volume["configMap"]["items"]:
        path = os.path.join(target, item["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(data["data"][item["key"]])
    server = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "mlflow")
    assert {"name": "PYTHONPATH", "value": "/opt/mlops-stack/python"} in server["env"]
    return target


@pytest.fixture(scope="module")
def store(postgres, minio):
    import psycopg

    with psycopg.connect(postgres.uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % DATABASE)
        conn.execute('CREATE DATABASE "%s"' % DATABASE)
    client = minio.client()
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return client


def start_server(base, postgres, minio, **env):
    python_dir = chart_python_dir(os.path.join(base, "python"))
    server = MlflowServer(base, postgres, minio, database=DATABASE, bucket=BUCKET,
                          destination="s3://%s/artifacts" % BUCKET,
                          env=dict(env, PYTHONPATH=python_dir, AWS_DEFAULT_REGION="us-east-1"))
    return server.start()


# Logs a file and downloads it back with the unmodified client; prints JSON.
CLIENT = r"""
import hashlib, json, sys, tempfile
import mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("artifacts")
with mlflow.start_run() as run:
    mlflow.log_artifact(sys.argv[2])
with tempfile.TemporaryDirectory() as target:
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=sys.argv[3], dst_path=target)
    with open(path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
print(json.dumps({"run": run.info.run_id, "experiment": run.info.experiment_id, "sha256": digest}))
"""


def run_client(server, local_file, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "AWS_"))}
    proc = subprocess.run([sys.executable, "-", server.url, local_file, os.path.basename(local_file)],
                          input=CLIENT, env=dict(clean, **env), capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def server_info(server):
    with urllib.request.urlopen(server.url + "/api/3.0/mlflow/server-info", timeout=120) as response:
        return json.load(response)


def payload(tmp_path, name, size):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def test_without_an_external_endpoint_every_transfer_goes_through_the_server(
        store, postgres, minio, tmp_path_factory, tmp_path):
    server = start_server(str(tmp_path_factory.mktemp("mlflow-proxied")), postgres, minio)
    try:
        info = server_info(server)
        assert info["multipart_downloads_enabled"] is False
        assert info["multipart_uploads_enabled"] is False
        # Above the (lowered) multipart threshold: still one proxied upload.
        local, digest = payload(tmp_path, "model.bin", 6 * 1024 * 1024)
        result = run_client(server, local, MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE=str(5 * 1024 * 1024))
        assert result["sha256"] == digest
        key = "artifacts/%s/%s/artifacts/model.bin" % (result["experiment"], result["run"])
        assert store.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == 6 * 1024 * 1024
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + "/api/2.0/mlflow-artifacts/presigned/" + key[len("artifacts/"):],
                                   timeout=120)
        assert refused.value.code == 501
    finally:
        server.stop()


def test_presigned_transfers_name_the_external_endpoint(store, postgres, minio, tmp_path_factory, tmp_path):
    # Another name for the same MinIO: the server reaches it as 127.0.0.1, clients as localhost.
    external = minio.endpoint.replace("127.0.0.1", "localhost")
    server = start_server(str(tmp_path_factory.mktemp("mlflow-presigned")), postgres, minio,
                          MLOPS_STACK_S3_EXTERNAL_ENDPOINT_URL=external)
    try:
        info = server_info(server)
        assert info["multipart_downloads_enabled"] is True
        assert info["multipart_uploads_enabled"] is True
        local, digest = payload(tmp_path, "weights.bin", 6 * 1024 * 1024)
        result = run_client(server, local, MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE=str(5 * 1024 * 1024),
                            MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE=str(1024 * 1024))
        assert result["sha256"] == digest
        path = "%s/%s/artifacts/weights.bin" % (result["experiment"], result["run"])
        url = server.url + "/api/2.0/mlflow-artifacts/presigned/" + path
        with urllib.request.urlopen(url, timeout=120) as response:
            presigned = json.load(response)
        assert presigned["url"].startswith(external + "/%s/artifacts/%s?" % (BUCKET, path))
        assert presigned["file_size"] == 6 * 1024 * 1024
        with urllib.request.urlopen(presigned["url"], timeout=30) as response:
            assert hashlib.sha256(response.read()).hexdigest() == digest
    finally:
        server.stop()


def test_the_server_refuses_to_start_without_the_repository(tmp_path):
    """server.sh's check, as rendered, with and without the chart's files on the PYTHONPATH."""
    config = next(m for m in yaml.safe_load_all(subprocess.run(
        [HELM, "template", "t", os.path.join(REPO, "charts", "mlflow"), "--show-only", "templates/configmap.yaml"],
        capture_output=True, text=True, check=True).stdout) if m)
    script = config["data"]["server.sh"]
    check = script[script.index("python3 -c '\n") + len("python3 -c '\n"):]
    check = check[:check.index("\n'\n")]
    python_dir = chart_python_dir(str(tmp_path / "python"))
    for path, expected in ((python_dir, 0), ("", 1)):
        proc = subprocess.run([sys.executable, "-c", check], env=dict(os.environ, PYTHONPATH=path),
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == expected, proc.stderr[-2000:]

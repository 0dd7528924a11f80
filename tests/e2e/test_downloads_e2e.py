"""Artifacts from outside the cluster with the README's (the seed's) client code,
unmodified and without MLFLOW_* settings, through a port-forward to the server.

Each size is logged and downloaded back by the example's own client; the
download must take no longer than a plain streamed GET of the same artifact
through the server's proxy (the proxied transfer time) plus a few seconds, so a
client that first tries presigned URLs naming the in-cluster MinIO (and retries
for minutes) fails it. 300 KB always; 600 MB when MLOPS_E2E_LARGE_ARTIFACTS=1
(it takes minutes on a 2-core machine: docs/artifacts.md has the times).

Then, with mlflow_artifacts.external_endpoint_url set to a MinIO address the
client reaches (a port-forward here, an ingress for users), the server hands
out presigned URLs naming it and the same client downloads through them. MinIO
serves HTTPS with the stack's CA, which the client trusts as users trust a
private CA: REQUESTS_CA_BUNDLE.
"""
import base64
import hashlib
import json
import os
import ssl
import subprocess
import time
import urllib.request

import pytest

from e2e_support import REPO, kubectl, readme_example, tool_env

SIZES = [300 * 1024] + ([600 * 1024 * 1024] if os.environ.get("MLOPS_E2E_LARGE_ARTIFACTS") == "1" else [])
# Seconds a client download may take beyond the proxied transfer of the same bytes.
SLACK = 10.0

# Appended to the README example: the run, the downloaded file's sha256 and the
# seconds its download took, as one JSON line.
DOWNLOAD = """
import hashlib, json, tempfile, time
run = mlflow.last_active_run()
with tempfile.TemporaryDirectory() as target:
    start = time.monotonic()
    path = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="model.pkl", dst_path=target)
    seconds = time.monotonic() - start
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
print(json.dumps({"run": run.info.run_id, "experiment": run.info.experiment_id,
                  "sha256": digest.hexdigest(), "download_s": seconds}))
"""


def run_example(workdir, password, port, timeout, extra_env=None):
    code = readme_example().replace('"<password>"', repr(password)).replace(
        "http://localhost:5000", f"http://127.0.0.1:{port}")
    assert code.count(repr(password)) == 1 and str(port) in code, "the README example has changed its placeholders"
    assert "MLFLOW_ENABLE_PROXY" not in code, "the README example needs no client settings"
    env = {k: v for k, v in tool_env().items() if not k.startswith(("MLFLOW_", "AWS_"))} | (extra_env or {})
    start = time.monotonic()
    proc = subprocess.run([f"{REPO}/.tools/venv/bin/python", "-"], input=code + DOWNLOAD, cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    total = time.monotonic() - start
    assert proc.returncode == 0, f"the README example failed:\n{proc.stderr[-4000:]}"
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]), total_s=total)


def proxied_get(port, password, path):
    """Seconds a plain streamed GET of the artifact through the server's proxy takes, and its sha256."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/mlflow-artifacts/artifacts/{path}",
        headers={"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()})
    digest = hashlib.sha256()
    start = time.monotonic()
    with urllib.request.urlopen(request, timeout=600) as response:
        while chunk := response.read(1 << 20):
            digest.update(chunk)
    return time.monotonic() - start, digest.hexdigest()


def write_payload(path, size):
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for offset in range(0, size, 1 << 20):
            chunk = os.urandom(min(1 << 20, size - offset))
            digest.update(chunk)
            handle.write(chunk)
    return digest.hexdigest()


def server_info(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/3.0/mlflow/server-info", timeout=30) as response:
        return json.load(response)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size // 1024}KB")
def test_client_downloads_through_the_server(shared_stack, tmp_path, size):
    password = shared_stack.admin_password()
    logged = write_payload(tmp_path / "model.pkl", size)
    with shared_stack.port_forward("mlflow", 5000) as port:
        info = server_info(port)
        assert not info["multipart_downloads_enabled"] and not info["multipart_uploads_enabled"], info
        result = run_example(tmp_path, password, port, timeout=1800)
        assert result["sha256"] == logged, "the artifact downloaded by the client differs from the one logged"
        proxied, digest = proxied_get(port, password, f"{result['experiment']}/{result['run']}/artifacts/model.pkl")
    assert digest == logged
    print(f"\n{size} bytes: example (log + download) {result['total_s']:.1f} s, client download "
          f"{result['download_s']:.1f} s, proxied GET {proxied:.1f} s")
    assert result["download_s"] <= proxied + SLACK, (
        f"the client took {result['download_s']:.1f} s, the proxied transfer {proxied:.1f} s")


def test_presigned_downloads_use_the_external_endpoint(shared_stack, tmp_path):
    password = shared_stack.admin_password()
    logged = write_payload(tmp_path / "model.pkl", 300 * 1024)
    bundle = json.loads(kubectl("-n", shared_stack.namespace, "get", "configmap", "mlops-tls-trust",
                                "-o", "json").stdout)["data"]["ca.crt"]
    (tmp_path / "ca.crt").write_text(bundle)
    trust = {"REQUESTS_CA_BUNDLE": str(tmp_path / "ca.crt")}
    with shared_stack.port_forward("minio", 9000) as minio_port:
        external = f"https://127.0.0.1:{minio_port}"
        shared_stack.playbook("site.yml", "-e", "mlops_verify=false", "-e", json.dumps(
            {"mlflow_artifacts": {"external_endpoint_url": external}}), label="site.yml external endpoint")
        try:
            with shared_stack.port_forward("mlflow", 5000) as port:
                assert server_info(port)["multipart_downloads_enabled"] is True
                result = run_example(tmp_path, password, port, timeout=600, extra_env=trust)
                assert result["sha256"] == logged
                path = f"{result['experiment']}/{result['run']}/artifacts/model.pkl"
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/2.0/mlflow-artifacts/presigned/{path}",
                    headers={"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()})
                with urllib.request.urlopen(request, timeout=30) as response:
                    presigned = json.load(response)
            assert presigned["url"].startswith(external + "/"), presigned["url"]
            context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
            with urllib.request.urlopen(presigned["url"], timeout=60, context=context) as response:
                assert hashlib.sha256(response.read()).hexdigest() == logged
        finally:
            shared_stack.playbook("site.yml", "-e", "mlops_verify=false", label="site.yml without external endpoint")

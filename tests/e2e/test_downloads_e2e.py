"""Artifacts from outside the cluster with the README's (the seed's) client code,
unmodified and without MLFLOW_* settings, through a port-forward to the server.

Each size is logged and downloaded back by the example's own client; the
download must take no longer than a plain streamed GET of the same artifact
through the server's proxy (the proxied transfer time) plus a few seconds, so a
client that first tries presigned URLs naming the in-cluster MinIO (and retries
for minutes) fails it. 300 KB always; 600 MB when MLOPS_E2E_LARGE_ARTIFACTS=1
(it takes minutes on a 2-core machine: docs/artifacts.md has the times).

Presigned downloads through an external endpoint: test_external_e2e.py.
"""
import os

import pytest

from e2e_support import proxied_get, run_example, server_info, write_payload

SIZES = [300 * 1024] + ([600 * 1024 * 1024] if os.environ.get("MLOPS_E2E_LARGE_ARTIFACTS") == "1" else [])
# Seconds a client download may take beyond the proxied transfer of the same bytes.
SLACK = 10.0


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

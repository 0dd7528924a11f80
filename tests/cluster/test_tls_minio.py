"""charts/minio with tls.enabled on the local cluster: the Secret mounted as
MinIO's --certs-dir, HTTPS probes, HTTPS only on both ports, the console's
login through MINIO_SERVER_URL, and a renewed Secret served without a restart.

The certificates come from a throwaway CA of the integration tests' services.
"""
import base64
import contextlib
import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "tests" / "integration"))
from services import ThrowawayCA  # noqa: E402

ROOT_USER = "minio-admin"
ROOT_PASSWORD = "cluster-test-only-0123"
# kubelet refreshes Secret volumes on its sync (about a minute plus its cache);
# MinIO then re-reads its files every 10 s.
RENEWAL_BOUND = 180


def server_names(namespace):
    service = ["minio", "minio.%s" % namespace, "minio.%s.svc" % namespace, "minio.%s.svc.cluster.local" % namespace]
    return service + ["localhost", "127.0.0.1", "::1"]


def tls_secret(ca, namespace):
    certificate, key = ca.issue("minio.%s.svc.cluster.local" % namespace, server_names(namespace))
    data = {"tls.crt": certificate, "tls.key": key, "ca.crt": ca.pem}
    return certificate, {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                         "metadata": {"name": "minio-tls"},
                         "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}


@contextlib.contextmanager
def port_forward(kube, remote_port):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(kube.cmd("port-forward", "pod/minio-0", "%d:%d" % (port, remote_port)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return True
        except OSError:
            return False

    try:
        kube.wait_for("port-forward to %d" % remote_port, listening, timeout=30)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def served_der(port):
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port), timeout=10))


@pytest.fixture(scope="module")
def minio(kube, images):
    if "minio" not in images:
        pytest.skip("no minio image tag in .tools/cluster/images.env")
    registry, _sep, rest = images["minio"].partition("/")
    repository, _sep, tag = rest.rpartition(":")
    ca = ThrowawayCA()
    certificate, secret = tls_secret(ca, kube.namespace)
    kube.apply(secret)
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "minio-auth"},
                "stringData": {"root-user": ROOT_USER, "root-password": ROOT_PASSWORD}})
    helm = str(REPO / ".tools" / "bin" / "helm")
    values = ["image.registry=" + registry, "image.repository=" + repository, "image.tag=" + tag,
              "persistence.enabled=false", "tls.enabled=true", "tls.existingSecret=minio-tls"]
    started = time.monotonic()
    install = subprocess.run(
        [helm, "--kubeconfig", kube.kubeconfig, "install", "minio", str(REPO / "charts" / "minio"),
         "--namespace", kube.namespace, "--wait", "--timeout", "5m", *sum((["--set", v] for v in values), [])],
        capture_output=True, text=True, timeout=400, check=False)
    if install.returncode != 0:
        described = kube.run("describe", "pod", "minio-0", check=False).stdout
        logs = kube.run("logs", "minio-0", check=False).stdout
        pytest.fail("helm install failed: %s\n%s\n%s" % (install.stderr, described[-3000:], logs[-3000:]))
    print("\n[tls-minio] Ready after %.0f s" % (time.monotonic() - started))
    return {"ca": ca, "certificate": certificate}


def test_ready_with_https_probes(kube, minio):
    pod = kube.get("pod", "minio-0")
    container = pod["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["scheme"] == "HTTPS", probe
    status = pod["status"]["containerStatuses"][0]
    assert status["ready"] and status["restartCount"] == 0, status
    service = kube.get("service", "minio")
    assert service["metadata"]["annotations"]["mlops.stack/tls"] == "on"


def test_certs_dir_files_are_readable_by_the_group_only(kube, minio):
    listing = kube.run("exec", "minio-0", "--", "stat", "-L", "-c", "%a %u %g %n",
                       "/tmp/certs/public.crt", "/tmp/certs/private.key", "/tmp/certs/CAs/ca.crt").stdout
    modes = {line.split()[3]: line.split()[:3] for line in listing.splitlines()}
    assert set(modes) == {"/tmp/certs/public.crt", "/tmp/certs/private.key", "/tmp/certs/CAs/ca.crt"}
    assert all(mode == ["440", "0", "1000"] for mode in modes.values()), modes
    logs = kube.run("logs", "minio-0").stdout
    assert "Unable to load" not in logs and "x509" not in logs, logs[-2000:]


def test_only_https_with_the_ca_answers(kube, minio):
    context = minio["ca"].context()
    for remote in (9000, 9001):
        with port_forward(kube, remote) as port:
            path = "/minio/health/live" if remote == 9000 else "/"
            with urllib.request.urlopen("https://127.0.0.1:%d%s" % (port, path), timeout=10,
                                        context=context) as answer:
                assert answer.status == 200
            assert served_der(port) == ssl.PEM_cert_to_DER_cert(minio["certificate"].decode())
            with pytest.raises(urllib.error.URLError) as unverified:
                urllib.request.urlopen("https://127.0.0.1:%d%s" % (port, path), timeout=10,
                                       context=ssl.create_default_context())
            assert isinstance(unverified.value.reason, ssl.SSLCertVerificationError)
            with pytest.raises(urllib.error.HTTPError) as plain:
                urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10)
            assert plain.value.code == 400
            assert plain.value.read().decode().strip() == "Client sent an HTTP request to an HTTPS server."


def test_the_console_logs_in_and_lists_buckets(kube, minio):
    context = minio["ca"].context()
    with port_forward(kube, 9001) as port:
        login = urllib.request.Request(
            "https://127.0.0.1:%d/api/v1/login" % port, method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"accessKey": ROOT_USER, "secretKey": ROOT_PASSWORD}).encode())
        with urllib.request.urlopen(login, timeout=30, context=context) as answer:
            assert answer.status == 204
            token = next(c.split(";")[0] for c in answer.headers.get_all("Set-Cookie") if c.startswith("token="))
        # The console calls the API (https://localhost:9000) with the session.
        buckets = urllib.request.Request("https://127.0.0.1:%d/api/v1/buckets" % port, headers={"Cookie": token})
        with urllib.request.urlopen(buckets, timeout=30, context=context) as answer:
            assert answer.status == 200
            assert isinstance(json.load(answer), dict)


def test_a_renewed_secret_is_served_without_a_restart(kube, minio):
    before = kube.get("pod", "minio-0")
    renewed, secret = tls_secret(minio["ca"], kube.namespace)
    expected = ssl.PEM_cert_to_DER_cert(renewed.decode())
    with port_forward(kube, 9000) as port:
        assert served_der(port) != expected
        kube.apply(secret)
        started = time.monotonic()
        seen = {}

        def renewed_and_served():
            if "file" not in seen:
                mounted = kube.run("exec", "minio-0", "--", "cat", "/tmp/certs/public.crt").stdout.encode()
                if mounted == renewed:
                    seen["file"] = time.monotonic() - started
            return served_der(port) == expected

        kube.wait_for("the renewed certificate", renewed_and_served, timeout=RENEWAL_BOUND, interval=0.5)
        elapsed = time.monotonic() - started
    print("\n[tls-minio] renewed certificate in the pod's file after %s s, served after %.0f s"
          % ("%.0f" % seen["file"] if "file" in seen else "?", elapsed))
    after = kube.get("pod", "minio-0")
    assert after["metadata"]["uid"] == before["metadata"]["uid"]
    assert after["status"]["containerStatuses"][0]["restartCount"] == 0

"""The postgresql chart with tls.enabled on the local cluster, in a namespace of
its own that enforces the restricted Pod Security profile.

What helm template cannot show: PostgreSQL accepts its key as the kubelet
mounts it (root, group fsGroup, 0440); TCP logins need TLS (hostssl), from
the pod network too; and the tls-reload sidecar has the server serve a renewed
certificate from the updated Secret without a restart.
"""
import base64
import contextlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest
from conftest import REPO
from test_smoke import pod

sys.path.insert(0, str(REPO / "tests" / "integration"))
from services import make_certificate_authority, write_server_certificate  # noqa: E402

psycopg = pytest.importorskip("psycopg")
x509 = pytest.importorskip("cryptography.x509")

RELEASE = "postgresql"
RELOAD_SECONDS = 5
# The kubelet's Secret sync (up to its sync period plus the cache TTL) and the reloader's period.
RENEWAL_BOUND = 180
SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"


def _names(namespace):
    service = "%s.%s.svc" % (RELEASE, namespace)
    return ("localhost", RELEASE, "%s.%s" % (RELEASE, namespace), service, service + ".cluster.local")


def _write_leaf(directory, authority, namespace):
    return write_server_certificate(directory, authority, dns_names=_names(namespace))


def _secret_data(directory):
    data = {}
    for name in ("tls.crt", "tls.key", "ca.crt"):
        with open(os.path.join(directory, name), "rb") as handle:
            data[name] = base64.b64encode(handle.read()).decode()
    return data


def _tls_secret(directory):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "postgresql-tls"}, "data": _secret_data(directory)}


def _served_serial(port, ca_file):
    """Serial of the certificate PostgreSQL serves on 127.0.0.1:port (SSLRequest, then TLS)."""
    context = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(SSL_REQUEST)
        assert raw.recv(1) == b"S"
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() == "TLSv1.3"
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


@contextlib.contextmanager
def forwarded(server):
    """A local port forwarded to the server's 5432, for one connection: kubectl
    port-forward may give up after a connection the server ended with an error."""
    kube = server["kube"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    forward = subprocess.Popen(kube.cmd("port-forward", "pod/" + server["pod"], "%d:5432" % port),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        kube.wait_for("port-forward", lambda: forward.stdout.readline().startswith("Forwarding from"), timeout=30)
        yield port
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def served_serial(server):
    with forwarded(server) as port:
        return _served_serial(port, server["ca"])


@pytest.fixture(scope="module")
def server(kube, images):
    namespace = kube.namespace
    kube.run("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted", namespaced=False)
    work = tempfile.mkdtemp(prefix="mlops-stack-tls-pg-")
    authority = make_certificate_authority("mlops.stack %s CA" % namespace)
    first = _write_leaf(work, authority, namespace)
    password = secrets.token_urlsafe(18)
    kube.apply(_tls_secret(work))
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "postgresql-auth"},
                "stringData": {"postgres-password": password}})
    repository, tag = images["postgresql"].rsplit(":", 1)
    values = {"image": {"registry": "", "repository": repository, "tag": tag},
              "persistence": {"enabled": False},
              "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                            "limits": {"cpu": "500m", "memory": "512Mi"}},
              "config": {"sharedBuffers": "32MB", "effectiveCacheSize": "96MB"},
              "tls": {"enabled": True, "existingSecret": "postgresql-tls",
                      "reloader": {"intervalSeconds": RELOAD_SECONDS}}}
    values_file = os.path.join(work, "values.json")
    with open(values_file, "w") as handle:
        json.dump(values, handle)
    helm = [str(REPO / ".tools" / "bin" / "helm"), "--kubeconfig", kube.kubeconfig, "-n", namespace]
    done = subprocess.run(helm + ["install", RELEASE, str(REPO / "charts" / "postgresql"), "-f", values_file],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    pod = "%s-0" % RELEASE
    try:
        kube.wait_for("pod %s ready" % pod, lambda: all(
            c["ready"] for c in kube.get("pod", pod)["status"]["containerStatuses"]), timeout=240)
    except AssertionError:
        logs = kube.run("logs", pod, "-c", "postgresql", check=False).stdout
        events = kube.run("get", "events", check=False).stdout
        raise AssertionError("PostgreSQL with TLS did not become ready:\n%s\n%s" % (logs, events)) from None
    yield dict(kube=kube, namespace=namespace, pod=pod, work=work, authority=authority, first=first,
               password=password, ca=os.path.join(work, "ca.crt"))
    subprocess.run(helm + ["uninstall", RELEASE, "--wait", "--timeout", "60s"], capture_output=True, check=False)


def _connect(server, port, **kwargs):
    return psycopg.connect(host="127.0.0.1", port=port, user="postgres", password=server["password"],
                           dbname="postgres", connect_timeout=5, **kwargs)


def test_the_key_as_mounted_is_accepted(kube, server):
    found = kube.run("exec", server["pod"], "-c", "postgresql", "--",
                     "stat", "-L", "-c", "%u:%g %a", "/etc/postgresql-tls/tls.key").stdout.strip()
    assert found == "0:999 440"
    pod = kube.get("pod", server["pod"])
    assert {c["name"]: c["restartCount"] for c in pod["status"]["containerStatuses"]} == {
        "postgresql": 0, "tls-reload": 0}


def test_tcp_logins_need_tls(server):
    with forwarded(server) as port, _connect(server, port, sslmode="verify-full", sslrootcert=server["ca"]) as conn:
        assert conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (
            True, "TLSv1.3")
    with forwarded(server) as port, pytest.raises(psycopg.OperationalError) as caught:
        _connect(server, port, sslmode="disable")
    assert 'no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "postgres", no encryption' \
        in str(caught.value)


def test_a_pod_verifies_the_service_name(kube, images, server):
    namespace = server["namespace"]
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "trust"},
                "data": {"ca.crt": open(server["ca"]).read()}})
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "login"},
                "stringData": {"password": server["password"]}})
    # Retried while the policy controller has not admitted the new pod yet (refused).
    program = (
        "import psycopg2, sys, time\n"
        "for mode in ('disable', 'verify-full'):\n"
        "    for _ in range(60):\n"
        "        try:\n"
        "            c = psycopg2.connect(host=sys.argv[1], user='postgres', dbname='postgres', sslmode=mode,\n"
        "                                 sslrootcert='/trust/ca.crt', password=open('/login/password').read(),\n"
        "                                 connect_timeout=5)\n"
        "            cur = c.cursor()\n"
        "            cur.execute('SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()')\n"
        "            outcome = cur.fetchone()[0]\n"
        "        except psycopg2.OperationalError as e:\n"
        "            outcome = str(e).strip().splitlines()[0]\n"
        "        if 'Connection refused' not in outcome:\n"
        "            break\n"
        "        time.sleep(1)\n"
        "    print(mode, outcome)\n")
    client = pod("client", images["mlflow"], ["python3", "-c", program, "%s.%s.svc" % (RELEASE, namespace)],
                 labels={"app.kubernetes.io/name": "mlflow"},
                 volumes=[{"name": "trust", "configMap": {"name": "trust"}},
                          {"name": "login", "secret": {"secretName": "login"}}],
                 mounts=[{"name": "trust", "mountPath": "/trust"}, {"name": "login", "mountPath": "/login"}])
    spec = client["spec"]
    spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
    spec["containers"][0]["securityContext"] = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    kube.apply(client)
    kube.wait_pod("client", phases=("Succeeded",), timeout=150)
    lines = kube.run("logs", "client").stdout.strip().splitlines()
    assert lines[0].startswith("disable ") and "no encryption" in lines[0], lines
    assert lines[1] == "verify-full TLSv1.3", lines


def test_a_renewed_certificate_is_served_without_a_restart(kube, server):
    uid = kube.get("pod", server["pod"])["metadata"]["uid"]
    assert served_serial(server) == server["first"].serial_number
    renewed_dir = os.path.join(server["work"], "renewed")
    renewed = _write_leaf(renewed_dir, server["authority"], server["namespace"])
    changed_at = time.monotonic()
    kube.apply(_tls_secret(renewed_dir))
    kube.wait_for("the renewed certificate served",
                  lambda: served_serial(server) == renewed.serial_number,
                  timeout=RENEWAL_BOUND, interval=2)
    elapsed = time.monotonic() - changed_at
    pod = kube.get("pod", server["pod"])
    assert pod["metadata"]["uid"] == uid
    assert {c["name"]: c["restartCount"] for c in pod["status"]["containerStatuses"]} == {
        "postgresql": 0, "tls-reload": 0}
    logs = kube.run("logs", server["pod"], "-c", "tls-reload").stdout
    assert logs.count("tls-reload: PostgreSQL reloaded its configuration") >= 2, logs
    server_log = kube.run("logs", server["pod"], "-c", "postgresql").stdout
    assert "received SIGHUP, reloading configuration files" in server_log
    print("renewed certificate served %.0f s after the Secret changed; reloader: %s"
          % (elapsed, [line for line in logs.splitlines() if line.startswith("tls-reload:")]))

"""End-to-end lifecycle of the stack on a real cluster, through the playbooks.

Runs against the cluster of $KUBECONFIG (default: the local cluster of
`make cluster`, .tools/cluster/kubeconfig) with inventories/local, in a
namespace of its own. The molecule `default` scenario (what `make molecule`
runs) makes and ends the stack, pointed at this namespace with
MLOPS_NAMESPACE: molecule syntax, converge (site.yml, which verifies),
idempotence (site.yml again, no change); then site.yml --check (no change),
site.yml renewing the TLS certificates while the stack serves (no pod
restarts, no gap), site.yml again changing only a deleted Secret, molecule
verify (pods from outside, testinfra inside them, verify.yml), the README's
(the seed's) Python client example through a port-forward, uninstall.yml
(keeps data), site.yml on the kept data (the example's run read back
unchanged), molecule destroy (uninstall.yml with mlops_purge). No cluster is a
failure, not a skip: these tests exist to prove the playbooks work on one.
"""
import base64
import contextlib
import hashlib
import json
import pickle
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time
import uuid

import pytest
from cryptography import x509

from e2e_support import KUBECONFIG, REPO, TOOLS_PATH, Availability, Stack, kubectl, readme_example, tool_env

NAMESPACE = f"mlops-e2e-{uuid.uuid4().hex[:6]}"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# The default release names.
STACK = Stack(NAMESPACE)
TIMINGS = STACK.timings


def playbook(name, *args, label=None):
    """Runs playbooks/<name> on the local inventory in the test namespace.

    Returns (changed, output); fails the test when the playbook fails."""
    output = STACK.playbook(name, *args, label=label)
    recaps = RECAP.findall(output)
    assert recaps, f"no PLAY RECAP in the output of {name}:\n{output[-3000:]}"
    assert all(int(r[4]) == 0 and int(r[3]) == 0 for r in recaps), output[-3000:]
    return sum(int(r[2]) for r in recaps), output


def molecule(action, label):
    """molecule <action> -s default in this test's namespace; returns its output.

    Fails the test when molecule fails (idempotence fails on any change)."""
    start = time.monotonic()
    proc = subprocess.run([shutil.which("molecule", path=TOOLS_PATH), action, "-s", "default"], cwd=REPO,
                          env=dict(tool_env(), MLOPS_NAMESPACE=NAMESPACE), capture_output=True, text=True,
                          timeout=1800, check=False)
    TIMINGS[label] = round(time.monotonic() - start, 1)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"molecule {action} failed (rc {proc.returncode}):\n{output[-6000:]}"
    return output


def changed_tasks(output):
    """Names of the tasks that reported a change, for assertion messages."""
    names, current = [], None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            current = line
        elif line.startswith("changed:") and current:
            names.append(current)
    return names


@pytest.fixture(scope="module")
def cluster():
    proc = kubectl("version", "-o", "json", check=False)
    if proc.returncode != 0:
        pytest.fail(f"no Kubernetes cluster answers at {KUBECONFIG} (run `make cluster`): {proc.stderr.strip()}")
    yield json.loads(proc.stdout)["serverVersion"]["gitVersion"]
    # Whatever happened, leave no namespace behind.
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
    print(f"\ntimings (s) in {NAMESPACE}: {json.dumps(TIMINGS)}")


def secret_value(name, key):
    out = kubectl("-n", NAMESPACE, "get", "secret", name, "-o", f"jsonpath={{.data.{key}}}").stdout
    return out


# Reads a run back through the server with the real client; prints one JSON line.
READ_RUN = r"""
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
run = client.get_run(sys.argv[2])
print(json.dumps({"experiment": client.get_experiment(run.info.experiment_id).name,
                  "status": run.info.status, "params": run.data.params, "metrics": run.data.metrics,
                  "artifacts": [a.path for a in client.list_artifacts(run.info.run_id)]}))
"""


# Appended to the README example: prints the run's id and the sha256 of its
# artifact downloaded from the server.
DOWNLOAD = """
import hashlib, tempfile
run_id = mlflow.last_active_run().info.run_id
print(run_id)
with tempfile.TemporaryDirectory() as target:
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model.pkl", dst_path=target)
    with open(path, "rb") as handle:
        print(hashlib.sha256(handle.read()).hexdigest())
"""


@contextlib.contextmanager
def port_forward(service, port):
    """kubectl port-forward svc/<service> to a free local port; yields the local port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local = probe.getsockname()[1]
    with subprocess.Popen([shutil.which("kubectl", path=TOOLS_PATH), "--kubeconfig", KUBECONFIG, "-n", NAMESPACE,
                           "port-forward", f"svc/{service}", f"{local}:{port}"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline()
            assert "Forwarding from" in line, f"port-forward to svc/{service} failed: {line}{proc.stderr.read()}"
            yield local
        finally:
            proc.terminate()


def python(code, *args, cwd=None, env=None):
    """Runs code (on stdin: it may hold a password) with the checkout's Python and the real mlflow client."""
    proc = subprocess.run([f"{REPO}/.tools/venv/bin/python", "-", *args], input=code, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"python failed:\n{proc.stderr[-4000:]}"
    return proc.stdout


def run_the_readme_example(workdir):
    """Runs the README's client example against the stack; returns the id of the
    run it logged and the admin password it used."""
    password = base64.b64decode(secret_value("mlflow-auth", "admin-password")).decode()
    with (workdir / "model.pkl").open("wb") as handle:
        pickle.dump({"weights": [0.1, 0.2]}, handle)
    with port_forward("mlflow", 5000) as local:
        code = readme_example().replace('"<password>"', repr(password)).replace(
            "http://localhost:5000", f"http://127.0.0.1:{local}")
        assert code.count(repr(password)) == 1 and str(local) in code, "the README example has changed its placeholders"
        env = {k: v for k, v in tool_env().items() if not k.startswith("MLFLOW_")}
        # Then, in the same client, the artifact back through the server: from
        # outside the cluster only the settings in the example make that work.
        output = python(code + DOWNLOAD, cwd=workdir, env=env)
    run_id, downloaded = output.strip().splitlines()[-2:]
    assert downloaded == hashlib.sha256((workdir / "model.pkl").read_bytes()).hexdigest(), "model.pkl differs"
    return run_id, password


def read_run(run_id, password):
    env = dict(tool_env(), MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password)
    with port_forward("mlflow", 5000) as local:
        return json.loads(python(READ_RUN, f"http://127.0.0.1:{local}", run_id, env=env).strip().splitlines()[-1])


def served_serial(service, port):
    """Serial number of the certificate the server behind the Service presents."""
    with port_forward(service, port) as local, socket.create_connection(("127.0.0.1", local), timeout=10) as raw:
        if service == "postgresql":
            # PostgreSQL speaks TLS after an SSLRequest packet answered with "S".
            raw.sendall(struct.pack("!ii", 8, 80877103))
            assert raw.recv(1) == b"S", "PostgreSQL refused TLS"
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(raw) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def stored_serial(service):
    pem = base64.b64decode(secret_value(f"{service}-tls", "tls\\.crt"))
    return x509.load_pem_x509_certificate(pem).serial_number


def renew_the_certificates_while_serving():
    """site.yml renews certificates due for renewal; PostgreSQL (through its
    reloader) and MinIO (by itself) serve the new ones without a restart while
    MLflow keeps answering requests that need the database."""
    servers = {"postgresql": 5432, "minio": 9000}
    before = {s: stored_serial(s) for s in servers}
    assert before == {s: served_serial(s, p) for s, p in servers.items()}, "the servers present other certificates"
    uids = {s: kubectl("-n", NAMESPACE, "get", "pod", f"{s}-0", "-o", "jsonpath={.metadata.uid}").stdout
            for s in servers}
    admin = ("admin", base64.b64decode(secret_value("mlflow-auth", "admin-password")).decode())
    availability = Availability(admin, NAMESPACE)
    availability.start()
    try:
        # Fresh certificates are 2160 h from expiry: within 3000 h, so due.
        changed, output = playbook("site.yml", "-e", "mlops_verify=false", "-e", "mlops_tls_certificate_hours=4000",
                                   "-e", "mlops_tls_renew_before_hours=3000", label="site (certificates due)")
        assert changed >= 2, f"site.yml renewed no certificate: {changed_tasks(output)}"
        after = {s: stored_serial(s) for s in servers}
        assert all(after[s] != before[s] for s in servers), (before, after)
        # The kubelet refreshes the mounted Secret within about a minute; the
        # PostgreSQL reloader checks it every minute.
        deadline = time.monotonic() + 240
        served = {}
        while time.monotonic() < deadline:
            served = {s: served_serial(s, p) for s, p in servers.items()}
            if served == after:
                break
            time.sleep(10)
        assert served == after, f"the servers still present the old certificates: {served} != {after}"
    finally:
        seen = availability.stop()
    print(f"\navailability during the renewal: {json.dumps(seen)}")
    assert max(seen["longest_gap_s"].values()) < 5, seen
    for s in servers:
        assert kubectl("-n", NAMESPACE, "get", "pod", f"{s}-0", "-o", "jsonpath={.metadata.uid}").stdout == uids[s], \
            f"the {s} pod was restarted"


def test_lifecycle(cluster, tmp_path):
    # First install, verified by site.yml itself (it imports verify.yml).
    molecule("syntax", "molecule syntax")
    output = molecule("converge", "molecule converge (site: install + verify)")
    recaps = RECAP.findall(output)
    assert recaps and sum(int(r[2]) for r in recaps) > 0, output[-3000:]
    assert "Staging -> Production, alias champion" in output
    secret_keys = [("mlflow-auth", "admin-password"), ("minio-auth", "root-password"),
                   ("postgresql-auth", "postgres-password"), ("mlflow-database", "password")]
    passwords = {s: secret_value(*s) for s in secret_keys}
    assert all(passwords.values())

    # Converged: a second run (molecule's idempotence) and a check-mode run change nothing.
    molecule("idempotence", "molecule idempotence (site: second run)")
    changed, output = playbook("site.yml", "--check", label="site --check")
    assert changed == 0, f"site.yml --check on a converged stack changed: {changed_tasks(output)}"
    for (name, key), value in passwords.items():
        assert secret_value(name, key) == value, f"{name}/{key} changed on a rerun"

    renew_the_certificates_while_serving()

    # After the renewal nothing is due: the next run's one change is a deleted
    # Secret, written again with the credentials it is derived from.
    s3_key = secret_value("mlflow-s3", "secret-access-key")
    kubectl("-n", NAMESPACE, "delete", "secret", "mlflow-s3")
    changed, output = playbook("site.yml", "-e", "mlops_verify=false", label="site (renewed; deleted Secret)")
    assert changed == 1, f"site.yml after the renewal and deleting Secret mlflow-s3 changed: {changed_tasks(output)}"
    assert secret_value("mlflow-s3", "secret-access-key") == s3_key

    # molecule verify: the pods from outside, testinfra inside them, then verify.yml.
    output = molecule("verify", "molecule verify")
    assert "Staging -> Production, alias champion" in output

    # The README's (the seed's) client example, unchanged but for the login.
    run_id, password = run_the_readme_example(tmp_path)
    logged = read_run(run_id, password)
    assert logged == {"experiment": "my-experiment", "status": "FINISHED", "params": {"learning_rate": "0.01"},
                      "metrics": {"accuracy": 0.95}, "artifacts": ["model.pkl"]}, logged

    # Uninstall keeps the data and the Secrets; a reinstall finds them again.
    _changed, output = playbook("uninstall.yml", label="uninstall (keep)")
    assert "Kept in namespace" in output
    assert kubectl("-n", NAMESPACE, "get", "pvc", "-o", "name").stdout.strip()
    _changed, _output = playbook("site.yml", label="site (reinstall on kept data)")
    for (name, key), value in passwords.items():
        assert secret_value(name, key) == value, f"{name}/{key} changed across uninstall"
    assert read_run(run_id, password) == logged, "the example's run differs after uninstall and reinstall"

    # molecule destroy purges: it removes everything.
    output = molecule("destroy", "molecule destroy (uninstall purge)")
    assert "Purged" in output
    proc = kubectl("get", "namespace", NAMESPACE, check=False)
    assert proc.returncode != 0 and "NotFound" in proc.stderr

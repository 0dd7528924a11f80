"""What the end-to-end tests share: the checkout's tools, kubectl, and playbook
runs on the local inventory in a test namespace.

The tests run against the cluster of $KUBECONFIG (default: the local cluster of
`make cluster`). MLOPS_E2E_EXTRA_VARS adds -e values to every playbook run.
"""
import base64
import contextlib
import hashlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

REPO = pathlib.Path(__file__).resolve().parents[2]


def tools_path(checkout=REPO):
    return f"{checkout}/.tools/bin:{checkout}/.tools/venv/bin:{os.environ.get('PATH', '')}"


TOOLS_PATH = tools_path()
KUBECONFIG = os.environ.get("KUBECONFIG") or str(REPO / ".tools" / "cluster" / "kubeconfig")
# Extra -e values for every playbook, e.g. "mlops_backup_pg_exec=false" to dump
# with the controller's pg_dump instead of in the PostgreSQL pod.
EXTRA_VARS = [arg for value in os.environ.get("MLOPS_E2E_EXTRA_VARS", "").split() for arg in ("-e", value)]
BACKUP_ID = re.compile(r"Backup (\d{8}T\d{6}Z(?:-\d+)?) complete")
DEFAULT_RELEASES = {"minio": "minio", "postgresql": "postgresql", "mlflow": "mlflow"}
RECAP = re.compile(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", re.M)


def tool_env(checkout=REPO):
    """The environment of a checkout's tools: its ansible.cfg finds its own collection."""
    env = dict(os.environ, PATH=tools_path(checkout), KUBECONFIG=KUBECONFIG,
               ANSIBLE_CONFIG=str(pathlib.Path(checkout) / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    # inventories/local prefers molecule's checkout to its own directory.
    env.pop("MOLECULE_PROJECT_DIRECTORY", None)
    return env


def kubectl(*args, check=True, timeout=120, stdin=None):
    binary = shutil.which("kubectl", path=TOOLS_PATH)
    proc = subprocess.run([binary, "--kubeconfig", KUBECONFIG, "--request-timeout=20s", *args],
                          capture_output=True, text=True, timeout=timeout, input=stdin, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def require_cluster():
    """No cluster is a failure, not a skip: these tests exist to prove the playbooks work on one."""
    proc = kubectl("get", "--raw", "/readyz", check=False)
    assert proc.returncode == 0, (
        f"no Kubernetes cluster reachable with {KUBECONFIG} ({proc.stderr.strip()}); run `make cluster`")


class Stack:
    """A stack in one test namespace, with its release names; times every playbook run.

    checkout: the checkout whose playbooks, inventory and tools run (default this one)."""

    def __init__(self, namespace, releases=None, checkout=REPO):
        self.namespace = namespace
        self.releases = dict(DEFAULT_RELEASES, **(releases or {}))
        self.checkout = pathlib.Path(checkout)
        self.timings = {}

    def release_vars(self):
        return [arg for component, release in self.releases.items()
                for arg in ("-e", f"{component}_release_name={release}")]

    def command(self, playbook, *args, namespace=None):
        """(path, argv) of ansible-playbook running playbooks/<playbook> (or a path) on the local inventory."""
        path = pathlib.Path(playbook) if os.sep in str(playbook) else self.checkout / "playbooks" / playbook
        return path, [shutil.which("ansible-playbook", path=tools_path(self.checkout)),
                      "-i", str(self.checkout / "inventories" / "local"),
                      "-e", f"mlops_namespace={namespace or self.namespace}", *self.release_vars(), *EXTRA_VARS,
                      str(path), *args]

    def start(self, playbook, *args):
        """ansible-playbook started in the background, its output to be read with communicate()."""
        _path, cmd = self.command(playbook, *args)
        return subprocess.Popen(cmd, cwd=self.checkout, env=tool_env(self.checkout), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def playbook(self, playbook, *args, label=None, expect_rc=0, namespace=None):
        """Runs playbooks/<playbook> (or a path) on the local inventory; returns its output.

        Fails the test when the return code is not the expected one (0, or any
        failure for expect_rc != 0)."""
        path, cmd = self.command(playbook, *args, namespace=namespace)
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=self.checkout, env=tool_env(self.checkout), capture_output=True, text=True,
                              timeout=1800, check=False)
        self.timings[label or path.name] = round(time.monotonic() - start, 1)
        output = proc.stdout + proc.stderr
        if expect_rc == 0:
            assert proc.returncode == 0, f"{path.name} {' '.join(args)} failed (rc {proc.returncode}):\n{output[-6000:]}"
        else:
            assert proc.returncode != 0, f"{path.name} {' '.join(args)} should have failed:\n{output[-4000:]}"
        return output

    @contextlib.contextmanager
    def installed(self):
        """site.yml (without verify) in the namespace; purged afterwards, whatever happened."""
        require_cluster()
        try:
            self.playbook("site.yml", "-e", "mlops_verify=false", label="site.yml")
            yield self
        finally:
            self.playbook("uninstall.yml", "-e", "mlops_purge=true", label="uninstall.yml purge (end)")
            print(f"\ntimings (s) in {self.namespace}: {json.dumps(self.timings)}")

    @contextlib.contextmanager
    def port_forward(self, component, port, kind="svc"):
        """kubectl port-forward to the component's Service (or kind/<release>, e.g. a
        statefulset for a port the Service does not carry) on a free local port; yields the port."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            local = probe.getsockname()[1]
        cmd = [shutil.which("kubectl", path=TOOLS_PATH), "--kubeconfig", KUBECONFIG, "-n", self.namespace,
               "port-forward", f"{kind}/{self.releases[component]}", f"{local}:{port}"]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
            try:
                line = proc.stdout.readline()
                assert "Forwarding from" in line, f"port-forward to {component} failed: {line}{proc.stderr.read()}"
                yield local
            finally:
                proc.terminate()

    def admin_password(self, component="mlflow"):
        return self.secret_data(f"{self.releases[component]}-auth")["admin-password" if component == "mlflow"
                                                                    else "root-password"]

    def secret_data(self, name, namespace=None):
        proc = kubectl("-n", namespace or self.namespace, "get", "secret", name, "-o", "json")
        return {key: base64.b64decode(value).decode() for key, value in json.loads(proc.stdout)["data"].items()}

    def secret_values(self):
        """Every credential value the stack keeps, to prove no output or manifest shows one."""
        values = []
        for name in (*(f"{release}-auth" for release in self.releases.values()), "mlflow-database", "mlflow-s3"):
            proc = kubectl("-n", self.namespace, "get", "secret", name, "-o", "json", check=False)
            if proc.returncode == 0:
                for key, value in json.loads(proc.stdout).get("data", {}).items():
                    if "password" in key or "secret" in key:
                        values.append(base64.b64decode(value).decode())
        return [v for v in values if len(v) >= 8]


# The stack the e2e modules share, installed once per session by the shared_stack
# fixture (conftest.py), with release names other than the defaults so every
# playbook must find the components by the names the inventory gives.
SHARED = Stack(f"mlops-bk-{uuid.uuid4().hex[:6]}",
               {"minio": "e2e-store", "postgresql": "e2e-meta", "mlflow": "e2e-tracking"})


# The stack of the upgrade test (default release names), which the migration
# test goes on with once it is upgraded: one install and one purge less. The
# upgraded_stack fixture (conftest.py) purges it at the end of the session.
UPGRADED = Stack(f"mlops-up-{uuid.uuid4().hex[:6]}")


def readme_example():
    """The README's Python client example (the seed's), unchanged: its two
    placeholders are the password and the port-forward's local port."""
    text = (REPO / "README.md").read_text()
    start = text.index("```python\n", text.index("The seed's Python client example")) + len("```python\n")
    return text[start:text.index("```", start)]


# --- refused runs (docs/bad-input.md) ----------------------------------------

RECAP_CHANGED = re.compile(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)", re.MULTILINE)
# What a refusal must never show: the name of an internal task, the API server's raw answer.
NOT_FOR_USERS = ("failed in task", '"kind": "Status"', "'kind': 'Status'", "Traceback")


def assert_refused(output, line, hidden=()):
    """The run stopped with the one line (alone, or after Ansible's "[ERROR]: Task failed: ..."
    prefix), changed nothing by its PLAY RECAP, and showed none of the hidden values."""
    changed = [int(count) for count in RECAP_CHANGED.findall(output)]
    assert changed and not any(changed), f"a refused run reported changes {changed}:\n{output[-3000:]}"
    assert any(text == line or text.endswith(": " + line) for text in output.splitlines()), (
        f"missing the line {line!r}:\n{output[-3000:]}")
    shown = [text for text in NOT_FOR_USERS if text in output]
    assert not shown, f"the refusal shows {shown}:\n{output[-3000:]}"
    assert not [value for value in hidden if value in output], "a secret value appears in the output"


# Everything a playbook could create or change in a namespace, by kind; pods,
# events and endpoints move on their own and are left out.
SNAPSHOT_KINDS = ("configmaps,secrets,serviceaccounts,roles.rbac.authorization.k8s.io,"
                  "rolebindings.rbac.authorization.k8s.io,leases.coordination.k8s.io,cronjobs,jobs,"
                  "deployments,statefulsets,services,persistentvolumeclaims")


def namespace_snapshot(namespace):
    """kind/name -> generation (spec changes) or resourceVersion of every object, and the
    ready replicas of the workloads (none in a namespace that does not exist)."""
    proc = kubectl("-n", namespace, "get", SNAPSHOT_KINDS, "-o", "json")
    snapshot = {}
    for item in json.loads(proc.stdout)["items"]:
        meta = item["metadata"]
        version = meta.get("generation") or meta["resourceVersion"]
        ready = item.get("status", {}).get("readyReplicas") if item["kind"] in ("Deployment", "StatefulSet") else None
        snapshot[f"{item['kind']}/{meta['name']}"] = (version, ready)
    return snapshot


def changed(output):
    recaps = RECAP.findall(output)
    assert recaps, f"no clean PLAY RECAP:\n{output[-3000:]}"
    return sum(int(count) for count in recaps)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_port_forward(namespace, service, port):
    """kubectl port-forward svc/<service>, answering on the returned local port."""
    local = free_port()
    proc = subprocess.Popen([shutil.which("kubectl", path=TOOLS_PATH), "--kubeconfig", KUBECONFIG, "-n", namespace,
                             "port-forward", f"svc/{service}", f"{local}:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", local), timeout=1):
            return proc, local
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    return None, None


class Availability(threading.Thread):
    """Polls MLflow's /health, and a read that needs the database, through a
    port-forward that is started again whenever it breaks; records the longest
    time without an answer of each."""

    def __init__(self, admin, namespace, poll_interval=0.5):
        super().__init__(daemon=True)
        self.namespace, self.poll_interval = namespace, poll_interval
        self.stopping = threading.Event()
        self.authorization = "Basic " + base64.b64encode(":".join(admin).encode()).decode()
        self.probes = {"health": "/health", "api": "/api/2.0/mlflow/experiments/search?max_results=1"}
        self.last_ok, self.gaps, self.windows = {}, {}, {name: [] for name in self.probes}
        self.polls = 0
        self.restarts = -1
        self.started = self.duration = 0.0

    def answered(self, local, path):
        request = urllib.request.Request(f"http://127.0.0.1:{local}{path}",
                                         headers={"Authorization": self.authorization})
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def record(self, name, ok, now):
        if ok:
            gap = now - self.last_ok[name]
            self.gaps[name] = max(self.gaps.get(name, 0.0), gap)
            if gap > 2 * self.poll_interval + 2:
                self.windows[name].append((round(self.last_ok[name] - self.started, 1), round(now - self.started, 1)))
            self.last_ok[name] = now

    def run(self):
        proc = local = None
        self.started = time.monotonic()
        self.last_ok = dict.fromkeys(self.probes, self.started)
        failures = 0
        while not self.stopping.is_set():
            if proc is None or proc.poll() is not None or failures >= 2:
                if proc is not None:
                    proc.kill()
                    proc.wait()
                proc, local = start_port_forward(self.namespace, "mlflow", 5000)
                self.restarts += 1
                failures = 0
            if proc is not None:
                results = {name: self.answered(local, path) for name, path in self.probes.items()}
                now = time.monotonic()
                for name, ok in results.items():
                    self.record(name, ok, now)
                failures = 0 if results["health"] else failures + 1
                self.polls += 1
            self.stopping.wait(self.poll_interval)
        if proc is not None:
            proc.kill()
            proc.wait()
        # Unanswered until the end counts as a gap too.
        self.duration = time.monotonic() - self.started
        for name in self.probes:
            self.gaps[name] = max(self.gaps.get(name, 0.0), self.started + self.duration - self.last_ok[name])

    def stop(self):
        self.stopping.set()
        self.join(timeout=30)
        return {"duration_s": round(self.duration, 1), "polls": self.polls, "port_forward_restarts": self.restarts,
                "longest_gap_s": {name: round(gap, 1) for name, gap in self.gaps.items()},
                "windows_s": self.windows}


# MLflow's sessions in PostgreSQL, and how many of them run over TLSv1.3.
MLFLOW_SESSIONS = ("SELECT count(*), count(*) FILTER (WHERE s.ssl AND s.version = 'TLSv1.3') FROM pg_stat_ssl s"
                   " JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'mlflow'")


def mlflow_sessions(namespace, postgresql_release="postgresql"):
    """(sessions MLflow holds in PostgreSQL, those encrypted with TLSv1.3), read as postgres in its pod."""
    counted = kubectl("-n", namespace, "exec", f"{postgresql_release}-0", "-c", "postgresql", "--",
                      "psql", "-X", "-At", "-U", "postgres", "-c", MLFLOW_SESSIONS).stdout.strip()
    total, encrypted = (int(n) for n in counted.split("|"))
    return total, encrypted


def serves_tls(namespace, release):
    """Whether the release's Service says its server speaks TLS (the charts' annotation)."""
    service = json.loads(kubectl("-n", namespace, "get", "service", release, "-o", "json").stdout)
    return (service["metadata"].get("annotations") or {}).get("mlops.stack/tls") == "on"


# --- the README example downloading artifacts (test_downloads_e2e, test_external_e2e) ---

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

"""Fixtures of the local cluster smoke tests (kubectl only, no client library).

They run against the cluster that `make cluster` brought up, through
$KUBECONFIG (default: .tools/cluster/kubeconfig), and skip when no cluster
answers. Each test module works in its own namespace, deleted afterwards.
"""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _images():
    """Image tags from .tools/cluster/images.env (written by images.sh)."""
    tags = {}
    env = REPO / ".tools" / "cluster" / "images.env"
    if env.exists():
        for line in env.read_text().splitlines():
            key, value = line.split("=", 1) if "=" in line else (line, "")
            if key.startswith("MLOPS_STACK_IMAGE_"):
                tags[key[len("MLOPS_STACK_IMAGE_"):].lower()] = value
    return tags


class Kubectl:
    def __init__(self, kubeconfig, namespace=None):
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.binary = shutil.which("kubectl", path=f"{REPO}/.tools/bin:{os.environ.get('PATH', '')}")

    def cmd(self, *args, namespaced=True):
        base = [self.binary, "--kubeconfig", self.kubeconfig, "--request-timeout=30s"]
        if namespaced and self.namespace:
            base += ["-n", self.namespace]
        return base + list(args)

    def run(self, *args, input=None, check=True, timeout=120, namespaced=True):
        proc = subprocess.run(self.cmd(*args, namespaced=namespaced), input=input, text=True,
                              capture_output=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): "
                                 f"{proc.stderr.strip()} {proc.stdout.strip()}")
        return proc

    def apply(self, obj):
        return self.run("apply", "-f", "-", input=json.dumps(obj))

    def get(self, *args, namespaced=True):
        return json.loads(self.run("get", *args, "-o", "json", namespaced=namespaced).stdout)

    def wait_for(self, what, predicate, timeout=180, interval=1.0):
        """Polls predicate() until it returns a true value, which it returns."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (AssertionError, KeyError, IndexError, json.JSONDecodeError) as exc:
                last = exc
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")

    def get_through_port_forward(self, target, remote_port, path):
        """Body of GET path from target's remote_port through kubectl port-forward."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(self.cmd("port-forward", target, f"{port}:{remote_port}"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            def fetch():
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                        return r.read().decode().strip()
                except OSError:  # not listening yet
                    return None
            return self.wait_for("port-forward", fetch, timeout=30)
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    def pod_phase(self, name):
        return self.get("pod", name).get("status", {}).get("phase")

    def wait_pod(self, name, phases=("Running",), timeout=180):
        def check():
            phase = self.pod_phase(name)
            if phase in ("Failed",) and "Failed" not in phases:
                logs = self.run("logs", name, check=False).stdout
                raise RuntimeError(f"pod {name} failed: {logs}")
            return phase in phases

        try:
            return self.wait_for(f"pod {name} in {phases}", check, timeout=timeout)
        except AssertionError:
            desc = self.run("describe", "pod", name, check=False).stdout
            raise AssertionError(f"pod {name} never reached {phases}:\n{desc}") from None


def cluster_kubeconfig():
    """The kubeconfig of the cluster, and why it cannot be used (None when it answers)."""
    path = os.environ.get("KUBECONFIG") or str(REPO / ".tools" / "cluster" / "kubeconfig")
    if not os.path.exists(path):
        return path, f"no cluster: {path} does not exist (run make cluster)"
    probe = Kubectl(path).run("version", "-o", "json", check=False, timeout=30, namespaced=False)
    if probe.returncode != 0:
        return path, f"no cluster answers through {path}: {probe.stderr.strip()}"
    return path, None


@pytest.fixture(scope="session")
def kubeconfig():
    path, problem = cluster_kubeconfig()
    if problem:
        pytest.skip(problem)
    return path


@pytest.fixture(scope="session")
def images():
    tags = _images()
    missing = {"postgresql", "mlflow"} - set(tags)
    if missing:
        pytest.skip(f"no image tags for {sorted(missing)} in .tools/cluster/images.env")
    return tags


@pytest.fixture(scope="module")
def kube(kubeconfig):
    namespace = f"smoke-{uuid.uuid4().hex[:8]}"
    k = Kubectl(kubeconfig, namespace)
    k.run("create", "namespace", namespace, namespaced=False)
    k.wait_for("default service account",
               lambda: k.run("get", "serviceaccount", "default", check=False).returncode == 0)
    yield k
    k.run("delete", "namespace", namespace, "--wait=false", check=False, namespaced=False)

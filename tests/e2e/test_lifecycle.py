"""End-to-end lifecycle of the stack on a real cluster, through the playbooks.

Runs against the cluster of $KUBECONFIG (default: the local cluster of
`make cluster`, .tools/cluster/kubeconfig) with inventories/local, in a
namespace of its own: site.yml (which verifies), site.yml again (no change),
site.yml --check (no change), verify.yml, uninstall.yml (keeps data), site.yml
on the kept data, uninstall.yml with mlops_purge. No cluster is a failure,
not a skip: these tests exist to prove the playbooks work on one.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess
import time
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TOOLS_PATH = f"{REPO}/.tools/bin:{REPO}/.tools/venv/bin:{os.environ.get('PATH', '')}"
KUBECONFIG = os.environ.get("KUBECONFIG") or str(REPO / ".tools" / "cluster" / "kubeconfig")
NAMESPACE = f"mlops-e2e-{uuid.uuid4().hex[:6]}"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
TIMINGS = {}


def _env():
    env = dict(os.environ, PATH=TOOLS_PATH, KUBECONFIG=KUBECONFIG,
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return env


def kubectl(*args, check=True):
    binary = shutil.which("kubectl", path=TOOLS_PATH)
    proc = subprocess.run([binary, "--kubeconfig", KUBECONFIG, "--request-timeout=20s", *args],
                          capture_output=True, text=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def playbook(name, *args, label=None):
    """Runs playbooks/<name> on the local inventory in the test namespace.

    Returns (changed, output); fails the test when the playbook fails."""
    cmd = [shutil.which("ansible-playbook", path=TOOLS_PATH), "-i", str(REPO / "inventories" / "local"),
           "-e", f"mlops_namespace={NAMESPACE}", str(REPO / "playbooks" / name), *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=1800,
                          check=False)
    TIMINGS[label or name] = round(time.monotonic() - start, 1)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{name} {' '.join(args)} failed (rc {proc.returncode}):\n{output[-6000:]}"
    recaps = RECAP.findall(output)
    assert recaps, f"no PLAY RECAP in the output of {name}:\n{output[-3000:]}"
    assert all(int(r[4]) == 0 and int(r[3]) == 0 for r in recaps), output[-3000:]
    return sum(int(r[2]) for r in recaps), output


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


def test_lifecycle(cluster):
    # First install, verified by site.yml itself (it imports verify.yml).
    changed, output = playbook("site.yml", label="site (install + verify)")
    assert changed > 0
    assert "Staging -> Production, alias champion" in output
    secret_keys = [("mlflow-auth", "admin-password"), ("minio-auth", "root-password"),
                   ("postgresql-auth", "postgres-password"), ("mlflow-database", "password")]
    passwords = {s: secret_value(*s) for s in secret_keys}
    assert all(passwords.values())

    # Converged: a second run and a check-mode run change nothing.
    changed, output = playbook("site.yml", label="site (second run)")
    assert changed == 0, f"second site.yml changed: {changed_tasks(output)}"
    changed, output = playbook("site.yml", "--check", label="site --check")
    assert changed == 0, f"site.yml --check on a converged stack changed: {changed_tasks(output)}"
    for (name, key), value in passwords.items():
        assert secret_value(name, key) == value, f"{name}/{key} changed on a rerun"

    # verify.yml on its own, keeping nothing.
    _changed, output = playbook("verify.yml", label="verify")
    assert "Staging -> Production, alias champion" in output

    # Uninstall keeps the data and the Secrets; a reinstall finds them again.
    _changed, output = playbook("uninstall.yml", label="uninstall (keep)")
    assert "Kept in namespace" in output
    assert kubectl("-n", NAMESPACE, "get", "pvc", "-o", "name").stdout.strip()
    _changed, _output = playbook("site.yml", label="site (reinstall on kept data)")
    for (name, key), value in passwords.items():
        assert secret_value(name, key) == value, f"{name}/{key} changed across uninstall"

    # Purge removes everything.
    _changed, output = playbook("uninstall.yml", "-e", "mlops_purge=true", label="uninstall (purge)")
    assert "Purged" in output
    proc = kubectl("get", "namespace", NAMESPACE, check=False)
    assert proc.returncode != 0 and "NotFound" in proc.stderr

"""The backup lock (roles/backup/tasks/lock.yml, unlock.yml, mlops.stack.lease) against a real API server.

A kube-apiserver on etcd (the binaries `scripts/setup.sh --cluster` builds
into .tools/bin; no nodes, no running cluster needed) holds the Lease. Two playbooks that take the
lock as a backup and as a restore, hold it a few seconds and release it,
are started together ten times: each time exactly one proceeds and the
other fails at once naming the holder. A lock left by a killed run is
refused until it expires and then taken over; a Lease left by the first
release's lock tasks is read the same way.
"""

import datetime
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from services import REPO, TOOLS_BIN, free_port, stop_process, wait_for

ROUNDS = 4
HOLD_SECONDS = 4
TOKEN = "lease-test-token"
NAMESPACE = "lease-test"
LEASE = "mlops-stack-backup"


class ApiServer:
    """etcd and kube-apiserver on loopback, reached with a token; a kubeconfig for them."""

    def __init__(self, base_dir):
        self.base_dir = base_dir
        self.port = free_port()
        self.processes = []

    def start(self):
        for binary in ("etcd", "kube-apiserver"):
            if not os.access(os.path.join(TOOLS_BIN, binary), os.X_OK):
                # Built with the cluster's tools only (scripts/setup.sh --cluster, make cluster).
                pytest.skip("%s missing in %s: scripts/setup.sh --cluster builds it" % (binary, TOOLS_BIN))
        key, public = os.path.join(self.base_dir, "sa.key"), os.path.join(self.base_dir, "sa.pub")
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
        subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-out", public], check=True, capture_output=True)
        tokens = os.path.join(self.base_dir, "tokens.csv")
        with open(tokens, "w") as handle:
            handle.write("%s,admin,admin,system:masters\n" % TOKEN)
        client, peer = free_port(), free_port()
        self._run("etcd", ["--data-dir", os.path.join(self.base_dir, "etcd"),
                           "--listen-client-urls", "http://127.0.0.1:%d" % client,
                           "--advertise-client-urls", "http://127.0.0.1:%d" % client,
                           "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
                           "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
                           "--initial-cluster", "default=http://127.0.0.1:%d" % peer])
        self._run("kube-apiserver", [
            "--etcd-servers=http://127.0.0.1:%d" % client, "--bind-address=127.0.0.1",
            "--secure-port=%d" % self.port, "--cert-dir=%s" % os.path.join(self.base_dir, "certs"),
            "--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file=%s" % public,
            "--service-account-signing-key-file=%s" % key, "--authorization-mode=AlwaysAllow",
            "--token-auth-file=%s" % tokens, "--service-cluster-ip-range=10.99.0.0/24",
            "--disable-admission-plugins=ServiceAccount"])
        wait_for(self._ready, "kube-apiserver", timeout=120, process=self.processes[-1],
                 log=os.path.join(self.base_dir, "kube-apiserver.log"))
        self.kubeconfig = os.path.join(self.base_dir, "kubeconfig")
        with open(self.kubeconfig, "w") as handle:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "test",
                       "clusters": [{"name": "test",
                                     "cluster": {"server": self.url, "insecure-skip-tls-verify": True}}],
                       "users": [{"name": "admin", "user": {"token": TOKEN}}],
                       "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}]}, handle)
        return self

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def _run(self, binary, args):
        log = open(os.path.join(self.base_dir, binary + ".log"), "w")
        self.processes.append(subprocess.Popen([os.path.join(TOOLS_BIN, binary)] + args, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True))

    def request(self, path, method="GET", body=None):
        context = ssl._create_unverified_context()  # the server's self-signed certificate, on loopback
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": "Bearer " + TOKEN,
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            data = response.read()
        return json.loads(data) if data.startswith(b"{") else data.decode()

    def _ready(self):
        try:
            if self.request("/readyz") != "ok":
                return False
            self.request("/api/v1/namespaces", "POST", {"apiVersion": "v1", "kind": "Namespace",
                                                        "metadata": {"name": NAMESPACE}})
            return True
        except Exception:  # pylint: disable=broad-except
            return False

    def lease(self):
        return self.request("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s" % (NAMESPACE, LEASE))

    def stop(self):
        for process in reversed(self.processes):
            stop_process(process)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    server = ApiServer(str(tmp_path_factory.mktemp("apiserver")))
    try:
        # Also when start() fails half way: a started etcd or kube-apiserver must not outlive the test.
        yield server.start()
    finally:
        server.stop()


def playbook(api, tmp_path, name, hold=HOLD_SECONDS, lock_seconds=900):
    """A playbook that takes the lock as name, holds it, and releases it, as every entry point does."""
    path = os.path.join(str(tmp_path), "%s.yml" % name)
    with open(path, "w") as handle:
        json.dump([{
            "hosts": "localhost", "gather_facts": False, "connection": "local",
            "vars": {"mlops_namespace": NAMESPACE, "mlops_kubeconfig": api.kubeconfig,
                     "mlops_backup_lock_seconds": lock_seconds},
            "tasks": [
                {"name": "Take the lock",
                 "ansible.builtin.include_role": {"name": "mlops.stack.backup", "tasks_from": "lock"},
                 "vars": {"__backup_lock_holder": name}},
                {"name": "Work", "ansible.builtin.pause": {"seconds": hold}},
                {"name": "Release the lock",
                 "ansible.builtin.include_role": {"name": "mlops.stack.backup", "tasks_from": "unlock"}},
            ]}], handle)
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", path,
               "-e", "ansible_python_interpreter=%s" % sys.executable]
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def finish(process):
    output = process.communicate(timeout=300)[0]
    return process.returncode, output


def wait_and_time(process, name, start, results, seconds):
    results[name] = finish(process)
    seconds[name] = time.monotonic() - start


def test_backup_and_restore_started_together_exactly_one_proceeds(api, tmp_path):
    outcomes = []
    for round_ in range(ROUNDS):
        start = time.monotonic()
        runs = {name: playbook(api, tmp_path, name) for name in ("backup", "restore")}
        results, seconds = {}, {}
        # Each run's output is read in its own thread, so each end is timed as it happens.
        threads = [threading.Thread(target=wait_and_time, args=(process, name, start, results, seconds))
                   for name, process in runs.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        proceeded = [name for name, (rc, _output) in results.items() if rc == 0]
        assert len(proceeded) == 1, "round %d: %s" % (round_, {n: r[1][-2000:] for n, r in results.items()})
        winner = proceeded[0]
        loser = "restore" if winner == "backup" else "backup"
        output = results[loser][1]
        assert "Failed to take the backup lock: Another backup or restore is running: Lease %s/%s is held by %s/" % (
            NAMESPACE, LEASE, winner) in output, output[-3000:]
        # At once: the loser never waited for the winner's work.
        assert seconds[loser] < seconds[winner] - HOLD_SECONDS / 2, (round_, seconds)
        spec = api.lease()["spec"]
        assert not spec.get("holderIdentity"), spec
        outcomes.append(winner)
    print("\nwinners: %s" % outcomes)


def test_a_killed_runs_lock_expires_and_is_taken_over(api, tmp_path):
    # Long enough for the next playbook to start and be refused on a busy machine.
    killed = playbook(api, tmp_path, "backup", hold=300, lock_seconds=60)
    wait_for(lambda: (api.lease()["spec"].get("holderIdentity") or "").startswith("backup/"), "the claim",
             timeout=60)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    refused = finish(playbook(api, tmp_path, "restore", hold=0))
    assert refused[0] != 0 and "is held by backup/" in refused[1], refused[1][-3000:]
    renewed = datetime.datetime.strptime(api.lease()["spec"]["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    expires = renewed.replace(tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=61)
    time.sleep(max(0.0, (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds()))
    taken = finish(playbook(api, tmp_path, "restore", hold=0))
    assert taken[0] == 0, taken[1][-3000:]
    assert "The lock of backup/" in taken[1] and "had expired" in taken[1], taken[1][-3000:]
    lease = api.lease()
    assert not lease["spec"].get("holderIdentity") and lease["spec"]["leaseTransitions"] >= 1


def test_a_lease_of_the_first_release_is_honoured(api, tmp_path):
    """0.1.0 deleted the Lease at release and wrote holder, times and 21600 s at claim."""
    lease = api.lease()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease["spec"] = {"holderIdentity": "backup/old-controller/abcd1234", "leaseDurationSeconds": 21600,
                     "acquireTime": now, "renewTime": now}
    api.request("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s" % (NAMESPACE, LEASE), "PUT", lease)
    refused = finish(playbook(api, tmp_path, "backup", hold=0))
    assert refused[0] != 0 and "is held by backup/old-controller/abcd1234" in refused[1], refused[1][-3000:]
    api.request("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s" % (NAMESPACE, LEASE), "DELETE")
    assert finish(playbook(api, tmp_path, "backup", hold=0))[0] == 0

"""The AWX "OpenShift or Kubernetes API Bearer Token" credential against the local cluster.

AWX gives a job K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_VERIFY_SSL and
K8S_AUTH_SSL_CA_CERT and no kubeconfig. With only those set (no KUBECONFIG, a
HOME without ~/.kube), the collection's Lease module takes and releases a
Lease, kubernetes.core.helm runs as the roles call it, and the roles'
port-forward script reaches a Service, all as a ServiceAccount allowed into one
throwaway namespace only; a wrong token is refused in one line, and the
server's certificate is checked unless K8S_AUTH_VERIFY_SSL is false.

Unlike the smoke tests, these fail when no cluster answers: CI brings one up
before `make cluster-test`, and a skipped credential test would hide the bug.
"""
import base64
import os
import subprocess
import sys
import urllib.request
import uuid

import pytest
import yaml
from conftest import REPO, Kubectl, _images, cluster_kubeconfig

ROLE = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "awx-job"},
        "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                   "verbs": ["get", "create", "update"]},
                  {"apiGroups": [""], "resources": ["services", "pods", "secrets"], "verbs": ["get", "list"]},
                  {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]}]}
PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Take or release the Lease with the credential's variables only
      mlops.stack.lease:
        name: awx-lease
        namespace: "{{ lease_namespace }}"
        holder: awx-job/test
        state: "{{ lease_state }}"
        duration: 60
    - name: Look for a release as the roles call helm (no kubeconfig, no context)
      kubernetes.core.helm:
        kubeconfig: "{{ none or omit }}"
        context: "{{ none or omit }}"
        release_name: absent-release
        release_namespace: "{{ lease_namespace }}"
        release_state: absent
      when: lease_state == 'held'
"""


@pytest.fixture(scope="module")
def admin():
    path, problem = cluster_kubeconfig()
    if problem:
        pytest.fail(problem)
    namespace = f"awx-token-{uuid.uuid4().hex[:8]}"
    kube = Kubectl(path, namespace)
    kube.run("create", "namespace", namespace, namespaced=False)
    try:
        kube.run("create", "serviceaccount", "awx-job")
        kube.apply(ROLE)
        kube.run("create", "rolebinding", "awx-job", "--role=awx-job", f"--serviceaccount={namespace}:awx-job")
        yield kube
    finally:
        kube.run("delete", "namespace", namespace, "--wait=false", check=False, namespaced=False)


@pytest.fixture(scope="module")
def credential(admin, tmp_path_factory):
    """The variables AWX injects for a bearer-token credential with a CA, and nothing else."""
    cluster = yaml.safe_load(admin.run("config", "view", "--raw", "--minify", "-o", "json",
                                       namespaced=False).stdout)["clusters"][0]["cluster"]
    private = tmp_path_factory.mktemp("awx")
    ca = private / "ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    home = private / "home"
    home.mkdir()
    token = admin.run("create", "token", "awx-job", "--duration=15m").stdout.strip()
    env = {key: value for key, value in os.environ.items()
           if key not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST") and not key.startswith("K8S_AUTH_")}
    env.update(HOME=str(home), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_LOCAL_TEMP=str(private / "tmp"),
               PATH=f"{REPO}/.tools/bin:{REPO}/.tools/venv/bin:{env.get('PATH', '')}",
               K8S_AUTH_HOST=cluster["server"], K8S_AUTH_API_KEY=token, K8S_AUTH_VERIFY_SSL="True",
               K8S_AUTH_SSL_CA_CERT=str(ca))
    return env


def playbook(env, namespace, state, tmp_path):
    book = tmp_path / "lease.yml"
    book.write_text(PLAYBOOK)
    return subprocess.run(
        [str(REPO / ".tools" / "venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"lease_namespace={namespace}",
         "-e", f"lease_state={state}", str(book)],
        env=env, cwd=str(REPO), capture_output=True, text=True, timeout=300, check=False)


def holder(admin):
    return admin.get("lease", "awx-lease")["spec"].get("holderIdentity")


def take_and_release(admin, env, tmp_path):
    """The output of taking the Lease, then of releasing it, each checked in the cluster."""
    taken = playbook(env, admin.namespace, "held", tmp_path)
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert holder(admin) == "awx-job/test"
    released = playbook(env, admin.namespace, "released", tmp_path)
    assert released.returncode == 0, released.stdout + released.stderr
    assert not holder(admin)
    return taken.stdout + released.stdout


def test_the_lease_module_takes_and_releases_a_lease_with_the_token(admin, credential, tmp_path):
    assert credential["K8S_AUTH_API_KEY"] not in take_and_release(admin, credential, tmp_path)


def test_a_wrong_token_is_refused_in_one_line(admin, credential, tmp_path):
    env = dict(credential, K8S_AUTH_API_KEY="wrong" + credential["K8S_AUTH_API_KEY"][5:])
    refused = playbook(env, admin.namespace, "held", tmp_path)
    assert refused.returncode != 0
    assert [line for line in refused.stdout.splitlines() if line.startswith("[ERROR]")] == [
        "[ERROR]: Task failed: Module failed: Failed to take the backup lock: "
        f"cannot read Lease {admin.namespace}/awx-lease: 401 Unauthorized"
    ], refused.stdout
    assert not [lease for lease in admin.get("leases")["items"] if lease["spec"].get("holderIdentity")]


def test_the_host_without_the_token_is_refused_naming_it(admin, credential, tmp_path):
    env = {key: value for key, value in credential.items() if key != "K8S_AUTH_API_KEY"}
    refused = playbook(env, admin.namespace, "held", tmp_path)
    assert refused.returncode != 0
    assert "K8S_AUTH_HOST is set but K8S_AUTH_API_KEY is empty or unset" in refused.stdout, refused.stdout


def test_the_port_forward_script_reaches_a_service_with_the_token(admin, credential):
    image = _images().get("mlflow")
    if not image:
        pytest.fail("no mlflow image tag in .tools/cluster/images.env (run make cluster)")
    admin.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
                 "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                     "name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                     "command": ["python3", "-m", "http.server", "8000", "-d", "/etc"]}]}})
    admin.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                 "spec": {"selector": {"app": "web"}, "ports": [{"port": 8000, "targetPort": 8000}]}})
    admin.wait_pod("web")
    started = subprocess.run(
        [str(REPO / "roles" / "component" / "files" / "port-forward.sh"), "kubectl", admin.namespace, "web", "8000"],
        env=credential, capture_output=True, text=True, timeout=60, check=False)
    assert started.returncode == 0, started.stderr
    pid, port = (int(field) for field in started.stdout.split())
    try:
        def fetch():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=5) as answer:
                    return answer.read().decode().strip()
            except OSError:
                return None
        assert admin.wait_for("the port-forward", fetch, timeout=30) == "web"
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            assert credential["K8S_AUTH_API_KEY"].encode() not in cmdline.read()
    finally:
        os.kill(pid, 15)


def test_the_token_reaches_no_other_namespace(admin, credential, tmp_path):
    """The modules use the ServiceAccount's token, not some administrator's kubeconfig."""
    other = playbook(credential, "default", "held", tmp_path)
    assert other.returncode != 0
    assert "cannot read Lease default/awx-lease: 403 Forbidden" in other.stdout, other.stdout


def test_the_certificate_is_checked_unless_verification_is_off(admin, credential, tmp_path):
    without_ca = {key: value for key, value in credential.items()
                  if key not in ("K8S_AUTH_SSL_CA_CERT", "K8S_AUTH_VERIFY_SSL")}
    checked = playbook(without_ca, admin.namespace, "held", tmp_path)
    assert checked.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in checked.stdout, checked.stdout
    take_and_release(admin, dict(without_ca, K8S_AUTH_VERIFY_SSL="False"), tmp_path)


def test_the_roles_name_a_missing_token_before_changing_anything(admin, credential, tmp_path):
    book = tmp_path / "minio.yml"
    book.write_text("- hosts: localhost\n  gather_facts: false\n  roles: [mlops.stack.minio]\n")
    env = {key: value for key, value in credential.items() if key != "K8S_AUTH_API_KEY"}
    refused = subprocess.run(
        [str(REPO / ".tools" / "venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"mlops_namespace={admin.namespace}-new",
         str(book)], env=env, cwd=str(REPO), capture_output=True, text=True, timeout=300, check=False)
    assert refused.returncode != 0
    assert (f"minio: cannot reach the Kubernetes cluster (K8S_AUTH_HOST {env['K8S_AUTH_HOST']} but "
            "K8S_AUTH_API_KEY is empty or unset)") in refused.stdout, refused.stdout
    assert admin.run("get", "namespace", f"{admin.namespace}-new", check=False, namespaced=False).returncode != 0

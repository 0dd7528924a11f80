"""mlops.stack.service_access against the local cluster's API server.

The roles' connect entry points read a component's login Secret, whether its
Service serves TLS and the CA that verifies it in one call of this module. In
a throwaway namespace: a Service annotated mlops.stack/tls=on with a trust
ConfigMap gives the decoded Secret and the CA in a private file; a Service
without the annotation gives no CA even when the ConfigMap exists; missing
objects are reported as missing (the roles turn that into their one-line
errors), and a cluster that cannot be reached fails in one line.
"""
import base64
import json
import os
import stat
import subprocess
import sys

from conftest import REPO

CA = "-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n"
PASSWORD = "p@ss: w/ord %s"


def service(name, annotations):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"ports": [{"port": 9000}], "selector": {"app": name}}}


def access(kube, tmp_path, **options):
    """The module's result (run through ansible-playbook, as the roles run it)."""
    book = tmp_path / "access.yml"
    task = dict(dict(namespace=kube.namespace, kubeconfig=kube.kubeconfig), **options)
    book.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"mlops.stack.service_access": task, "register": "result"},
        {"ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": str(tmp_path / "result.json")}}]}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    proc = subprocess.run([str(REPO / ".tools" / "venv" / "bin" / "ansible-playbook"), "-i", "localhost,",
                           "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", str(book)],
                          env=env, cwd=str(REPO), capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        return proc.stdout
    return json.loads((tmp_path / "result.json").read_text())


def test_one_call_reads_the_login_the_tls_state_and_the_ca(kube, tmp_path):
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "login"},
                "data": {"user": base64.b64encode(b"admin").decode(),
                         "password": base64.b64encode(PASSWORD.encode()).decode()}})
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "trust"}, "data": {"ca.crt": CA}})
    kube.apply(service("tls", {"mlops.stack/tls": "on"}))
    kube.apply(service("plain", {}))

    result = access(kube, tmp_path, secret="login", service="tls", trust_configmap="trust")
    assert isinstance(result, dict), result
    assert result["changed"] is False
    assert result["secret_found"] and result["credentials"] == {"user": "admin", "password": PASSWORD}
    assert result["service_found"] and result["serves_tls"] and result["ca_found"]
    ca_file = result["ca_file"]
    try:
        with open(ca_file) as handle:
            assert handle.read() == CA
        # Private to the user who ran it: the directory 0700, the file 0600.
        assert stat.S_IMODE(os.stat(ca_file).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(ca_file)).st_mode) == 0o700
    finally:
        os.remove(ca_file)
        os.rmdir(os.path.dirname(ca_file))

    # Without the annotation the Service is plain: no CA is read or written.
    plain = access(kube, tmp_path, service="plain", trust_configmap="trust")
    assert plain["service_found"] and not plain["serves_tls"] and not plain["ca_found"] and plain["ca_file"] == ""
    assert plain["secret_found"] is False and plain["credentials"] == {}


def test_missing_objects_are_reported_and_an_unreachable_cluster_fails_in_one_line(kube, tmp_path):
    kube.apply(service("tls-without-ca", {"mlops.stack/tls": "on"}))
    missing = access(kube, tmp_path, secret="no-such-secret", service="tls-without-ca", trust_configmap="no-such")
    assert missing["secret_found"] is False and missing["credentials"] == {}
    assert missing["serves_tls"] and not missing["ca_found"] and missing["ca_file"] == ""
    gone = access(kube, tmp_path, service="no-such-service")
    assert gone["service_found"] is False and gone["serves_tls"] is False

    # A cluster that cannot be reached: one line naming the configuration.
    unreachable = access(kube, tmp_path, secret="login", kubeconfig=str(tmp_path / "no-such-kubeconfig"))
    assert isinstance(unreachable, str), unreachable
    assert "Failed to read how to reach the Service: cannot load Kubernetes configuration" in unreachable, \
        unreachable[-2000:]
    assert "Traceback" not in unreachable

"""The scheduled backup's NetworkPolicy, as the role's template renders it.

No cluster: the template is rendered by ansible-playbook on localhost with the
role's defaults and vars and an EndpointSlice list as k8s_info returns it.
"""

import json
import os
import subprocess

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLE = os.path.join(REPO, "roles", "backup")
PLAYBOOK = os.path.join(REPO, ".tools", "venv", "bin", "ansible-playbook")
PYTHON = os.path.join(REPO, ".tools", "venv", "bin", "python")
SLICES = {"resources": [{
    "endpoints": [{"addresses": ["10.1.2.3"]}, {"addresses": ["fd00::1"]}],
    "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
}]}
KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]

pytestmark = pytest.mark.skipif(not os.access(PLAYBOOK, os.X_OK), reason="ansible not installed: run make setup")


def _render(tmp_path, **extra_vars):
    out = tmp_path / "policy.yml"
    play = [{
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [os.path.join(ROLE, "defaults", "main.yml"), os.path.join(ROLE, "vars", "main.yml")],
        "tasks": [{"ansible.builtin.copy": {
            "content": "{{ lookup('ansible.builtin.template', '%s') }}"
                       % os.path.join(ROLE, "templates", "schedule_networkpolicy.yml.j2"),
            "dest": str(out), "mode": "0600"}}],
    }]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    extra_vars["ansible_python_interpreter"] = PYTHON
    result = subprocess.run(
        [PLAYBOOK, "-i", "localhost,", "-c", "local", str(playbook), "-e", json.dumps(extra_vars)],
        capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return yaml.safe_load(out.read_text())


def _store(name):
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": name}}}


def test_the_backup_reaches_dns_the_stores_and_the_api_server_only(tmp_path):
    policy = _render(tmp_path, __backup_api_slices=SLICES)
    labels = {"app.kubernetes.io/name": "mlops-stack-backup", "app.kubernetes.io/part-of": "mlops-stack",
              "app.kubernetes.io/managed-by": "mlops.stack"}
    assert policy["metadata"]["name"] == "mlops-stack-backup"
    assert policy["spec"]["podSelector"] == {"matchLabels": labels}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"] == []
    assert policy["spec"]["egress"] == [
        {"ports": DNS_PORTS, "to": [KUBE_DNS]},
        {"ports": [{"port": "api", "protocol": "TCP"}], "to": [_store("minio")]},
        {"ports": [{"port": "postgresql", "protocol": "TCP"}], "to": [_store("postgresql")]},
        {"ports": [{"port": 6443, "protocol": "TCP"}],
         "to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}, {"ipBlock": {"cidr": "fd00::1/128"}}]},
    ]


def test_given_api_server_destination_and_extra_peers(tmp_path):
    extra = {"ipBlock": {"cidr": "192.0.2.0/24"}}
    policy = _render(
        tmp_path, __backup_api_slices=SLICES, minio_release_name="s3",
        mlops_backup_destination_endpoint_url="https://backups.example.com:9443",
        mlops_network_policy_dns_to=[], mlops_backup_schedule_extra_to=[extra],
        mlops_backup_schedule_api_server=[{"addresses": ["192.0.2.1"], "ports": [443]}])
    egress = policy["spec"]["egress"]
    assert egress[0] == {"ports": DNS_PORTS}
    assert egress[1]["to"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "s3"
    assert egress[3:] == [
        {"ports": [{"port": 9443, "protocol": "TCP"}]},
        {"ports": [{"port": 443, "protocol": "TCP"}], "to": [{"ipBlock": {"cidr": "192.0.2.1/32"}}]},
        {"to": [extra]},
    ]

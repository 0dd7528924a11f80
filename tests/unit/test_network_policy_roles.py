"""What the roles make of the NetworkPolicy variables: the chart values they
pass, and the scheduled backup's NetworkPolicy as the backup role's template
renders it.

No cluster: ansible-playbook evaluates them on localhost with the roles'
defaults and vars (and an EndpointSlice list as k8s_info returns it).
"""

import json
import os
import subprocess

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = os.path.join(REPO, "roles")
ROLE = os.path.join(ROLES, "backup")
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


def _evaluate(tmp_path, roles, template, **extra_vars):
    """TEMPLATE (Jinja text) rendered with the defaults and vars of ROLES and EXTRA_VARS, parsed as YAML."""
    out = tmp_path / "out.yml"
    files = [os.path.join(ROLES, role, part, "main.yml") for role in roles for part in ("defaults", "vars")]
    play = [{"hosts": "localhost", "gather_facts": False, "vars_files": files,
             "tasks": [{"ansible.builtin.copy": {"content": template, "dest": str(out), "mode": "0600"}}]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    extra_vars["ansible_python_interpreter"] = PYTHON
    result = subprocess.run(
        [PLAYBOOK, "-i", "localhost,", "-c", "local", str(playbook), "-e", json.dumps(extra_vars)],
        capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return yaml.safe_load(out.read_text())


def _render(tmp_path, **extra_vars):
    template = "{{ lookup('ansible.builtin.template', '%s') }}" % os.path.join(
        ROLE, "templates", "schedule_networkpolicy.yml.j2")
    return _evaluate(tmp_path, ["backup"], template, **extra_vars)


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


CHART_VALUES = ("{{ {'minio': __minio_chart_values.networkPolicy,"
                " 'postgresql': __postgresql_chart_values.networkPolicy,"
                " 'mlflow': __mlflow_chart_values.networkPolicy} | to_json }}")


def test_the_roles_pass_the_switch_and_the_peers_to_the_charts(tmp_path):
    roles = ["minio", "postgresql", "mlflow"]
    values = _evaluate(tmp_path, roles, CHART_VALUES)
    assert values == {
        "minio": {"enabled": True, "extraFrom": [], "extraTo": []},
        "postgresql": {"enabled": True, "extraFrom": [], "extraTo": []},
        "mlflow": {"enabled": True, "allowedFrom": [], "extraTo": []},
    }
    awx = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "awx"}}}
    values = _evaluate(tmp_path, roles, CHART_VALUES, mlops_network_policies=False, mlops_network_policy_dns_to=[],
                       mlops_install_minio=False, postgresql_network_policy_extra_from=[awx],
                       mlflow_network_policy_from=[awx])
    assert values == {
        "minio": {"enabled": False, "extraFrom": [], "extraTo": [], "dnsTo": []},
        "postgresql": {"enabled": False, "extraFrom": [awx], "extraTo": []},
        # External S3: its endpoint's port anywhere.
        "mlflow": {"enabled": False, "allowedFrom": [awx], "extraTo": [], "dnsTo": [], "artifactStoreTo": []},
    }

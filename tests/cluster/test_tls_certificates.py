"""The stack's CA and server certificates (roles/component/tasks/tls.yml) on the local cluster.

The MinIO and PostgreSQL roles' deploy entry points run as site.yml starts them
(input check first), in a namespace of this test's own, with a stub chart in
place of theirs (a ConfigMap, no pods): what is tested is what the roles write
before their releases. The certificates are read back with `cryptography`.
"""
import base64
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid

import pytest
from conftest import REPO, Kubectl
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

COLLECTIONS = os.path.join(REPO, ".tools", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.mlops.stack.plugins.filter.tls_dns_names import tls_dns_names  # noqa: E402

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the inputs as site.yml does
      mlops.stack.input_check:
        entry_points:
          minio: main
          postgresql: main
    - name: Start MinIO
      ansible.builtin.include_role:
        name: mlops.stack.minio
        tasks_from: deploy
    - name: Start PostgreSQL
      ansible.builtin.include_role:
        name: mlops.stack.postgresql
        tasks_from: deploy
    - name: Show what the TLS steps recorded
      ansible.builtin.debug:
        msg: "TLS {{ __component_tls | default({}) | to_json }}"
"""
STUB_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: stub\nversion: 0.1.0\n",
    "templates/configmap.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-stub\n"
                                 "data:\n  release: {{ .Release.Name | quote }}\n"),
}
MINIO_REPLICAS = 4
CA, TRUST = "mlops-tls-ca", "mlops-tls-trust"
LEAVES = {"minio": "minio-tls", "postgresql": "postgresql-tls"}


@pytest.fixture(scope="module")
def deploy(kubeconfig, tmp_path_factory):
    """Runs the playbook on a namespace: (returncode, output, changed, messages, the recorded TLS facts)."""
    work = tmp_path_factory.mktemp("tls")
    for name, text in STUB_CHART.items():
        (work / "chart" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "chart" / name).write_text(text)
    (work / "play.yml").write_text(PLAYBOOK)
    (work / "vars.json").write_text(json.dumps({
        "mlops_kubeconfig": kubeconfig, "minio_chart_ref": str(work / "chart"),
        "postgresql_chart_ref": str(work / "chart"), "minio_values": {"replicaCount": MINIO_REPLICAS}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_CALLBACK_RESULT_FORMAT="json",
               PATH=f"{REPO}/.tools/bin:{REPO}/.tools/venv/bin:{os.environ.get('PATH', '')}")

    def run(namespace, *extra, check=False):
        proc = subprocess.run(
            [str(REPO / ".tools" / "venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
             "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"@{work / 'vars.json'}",
             "-e", f"mlops_namespace={namespace}", *[arg for item in extra for arg in ("-e", item)],
             *(["--check"] if check else []), str(work / "play.yml")],
            env=env, cwd=str(REPO), capture_output=True, text=True, timeout=600, check=False)
        output = proc.stdout + proc.stderr
        recap = re.search(r"localhost\s*:.*changed=(\d+)", output)
        messages = [json.loads('"%s"' % text) for text in re.findall(r'"msg": "((?:[^"\\]|\\.)*)"', output)]
        facts = [json.loads(message[4:]) for message in messages if message.startswith("TLS {")]
        return proc.returncode, output, int(recap.group(1)) if recap else None, messages, facts[-1] if facts else {}

    return run


@pytest.fixture(scope="module")
def stack(kubeconfig):
    """A namespace the roles create on the first run, deleted afterwards."""
    # Long enough that the Services' full names exceed the 64 characters X.509 allows a common name.
    kube = Kubectl(kubeconfig, f"tls-certificates-in-a-long-namespace-{uuid.uuid4().hex[:8]}")
    yield kube
    kube.run("delete", "namespace", kube.namespace, "--wait=false", check=False, namespaced=False)


def _decoded(kube, kind, name):
    data = kube.get(kind, name)["data"]
    return {key: base64.b64decode(value) if kind == "secret" else value.encode() for key, value in data.items()}


def _versions(kube):
    """resourceVersion of every Secret and ConfigMap in the namespace."""
    return {(item["kind"], item["metadata"]["name"]): item["metadata"]["resourceVersion"]
            for item in kube.get("secrets,configmaps")["items"]}


def _hours_left(certificate):
    return (certificate.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 3600


def _by_release(facts):
    return {key.rsplit("|", 1)[1]: value for key, value in facts.items()}


def _check_ca(kube):
    stored = _decoded(kube, "secret", CA)
    assert kube.get("secret", CA)["type"] == "kubernetes.io/tls"
    assert stored["ca.crt"] == stored["tls.crt"]
    ca = x509.load_pem_x509_certificate(stored["tls.crt"])
    key = serialization.load_pem_private_key(stored["tls.key"], None)
    assert key.public_key().public_numbers() == ca.public_key().public_numbers()
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    ca.verify_directly_issued_by(ca)
    assert 87600 - 1 < _hours_left(ca) <= 87600
    assert _decoded(kube, "configmap", TRUST) == {"ca.crt": stored["tls.crt"]}
    return ca


def _check_leaf(kube, release, ca, hours):
    secret = kube.get("secret", LEAVES[release])
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"]["app.kubernetes.io/component"] == "tls"
    assert secret["metadata"]["labels"]["app.kubernetes.io/instance"] == release
    stored = _decoded(kube, "secret", LEAVES[release])
    assert stored["ca.crt"] == ca.public_bytes(serialization.Encoding.PEM)
    leaf = x509.load_pem_x509_certificate(stored["tls.crt"])
    leaf.verify_directly_issued_by(ca)
    key = serialization.load_pem_private_key(stored["tls.key"], None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    expected = tls_dns_names(release, kube.namespace, replicas=MINIO_REPLICAS if release == "minio" else 1)
    assert names.get_values_for_type(x509.DNSName) == expected
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    full_name = f"{release}.{kube.namespace}.svc.cluster.local"
    assert leaf.subject.rfc4514_string() == "CN=" + (full_name if len(full_name) <= 64 else release)
    assert leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert hours - 1 < _hours_left(leaf) <= hours
    return leaf


def test_the_first_run_makes_the_ca_the_server_certificates_and_the_trust_configmap(deploy, stack):
    code, output, changed, _messages, facts = deploy(stack.namespace)
    assert code == 0, output
    assert changed > 0
    ca = _check_ca(stack)
    for release in LEAVES:
        _check_leaf(stack, release, ca, 2160)
    trust = _decoded(stack, "configmap", TRUST)["ca.crt"]
    assert {release: (fact["secret_name"], fact["trust_configmap"], fact["renewed"])
            for release, fact in _by_release(facts).items()} == {
        "minio": ("minio-tls", TRUST, True), "postgresql": ("postgresql-tls", TRUST, True)}
    assert {fact["trust_sha256"] for fact in facts.values()} == {hashlib.sha256(trust).hexdigest()}


def test_a_second_run_changes_nothing(deploy, stack):
    before = _versions(stack)
    code, output, changed, _messages, facts = deploy(stack.namespace)
    assert code == 0, output
    assert changed == 0, output
    assert _versions(stack) == before
    assert not any(fact["renewed"] for fact in facts.values())


def test_check_mode_on_the_running_stack_changes_nothing(deploy, stack):
    before = _versions(stack)
    code, output, changed, _messages, _facts = deploy(stack.namespace, check=True)
    assert code == 0, output
    assert changed == 0, output
    assert _versions(stack) == before


def test_a_certificate_within_renew_before_is_signed_again_by_the_same_ca(deploy, stack):
    ca_version = _versions(stack)[("Secret", CA)]
    serials = {release: x509.load_pem_x509_certificate(_decoded(stack, "secret", name)["tls.crt"]).serial_number
               for release, name in LEAVES.items()}
    # Certificates of 2160 hours are due once renewal starts 3000 hours before the end.
    settings = ("mlops_tls_certificate_hours=4000", "mlops_tls_renew_before_hours=3000")
    code, output, changed, _messages, facts = deploy(stack.namespace, *settings)
    assert code == 0, output
    assert changed > 0
    assert _versions(stack)[("Secret", CA)] == ca_version
    ca = _check_ca(stack)
    for release in LEAVES:
        assert _check_leaf(stack, release, ca, 4000).serial_number != serials[release]
    assert all(fact["renewed"] for fact in facts.values())
    code, output, changed, _messages, _facts = deploy(stack.namespace, *settings)
    assert (code, changed) == (0, 0), output


def test_a_lost_ca_is_made_again_and_every_certificate_signed_by_it(deploy, stack):
    lost = _decoded(stack, "secret", CA)["tls.crt"]
    stack.run("delete", "secret", CA)
    code, output, changed, _messages, facts = deploy(stack.namespace)
    assert code == 0, output
    ca = _check_ca(stack)
    assert ca.public_bytes(serialization.Encoding.PEM) != lost
    # Not due (signed for 4000 hours above), but signed by a CA that is gone.
    for release in LEAVES:
        _check_leaf(stack, release, ca, 2160)
    assert all(fact["renewed"] for fact in facts.values())


def _without_helm_records(versions):
    return {key: value for key, value in versions.items() if not key[1].startswith("sh.helm.release.")}


def test_tls_off_leaves_the_certificates_alone(deploy, stack):
    before = _versions(stack)
    code, output, changed, _messages, facts = deploy(stack.namespace, "mlops_tls=false")
    assert code == 0, output
    # The only changes are the two Helm upgrades to TLS-off values (Helm keeps
    # them in release Secrets of its own); no TLS step ran, and the CA, the
    # certificates and the trust ConfigMap are as they were.
    assert changed == len(LEAVES), output
    assert facts == {}
    assert _without_helm_records(_versions(stack)) == _without_helm_records(before)


@pytest.mark.parametrize("setting,line", [
    ("mlops_tls_renew_before_hours=3000",
     "mlops_tls_renew_before_hours: must be less than mlops_tls_certificate_hours, which is 2160 (3000)"),
    ("mlops_tls_certificate_hours=0", "mlops_tls_certificate_hours: must be a whole number of hours, at least 1 (0)"),
    ("mlops_tls_ca_hours=ten", "mlops_tls_ca_hours: must be a whole number of hours, at least 1 (ten)"),
    ("mlops_tls=perhaps", "mlops_tls: must be true or false (perhaps)"),
])
def test_bad_input_is_refused_in_one_line_and_changes_nothing(deploy, stack, setting, line):
    before = _versions(stack)
    code, output, changed, _messages, _facts = deploy(stack.namespace, setting)
    assert code != 0
    assert [text for text in output.splitlines() if text.startswith("[ERROR]")] == [
        f"[ERROR]: Task failed: Action failed: {line}"], output
    assert changed == 0
    assert _versions(stack) == before


def test_check_mode_on_a_new_namespace_reports_what_it_would_create(deploy, kubeconfig):
    namespace = f"tls-{uuid.uuid4().hex[:8]}"
    code, output, _changed, messages, _facts = deploy(namespace, check=True)
    assert code == 0, output
    for release, leaf in LEAVES.items():
        wanted = [f"{release}: would create Secret {namespace}/{CA}",
                  f"{release}: would create Secret {namespace}/{leaf}",
                  f"{release}: would create ConfigMap {namespace}/{TRUST}"]
        assert [message for message in messages if message in wanted] == wanted, output
    probe = Kubectl(kubeconfig).run("get", "namespace", namespace, check=False, namespaced=False)
    assert probe.returncode != 0 and "NotFound" in probe.stderr

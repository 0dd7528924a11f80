"""End-to-end: the shared stack reached as external services and through an external S3 endpoint.

Runs last on the stack the e2e modules share (conftest.py), after one site.yml
that gives it both settings below; they are not taken back (the stack is
purged at the end of the session), which saves two site.yml runs.

- An MLflow of its own, in another namespace, with mlops_install_minio and
  mlops_install_postgresql false, on this stack's PostgreSQL and MinIO as
  external services (reached by DNS name, logins given as variables the role
  writes into Secrets, TLS verified with the stack's CA as users verify a
  private CA). This stack's NetworkPolicies admit only its own MLflow: the other
  namespace's MLflow pods are an extra allowed peer of its PostgreSQL and MinIO,
  through the roles' variables.
- With mlflow_artifacts.external_endpoint_url set to a MinIO address the client
  reaches (a port-forward here, an ingress for users), the server hands out
  presigned URLs naming it and the README's client downloads through them.
  MinIO serves HTTPS with the stack's CA, which the client trusts as users
  trust a private CA: REQUESTS_CA_BUNDLE.
"""
import base64
import hashlib
import json
import re
import ssl
import urllib.request

import pytest

from e2e_support import SHARED, kubectl, run_example, server_info, write_payload

STACK = SHARED
NAMESPACE, RELEASES = STACK.namespace, STACK.releases
OTHER = f"{NAMESPACE}-ext"


@pytest.fixture(scope="module")
def external_endpoint(shared_stack, tmp_path_factory):
    """site.yml with the other namespace's MLflow as an extra peer of PostgreSQL and
    MinIO, and MinIO's external endpoint a port-forward open for the whole module."""
    peer = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": OTHER}},
             "podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}}]
    with shared_stack.port_forward("minio", 9000) as minio_port:
        external = f"https://127.0.0.1:{minio_port}"
        settings = tmp_path_factory.mktemp("external-endpoint") / "settings.json"
        settings.write_text(json.dumps({"postgresql_network_policy_extra_from": peer,
                                        "minio_network_policy_extra_from": peer,
                                        "mlflow_artifacts": {"external_endpoint_url": external}}))
        shared_stack.playbook("site.yml", "-e", "mlops_verify=false", "-e", f"@{settings}",
                              label="site.yml external endpoint and extra peers")
        yield external


def test_presigned_downloads_use_the_external_endpoint(external_endpoint, tmp_path):
    password = STACK.admin_password()
    logged = write_payload(tmp_path / "model.pkl", 300 * 1024)
    bundle = json.loads(kubectl("-n", NAMESPACE, "get", "configmap", "mlops-tls-trust",
                                "-o", "json").stdout)["data"]["ca.crt"]
    (tmp_path / "ca.crt").write_text(bundle)
    trust = {"REQUESTS_CA_BUNDLE": str(tmp_path / "ca.crt")}
    with STACK.port_forward("mlflow", 5000) as port:
        assert server_info(port)["multipart_downloads_enabled"] is True
        result = run_example(tmp_path, password, port, timeout=600, extra_env=trust)
        assert result["sha256"] == logged
        path = f"{result['experiment']}/{result['run']}/artifacts/model.pkl"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.0/mlflow-artifacts/presigned/{path}",
            headers={"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()})
        with urllib.request.urlopen(request, timeout=30) as response:
            presigned = json.load(response)
    assert presigned["url"].startswith(external_endpoint + "/"), presigned["url"]
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    with urllib.request.urlopen(presigned["url"], timeout=60, context=context) as response:
        assert hashlib.sha256(response.read()).hexdigest() == logged


def test_mlflow_on_external_services(external_endpoint, tmp_path):
    database, s3 = STACK.secret_data("mlflow-database"), STACK.secret_data("mlflow-s3")
    suffix = f"{NAMESPACE}.svc.cluster.local"
    settings = {
        "mlops_install_minio": False,
        "mlops_install_postgresql": False,
        # Served with TLS by this stack, verified with its CA like any private CA.
        "mlflow_backend_store": {"host": f"{RELEASES['postgresql']}.{suffix}", "database": "mlflow",
                                 "ssl_mode": "verify-full", "ca_configmap": "external-ca",
                                 "secret_name": "external-database"},
        "mlflow_backend_store_username": database["username"],
        "mlflow_backend_store_password": database["password"],
        "mlflow_artifacts": {"endpoint_url": f"https://{RELEASES['minio']}.{suffix}:9000", "bucket": "mlflow",
                             "path": "external", "ca_configmap": "external-ca", "secret_name": "external-s3"},
        "mlflow_artifacts_access_key_id": s3["access-key-id"],
        "mlflow_artifacts_secret_access_key": s3["secret-access-key"],
        "mlops_verify_keep": True,
    }
    settings_file = tmp_path / "external.json"
    settings_file.touch(mode=0o600)
    settings_file.write_text(json.dumps(settings))
    # The other namespace holds the CA bundle as a user with a private CA would.
    bundle = json.loads(kubectl("-n", NAMESPACE, "get", "configmap", "mlops-tls-trust", "-o", "json").stdout)
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OTHER}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "external-ca", "namespace": OTHER},
         "data": {"ca.crt": bundle["data"]["ca.crt"]}}]}))
    try:
        output = STACK.playbook("site.yml", "-e", f"@{settings_file}", namespace=OTHER, label="site.yml external")
        assert "MinIO check skipped: external artifact store" in output
        assert "PostgreSQL check skipped: external database" in output
        assert not [v for v in (database["password"], s3["secret-access-key"]) if v in output], \
            "a credential appears in site.yml's output"
        installed = kubectl("get", "statefulsets", "-n", OTHER, "-o", "name").stdout.split()
        assert not installed, f"site.yml installed {installed} although both services are external"
        run_id = re.search(r"Run ([0-9a-f]{32}) in experiment", output).group(1)
        # The external server's run is in this stack's database, its artifact
        # under the prefix it was given in this stack's bucket.
        status = kubectl("-n", NAMESPACE, "exec", f"{RELEASES['postgresql']}-0", "-c", "postgresql", "--",
                         "psql", "-U", "postgres", "-d", "mlflow", "-tAc",
                         f"SELECT status || ' ' || artifact_uri FROM runs WHERE run_uuid = '{run_id}'").stdout.strip()
        # Artifacts are proxied: the run records a server URI, the server maps it
        # to s3://mlflow/external/.
        assert status.startswith("FINISHED mlflow-artifacts:/"), status
        listing = kubectl("-n", NAMESPACE, "exec", f"{RELEASES['minio']}-0", "-c", "minio", "--", "sh", "-c",
                          "SSL_CERT_FILE=/tmp/certs/CAs/ca.crt mc alias set local https://127.0.0.1:9000"
                          " \"$(cat /run/secrets/minio/root-user)\""
                          " \"$(cat /run/secrets/minio/root-password)\""
                          " >/dev/null && SSL_CERT_FILE=/tmp/certs/CAs/ca.crt mc ls --recursive local/mlflow/external/"
                          ).stdout
        assert run_id in listing, f"no artifact of run {run_id} under s3://mlflow/external/:\n{listing}"
        again = STACK.playbook("site.yml", "-e", f"@{settings_file}", "-e", "mlops_verify=false", namespace=OTHER,
                               label="site.yml external again")
        assert re.search(r"changed=0\s", again), again[-3000:]
    finally:
        STACK.playbook("uninstall.yml", "-e", "mlops_purge=true", namespace=OTHER, label="uninstall.yml external")

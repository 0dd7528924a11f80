"""What the roles make of the TLS and Ingress variables: the chart values they pass.

No cluster: ansible-playbook evaluates them on localhost with the roles'
defaults and vars (the helper of test_network_policy_roles).
"""

from test_network_policy_roles import _evaluate

ROLES = ["minio", "postgresql", "mlflow"]
MLFLOW = ("{{ {'database': {'sslMode': __mlflow_chart_values.backendStore.sslMode,"
          " 'tls': __mlflow_chart_values.backendStore.tls},"
          " 's3': {'endpointUrl': __mlflow_chart_values.artifacts.s3.endpointUrl,"
          " 'caConfigMap': __mlflow_chart_values.artifacts.s3.caConfigMap,"
          " 'caKey': __mlflow_chart_values.artifacts.s3.caKey}} | to_json }}")


def test_mlflow_verifies_the_stack_s_own_servers_by_default(tmp_path):
    assert _evaluate(tmp_path, ROLES, MLFLOW) == {
        "database": {"sslMode": "verify-full", "tls": {"caConfigMap": "mlops-tls-trust", "caKey": "ca.crt"}},
        "s3": {"endpointUrl": "https://minio:9000", "caConfigMap": "mlops-tls-trust", "caKey": "ca.crt"},
    }


def test_without_tls_mlflow_connects_as_before(tmp_path):
    assert _evaluate(tmp_path, ROLES, MLFLOW, mlops_tls=False) == {
        "database": {"sslMode": "prefer", "tls": {"caConfigMap": "", "caKey": "ca.crt"}},
        "s3": {"endpointUrl": "http://minio:9000", "caConfigMap": "", "caKey": "ca.crt"},
    }


def test_each_server_s_switch_and_the_trust_configmap_name(tmp_path):
    values = _evaluate(tmp_path, ROLES, MLFLOW, minio_tls=False, minio_release_name="s3",
                       mlops_tls_trust_configmap="our-ca")
    assert values["database"] == {"sslMode": "verify-full", "tls": {"caConfigMap": "our-ca", "caKey": "ca.crt"}}
    assert values["s3"] == {"endpointUrl": "http://s3:9000", "caConfigMap": "", "caKey": "ca.crt"}


def test_external_services_keep_what_the_inventory_says(tmp_path):
    values = _evaluate(tmp_path, ROLES, MLFLOW, mlops_install_postgresql=False, mlops_install_minio=False,
                       mlflow_artifacts={"endpoint_url": "https://s3.example.com", "ca_configmap": "corp-ca"})
    assert values["database"] == {"sslMode": "prefer", "tls": {"caConfigMap": "", "caKey": "ca.crt"}}
    assert values["s3"] == {"endpointUrl": "https://s3.example.com", "caConfigMap": "corp-ca", "caKey": "ca.crt"}


INGRESS = "{{ __mlflow_chart_values.ingress | to_json }}"


def test_no_ingress_by_default(tmp_path):
    assert _evaluate(tmp_path, ROLES, INGRESS) == {
        "enabled": False, "host": "", "className": "", "annotations": {}, "tls": []}


def test_the_ingress_terminates_tls_with_the_given_secret(tmp_path):
    issuer = {"cert-manager.io/cluster-issuer": "corp"}
    values = _evaluate(tmp_path, ROLES, INGRESS, mlflow_ingress={
        "enabled": True, "host": "mlflow.example.com", "class_name": "nginx", "tls_secret_name": "mlflow-cert",
        "annotations": issuer})
    assert values == {"enabled": True, "host": "mlflow.example.com", "className": "nginx", "annotations": issuer,
                      "tls": [{"secretName": "mlflow-cert", "hosts": ["mlflow.example.com"]}]}


SERVERS = ("{{ {'postgresql': __postgresql_chart_values.tls, 'minio': __minio_chart_values.tls} | to_json }}")


def test_the_server_roles_mount_their_certificate_by_default(tmp_path):
    assert _evaluate(tmp_path, ROLES, SERVERS) == {
        "postgresql": {"enabled": True, "existingSecret": "postgresql-tls"},
        "minio": {"enabled": True, "existingSecret": "minio-tls"},
    }
    assert _evaluate(tmp_path, ROLES, SERVERS, mlops_tls=False, minio_release_name="s3") == {
        "postgresql": {"enabled": False, "existingSecret": ""},
        "minio": {"enabled": False, "existingSecret": ""},
    }

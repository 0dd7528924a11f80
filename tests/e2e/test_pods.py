"""Checks inside the stack's pods, read with pytest-testinfra's kubectl backend.

They run against the cluster of KUBECONFIG (the local cluster by default) after
playbooks/site.yml, and fail, never skip, when no stack is there.
"""

import json
import os
import subprocess

import pytest
import testinfra

NAMESPACE = os.environ.get("MLOPS_NAMESPACE", "mlops")
KUBECTL = os.environ.get("KUBECTL", "kubectl")


def pod_for(component):
    output = subprocess.run(
        [KUBECTL, "get", "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=%s" % component,
         "-o", "json"], check=True, capture_output=True, text=True).stdout
    pods = [pod for pod in json.loads(output)["items"]
            if pod["status"].get("phase") == "Running"
            and pod["metadata"]["labels"].get("app.kubernetes.io/component") != "gc"]
    assert pods, "no running %s pod in namespace %s" % (component, NAMESPACE)
    return pods[0]["metadata"]["name"]


def host_for(component, container=None):
    uri = "kubectl://%s?namespace=%s" % (pod_for(component), NAMESPACE)
    if container:
        uri += "&container=%s" % container
    return testinfra.get_host(uri)


@pytest.mark.parametrize("component", ["minio", "postgresql", "mlflow"])
def test_component_runs_as_non_root(component):
    host = host_for(component)
    assert host.check_output("id -u") != "0"


def test_postgresql_data_directory_is_initialised_and_private():
    host = host_for("postgresql")
    data = host.check_output("sh -c 'echo ${PGDATA:-/var/lib/postgresql/data}'")
    version = host.file(data + "/PG_VERSION")
    assert version.exists
    assert int(version.content_string.strip()) >= 15
    assert host.file(data).mode & 0o077 == 0


def test_postgresql_server_process_listens_on_5432():
    host = host_for("postgresql")
    # The image needs only the server binaries, so read the socket table directly.
    listening = host.check_output("cat /proc/net/tcp /proc/net/tcp6")
    assert ":1538 " in listening  # 5432 in hex


def test_minio_serves_its_data_directory():
    host = host_for("minio")
    assert host.file("/data").is_directory
    assert host.file("/data/.minio.sys").is_directory


def test_mlflow_has_its_database_driver_and_s3_client():
    host = host_for("mlflow")
    # The landscape's most common complaint: images without psycopg2 or boto3.
    assert host.run("python3 -c 'import psycopg2, boto3, mlflow'").rc == 0


def test_mlflow_server_binds_all_interfaces_on_5000():
    host = host_for("mlflow")
    listening = host.check_output("cat /proc/net/tcp")
    assert "00000000:1388 " in listening  # 0.0.0.0:5000

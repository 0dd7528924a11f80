"""Unit tests for the Kubernetes client and pod exec opening."""

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import k8s
from ansible_collections.mlops.stack.plugins.module_utils.errors import KubernetesError


class FakeApi:
    def __init__(self, client):
        self.client = client

    def connect_get_namespaced_pod_exec(self, *args, **kwargs):
        raise AssertionError("only called through the stream stub")


def test_exec_asks_for_raw_channels(monkeypatch):
    calls = []
    monkeypatch.setattr(k8s, "CoreV1Api", FakeApi)
    monkeypatch.setattr(k8s, "k8s_stream", lambda function, pod, namespace, **kwargs: calls.append(
        (pod, namespace, kwargs)) or "ws")
    assert k8s.open_exec("client", "postgresql-0", "mlops", ["psql"], container="db", stdin=True) == "ws"
    pod, namespace, kwargs = calls[0]
    assert (pod, namespace) == ("postgresql-0", "mlops")
    assert kwargs == dict(command=["psql"], stderr=True, stdout=True, stdin=True, tty=False,
                          _preload_content=False, container="db")


def test_exec_failure_is_one_line(monkeypatch):
    class Refused(Exception):
        reason = "Forbidden:\n pods/exec is not allowed"

    def refuse(*args, **kwargs):
        raise Refused()

    monkeypatch.setattr(k8s, "CoreV1Api", FakeApi)
    monkeypatch.setattr(k8s, "k8s_stream", refuse)
    with pytest.raises(KubernetesError) as caught:
        k8s.open_exec("client", "postgresql-0", "mlops", ["psql"])
    assert caught.value.message == "cannot exec in pod mlops/postgresql-0: Forbidden: pods/exec is not allowed"


def test_a_missing_kubeconfig_is_reported(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(KubernetesError, match="cannot load Kubernetes configuration"):
        k8s.kubernetes_client(str(tmp_path / "missing"))

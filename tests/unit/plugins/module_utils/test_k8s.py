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


# The precedence rule of module_utils/k8s.py, read from the environment alone.
TOKEN_ENV = {"K8S_AUTH_HOST": "https://api.example.com:6443/", "K8S_AUTH_API_KEY": "t0ken",
             "K8S_AUTH_VERIFY_SSL": "True"}


def test_module_options_win_over_the_token_variables():
    settings = k8s.connection_settings("/etc/kubeconfig", None, dict(TOKEN_ENV))
    assert settings == dict(source="kubeconfig", kubeconfig="/etc/kubeconfig", context=None)
    settings = k8s.connection_settings(None, "other", dict(TOKEN_ENV))
    assert settings == dict(source="kubeconfig", kubeconfig=None, context="other")


def test_the_token_variables_win_over_kubeconfig_variables_and_the_service_account(tmp_path):
    ca = tmp_path / "ca.crt"
    ca.write_text("not parsed here")
    environ = dict(TOKEN_ENV, K8S_AUTH_SSL_CA_CERT=str(ca), K8S_AUTH_KUBECONFIG="/k", K8S_AUTH_CONTEXT="c",
                   KUBERNETES_SERVICE_HOST="10.96.0.1", KUBECONFIG="/other")
    assert k8s.connection_settings(environ=environ) == dict(
        source="token", host="https://api.example.com:6443", api_key="t0ken", verify_ssl=True,
        ssl_ca_cert=str(ca))


@pytest.mark.parametrize("value, verify", [("", True), ("True", True), ("yes", True), ("1", True),
                                           ("False", False), ("no", False), ("0", False)])
def test_verify_ssl_is_on_unless_set_false(value, verify):
    environ = dict(TOKEN_ENV, K8S_AUTH_VERIFY_SSL=value)
    assert k8s.connection_settings(environ=environ)["verify_ssl"] is verify


def test_no_ca_is_checked_when_verification_is_off():
    environ = dict(TOKEN_ENV, K8S_AUTH_VERIFY_SSL="false", K8S_AUTH_SSL_CA_CERT="/missing/ca.crt")
    settings = k8s.connection_settings(environ=environ)
    assert (settings["verify_ssl"], settings["ssl_ca_cert"]) == (False, None)


def test_kubeconfig_variables_come_after_the_token():
    environ = {"K8S_AUTH_KUBECONFIG": "/k", "K8S_AUTH_CONTEXT": "c", "KUBERNETES_SERVICE_HOST": "10.96.0.1"}
    assert k8s.connection_settings(environ=environ) == dict(source="kubeconfig", kubeconfig="/k", context="c")


def test_the_service_account_unless_kubeconfig_is_set():
    assert k8s.connection_settings(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1"}) == dict(source="in_cluster")
    assert k8s.connection_settings(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBECONFIG": "/k"}) == dict(
        source="kubeconfig", kubeconfig=None, context=None)
    assert k8s.connection_settings(environ={}) == dict(source="kubeconfig", kubeconfig=None, context=None)


@pytest.mark.parametrize("environ, line", [
    ({"K8S_AUTH_HOST": "https://api:6443"},
     "K8S_AUTH_HOST is set but K8S_AUTH_API_KEY is empty or unset: give the bearer token too, "
     "or unset K8S_AUTH_HOST"),
    ({"K8S_AUTH_HOST": "https://api:6443", "K8S_AUTH_API_KEY": " "},
     "K8S_AUTH_HOST is set but K8S_AUTH_API_KEY is empty or unset: give the bearer token too, "
     "or unset K8S_AUTH_HOST"),
    ({"K8S_AUTH_API_KEY": "t0ken"},
     "K8S_AUTH_API_KEY is set but K8S_AUTH_HOST is empty or unset: give the API server URL too, "
     "or unset K8S_AUTH_API_KEY"),
    ({"K8S_AUTH_HOST": "api:6443", "K8S_AUTH_API_KEY": "t0ken"},
     "K8S_AUTH_HOST must be the API server's https:// URL, not 'api:6443'"),
    (dict(TOKEN_ENV, K8S_AUTH_VERIFY_SSL="maybe"), "K8S_AUTH_VERIFY_SSL must be true or false, not 'maybe'"),
    (dict(TOKEN_ENV, K8S_AUTH_SSL_CA_CERT="/missing/ca.crt"),
     "K8S_AUTH_SSL_CA_CERT names /missing/ca.crt, which is not a readable file"),
])
def test_bad_variables_get_one_line_naming_them(environ, line):
    with pytest.raises(KubernetesError) as caught:
        k8s.connection_settings(environ=environ)
    assert caught.value.message == line
    assert "t0ken" not in caught.value.message


def test_the_token_client_carries_the_token_and_the_checks(tmp_path, monkeypatch):
    ca = tmp_path / "ca.crt"
    ca.write_text("not parsed here")
    for name, value in dict(TOKEN_ENV, K8S_AUTH_SSL_CA_CERT=str(ca)).items():
        monkeypatch.setenv(name, value)
    configuration = k8s.kubernetes_client().configuration
    assert configuration.host == "https://api.example.com:6443"
    assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer t0ken"
    assert (configuration.verify_ssl, configuration.ssl_ca_cert) == (True, str(ca))

"""NetworkPolicies are enforced on the local cluster (kube-router's policy controller).

An ingress policy admits only labelled clients, an egress policy keeps a pod to
DNS, and what Kubernetes leaves unfiltered stays open: the node's own traffic
(the kubelet's probes) and kubectl port-forward. Skipped when the cluster was
made with MLOPS_STACK_NETWORK_POLICY=none.
"""
import os

import pytest
from test_smoke import pod

pytestmark = pytest.mark.skipif(os.environ.get("MLOPS_STACK_NETWORK_POLICY") == "none",
                                reason="the cluster enforces no NetworkPolicy")

# Tries for up to a minute (the controller applies a policy within seconds)
# until the connection's outcome is the wanted one; prints the last outcome.
CONNECT = r"""
import socket, sys, time
host, port, wanted = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for _ in range(60):
    try:
        socket.create_connection((host, port), timeout=3).close()
        outcome = "open"
    except OSError:
        outcome = "closed"
    if outcome == wanted:
        break
    time.sleep(1)
print(outcome)
"""


def _outcome(kube, images, name, labels, host, port, wanted):
    kube.apply(pod(name, images["mlflow"], ["python3", "-c", CONNECT, host, str(port), wanted], labels=labels))
    kube.wait_pod(name, phases=("Succeeded",), timeout=150)
    return kube.run("logs", name).stdout.strip()


@pytest.fixture(scope="module")
def web(kube, images):
    server = pod("web", images["mlflow"], ["python3", "-m", "http.server", "8000", "-d", "/etc"],
                 labels={"app": "web"}, restart="Always")
    # A probe from the node: policies must never block it.
    server["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": 8000}, "periodSeconds": 2}
    kube.apply(server)
    kube.wait_pod("web")
    kube.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "web"},
                "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                                      "ports": [{"port": 8000, "protocol": "TCP"}]}]}})
    kube.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "dns-only"},
                "spec": {"podSelector": {"matchLabels": {"egress": "dns-only"}}, "policyTypes": ["Egress"],
                         "egress": [{"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}]}})
    return kube.get("pod", "web")["status"]["podIP"]


def test_ingress_admits_only_the_labelled_client(kube, images, web):
    assert _outcome(kube, images, "stranger", {"app": "stranger"}, web, 8000, "closed") == "closed"
    assert _outcome(kube, images, "client", {"role": "client"}, web, 8000, "open") == "open"


def test_egress_keeps_a_pod_to_dns(kube, images, web):
    assert _outcome(kube, images, "confined", {"role": "client", "egress": "dns-only"}, web, 8000,
                    "closed") == "closed"
    name = "kubernetes.default.svc.cluster.local"
    kube.apply(pod("resolver", images["mlflow"], ["getent", "hosts", name], labels={"egress": "dns-only"}))
    kube.wait_pod("resolver", phases=("Succeeded",), timeout=120)
    assert kube.run("logs", "resolver").stdout.split()[0] == "10.96.0.1"


def test_probes_and_port_forward_are_not_filtered(kube, web):
    ready = kube.get("pod", "web")["status"]["conditions"]
    assert {c["type"]: c["status"] for c in ready}["Ready"] == "True"
    assert kube.get_through_port_forward("pod/web", 8000, "/hostname") == "web"

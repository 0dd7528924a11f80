"""The server certificates name what the charts render: every Service and pod a client dials.

The roles build the names with the filter mlops.stack.tls_dns_names from the
release name; here they are compared with the Services, the StatefulSet and the
MinIO peers' URLs that helm template renders for the same release.
"""

import os
import re
import sys

import pytest
from test_charts import NAMESPACE, REPO, find, one, render

COLLECTIONS = os.path.join(REPO, ".tools", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.mlops.stack.plugins.filter.tls_dns_names import tls_dns_names  # noqa: E402


def _dialled(docs, domain="cluster.local"):
    """Every name a client inside the cluster dials the release by: its Services, and each pod of the
    StatefulSet through its headless Service."""
    names = set()
    for service in find(docs, "Service"):
        names.add("%s.%s.svc.%s" % (service["metadata"]["name"], NAMESPACE, domain))
    statefulset = one(docs, "StatefulSet")
    for index in range(statefulset["spec"].get("replicas", 1)):
        names.add("%s-%d.%s.%s.svc.%s" % (statefulset["metadata"]["name"], index, statefulset["spec"]["serviceName"],
                                          NAMESPACE, domain))
    return names


# The roles set fullnameOverride to the release name.
@pytest.mark.parametrize("chart,release,values", [
    ("postgresql", "postgresql", {}),
    ("postgresql", "team-db", {}),
    ("minio", "minio", {}),
    ("minio", "minio", {"mode": "distributed", "replicaCount": 4}),
    ("minio", "s3", {"mode": "distributed", "replicaCount": 6}),
])
def test_the_certificate_names_every_service_and_pod(chart, release, values):
    docs = render(chart, dict(values, fullnameOverride=release), release=release)
    names = tls_dns_names(release, NAMESPACE, replicas=values.get("replicaCount", 1))
    assert _dialled(docs) <= set(names)
    assert names[0] == "%s.%s.svc.cluster.local" % (release, NAMESPACE)


def test_the_minio_peers_dial_names_of_the_certificate():
    docs = render("minio", {"mode": "distributed", "replicaCount": 4, "fullnameOverride": "minio"})
    volumes = " ".join(one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0].get("args", []))
    first, last, rest = re.search(r"https?://minio-\{(\d+)\.\.\.(\d+)\}(\.[^/]+)/", volumes).groups()
    peers = {"minio-%d%s" % (index, rest) for index in range(int(first), int(last) + 1)}
    assert len(peers) == 4
    assert peers <= set(tls_dns_names("minio", NAMESPACE, replicas=4))

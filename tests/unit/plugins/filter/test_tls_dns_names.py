"""The DNS names of a release's server certificate (the filter mlops.stack.tls_dns_names).

That the names are those the charts give the Services and pods is tested against
helm template in tests/unit/charts/test_tls_ca.py.
"""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.stack.plugins.filter.tls_dns_names import FilterModule, tls_dns_names


def test_postgresql_in_its_namespace():
    assert tls_dns_names("postgresql", "mlops") == [
        "postgresql.mlops.svc.cluster.local",
        "postgresql",
        "postgresql.mlops",
        "postgresql.mlops.svc",
        "postgresql-headless.mlops.svc.cluster.local",
        "postgresql-0.postgresql-headless.mlops.svc.cluster.local",
        "localhost",
    ]


def test_every_minio_server_is_named_for_its_peers():
    names = tls_dns_names("minio", "ml", cluster_domain="example.internal", replicas="4")
    assert names[0] == "minio.ml.svc.example.internal"
    assert [name for name in names if name.startswith("minio-") and not name.startswith("minio-headless")] == [
        "minio-%d.minio-headless.ml.svc.example.internal" % index for index in range(4)
    ]


def test_extra_names_come_last_and_no_name_twice():
    names = tls_dns_names("minio", "ml", extra=["s3.example.com", "localhost", "minio", " s3.example.com "])
    assert names[-2:] == ["localhost", "s3.example.com"]
    assert len(names) == len(set(names))


def test_a_long_release_name_is_cut_as_helm_cuts_it():
    release = "r" * 60
    names = tls_dns_names(release, "ml")
    headless = "r" * 60 + "-he"
    assert "%s.ml.svc.cluster.local" % headless in names
    assert "%s-0.%s.ml.svc.cluster.local" % (release, headless) in names


@pytest.mark.parametrize("args,kwargs,message", [
    (("", "ml"), {}, "needs a release name and a namespace"),
    (("minio", ""), {}, "needs a release name and a namespace"),
    (("minio", "ml"), {"replicas": "four"}, "replicas must be an integer"),
    (("minio", "ml"), {"replicas": 0}, "replicas must be at least 1"),
    (("minio", "ml"), {"extra": "s3.example.com"}, "extra must be a list of names"),
    (("minio", "ml"), {"extra": [1]}, "extra must be a list of names"),
])
def test_bad_arguments_are_refused_in_one_line(args, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        tls_dns_names(*args, **kwargs)


def test_the_filter_is_registered():
    assert FilterModule().filters() == {"tls_dns_names": tls_dns_names}

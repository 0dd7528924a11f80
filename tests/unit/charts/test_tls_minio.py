"""MinIO over HTTPS in the charts: charts/minio's tls values and the trust
charts/mlflow gives its S3 client (artifacts.s3.caConfigMap)."""

import pytest
from test_charts import EVERYTHING, env_of, find, one, render, render_error

TLS = {"tls.enabled": True, "tls.existingSecret": "minio-tls"}
DISTRIBUTED = {"mode": "distributed", "replicaCount": 4}
PROBES = ("startupProbe", "livenessProbe", "readinessProbe")


def _server(docs):
    spec = one(docs, "StatefulSet", "minio")["spec"]["template"]["spec"]
    return spec, spec["containers"][0]


def _volume(spec, name):
    return next((v for v in spec["volumes"] if v["name"] == name), None)


def _mount(container, name):
    return next((m for m in container["volumeMounts"] if m["name"] == name), None)


def test_tls_off_by_default_renders_nothing_of_it():
    docs = render("minio", DISTRIBUTED)
    spec, server = _server(docs)
    assert _volume(spec, "certs") is None and _mount(server, "certs") is None
    assert "--certs-dir=/tmp/certs" in server["args"]
    assert server["args"][-1].startswith("http://")
    assert {server[probe]["httpGet"]["scheme"] for probe in PROBES} == {"HTTP"}
    assert "MINIO_SERVER_URL" not in env_of(server)
    assert "annotations" not in one(docs, "Service", "minio")["metadata"]


def test_the_secret_is_mounted_as_the_certs_dir():
    spec, server = _server(render("minio", TLS))
    assert "--certs-dir=/tmp/certs" in server["args"]
    assert _mount(server, "certs") == {"name": "certs", "mountPath": "/tmp/certs", "readOnly": True}
    volume = _volume(spec, "certs")["secret"]
    assert volume["secretName"] == "minio-tls"
    # Readable by the pod's fsGroup (the minio user's group) only.
    assert volume["defaultMode"] == 0o440
    assert spec["securityContext"]["fsGroup"] == 1000
    assert {item["key"]: item["path"] for item in volume["items"]} == {
        "tls.crt": "public.crt", "tls.key": "private.key", "ca.crt": "CAs/ca.crt"}


def test_probes_use_https():
    _spec, server = _server(render("minio", TLS))
    for probe in PROBES:
        assert server[probe]["httpGet"]["scheme"] == "HTTPS", probe
        assert server[probe]["httpGet"]["port"] == "api"


@pytest.mark.parametrize("drives,suffix", [(1, "/data"), (2, "/data{0...1}")])
def test_distributed_peers_are_https(drives, suffix):
    _spec, server = _server(render("minio", dict(TLS, drivesPerNode=drives, **DISTRIBUTED)))
    assert server["args"][-1] == "https://minio-{0...3}.minio-headless.mlops.svc.cluster.local" + suffix


def test_standalone_keeps_its_local_drive():
    _spec, server = _server(render("minio", TLS))
    assert server["args"][-1] == "/data"


@pytest.mark.parametrize("port", [9000, 9443])
def test_the_console_logs_in_through_localhost(port):
    _spec, server = _server(render("minio", dict(TLS, **{"service.port": port})))
    assert env_of(server)["MINIO_SERVER_URL"] == {"name": "MINIO_SERVER_URL", "value": "https://localhost:%d" % port}
    assert "--address=:%d" % port in server["args"]


def test_no_server_url_without_the_console():
    _spec, server = _server(render("minio", dict(TLS, **{"console.enabled": False})))
    assert "MINIO_SERVER_URL" not in env_of(server)
    assert env_of(server)["MINIO_BROWSER"]["value"] == "off"


def test_the_service_says_tls_and_keeps_other_annotations():
    docs = render("minio", dict(TLS, **{"service.annotations": {"example.com/owner": "data"}}))
    assert one(docs, "Service", "minio")["metadata"]["annotations"] == {
        "mlops.stack/tls": "on", "example.com/owner": "data"}
    # The headless Service is for the servers only.
    assert "annotations" not in one(docs, "Service", "minio-headless")["metadata"]


def test_tls_without_a_secret_is_refused():
    error = render_error("minio", {"tls.enabled": True})
    assert "tls.existingSecret is required with tls.enabled" in error


@pytest.mark.parametrize("values", [{"tls.enabled": "yes"}, {"tls.existingSecret": "Not_A_Name"}, {"tls.ca": "x"}])
def test_schema_rejects_bad_tls_values(values):
    assert "values don't meet the specifications of the schema" in render_error("minio", values)


def test_service_monitor_scrapes_https_with_the_ca():
    endpoint = one(render("minio", dict(TLS, **{"metrics.serviceMonitor.enabled": True})),
                   "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["scheme"] == "https"
    assert endpoint["tlsConfig"] == {"serverName": "minio.mlops.svc",
                                     "ca": {"secret": {"name": "minio-tls", "key": "ca.crt"}}}


def test_everything_on_with_tls_renders():
    docs = render("minio", dict(EVERYTHING["minio"], **TLS))
    _spec, server = _server(docs)
    assert server["args"][-1].startswith("https://")
    assert len(find(docs, "Ingress")) == 2


# --- mlflow: trusting the S3 endpoint's CA ------------------------------------

S3_CA = "/run/secrets/mlflow/tls/s3-ca.crt"


def _ca_sources(spec):
    volume = next(v for v in spec["volumes"] if v["name"] == "credentials")
    return [s["configMap"] for s in volume["projected"]["sources"] if "configMap" in s]


def _pods(docs):
    for kind in ("Deployment", "Job", "CronJob"):
        for doc in find(docs, kind):
            template = doc["spec"]["jobTemplate"]["spec"]["template"] if kind == "CronJob" else doc["spec"]["template"]
            yield doc["metadata"]["name"], template["spec"]


def test_mlflow_uses_the_system_cas_by_default():
    for name, spec in _pods(render("mlflow", {"gc.enabled": True})):
        assert _ca_sources(spec) == [], name
        for container in spec.get("initContainers", []) + spec["containers"]:
            assert "AWS_CA_BUNDLE" not in env_of(container), (name, container["name"])


@pytest.mark.parametrize("key", ["ca.crt", "bundle.pem"])
def test_mlflow_server_trusts_the_ca_config_map(key):
    docs = render("mlflow", {"artifacts.s3.endpointUrl": "https://minio:9000",
                             "artifacts.s3.caConfigMap": "mlops-tls-trust", "artifacts.s3.caKey": key,
                             "gc.enabled": True})
    pods = dict(_pods(docs))
    server_spec = pods["mlflow"]
    assert _ca_sources(server_spec) == [{"name": "mlops-tls-trust", "items": [{"key": key, "path": "tls/s3-ca.crt"}]}]
    server = next(c for c in server_spec["containers"] if c["name"] == "mlflow")
    assert env_of(server)["AWS_CA_BUNDLE"] == {"name": "AWS_CA_BUNDLE", "value": S3_CA}
    credentials = next(m for m in server["volumeMounts"] if m["name"] == "credentials")
    assert S3_CA.startswith(credentials["mountPath"] + "/")
    assert "MLFLOW_S3_IGNORE_TLS" not in env_of(server)
    # Only the server talks to S3: the migration Job and gc (through the server) do not.
    for name, spec in pods.items():
        if name != "mlflow":
            assert _ca_sources(spec) == [], name
            assert all("AWS_CA_BUNDLE" not in env_of(c) for c in spec["containers"]), name


def test_mlflow_network_policy_follows_the_https_port():
    docs = render("mlflow", {"artifacts.s3.endpointUrl": "https://minio:9000",
                             "artifacts.s3.caConfigMap": "mlops-tls-trust"})
    egress = one(docs, "NetworkPolicy")["spec"]["egress"]
    assert any(p.get("port") == 9000 for rule in egress for p in rule.get("ports", []))


@pytest.mark.parametrize("values", [{"artifacts.s3.caConfigMap": "Bad_Name"}, {"artifacts.s3.caKey": "a b"}])
def test_mlflow_schema_rejects_bad_ca_values(values):
    assert "values don't meet the specifications of the schema" in render_error("mlflow", values)

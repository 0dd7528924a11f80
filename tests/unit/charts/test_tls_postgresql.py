"""TLS of the postgresql chart and of MLflow's database client, from helm template.

Nothing talks to a cluster; the tls-reload loop runs here with a stand-in psql.
"""

import os
import re
import subprocess
import time

import pytest
import test_charts as charts
from test_charts import containers, env_of, one, render, render_error

pytestmark = charts.pytestmark

TLS = {"tls.enabled": True, "tls.existingSecret": "postgresql-tls"}
TLS_EVERYTHING = dict(charts.EVERYTHING["postgresql"], **TLS)
TLS_DIR = "/etc/postgresql-tls"
CA_PATH = "/run/secrets/mlflow/tls/database-ca.crt"


def _pod(docs):
    return one(docs, "StatefulSet")["spec"]["template"]


def _container(docs, name):
    (found,) = [c for c in containers(_pod(docs)["spec"]) if c["name"] == name]
    return found


def _conf(docs, name):
    return one(docs, "ConfigMap")["data"][name]


def _hba_rules(docs):
    return [line.split() for line in _conf(docs, "pg_hba.conf").splitlines() if line and not line.startswith("#")]


# --- postgresql: off ------------------------------------------------------------

def test_tls_is_off_by_default():
    docs = render("postgresql", {"metrics.enabled": True})
    assert "ssl" not in _conf(docs, "postgresql.conf")
    assert {rule[0] for rule in _hba_rules(docs)} == {"local", "host"}
    assert "tls-reload.sh" not in one(docs, "ConfigMap")["data"]
    spec = _pod(docs)["spec"]
    assert "tls" not in {v["name"] for v in spec["volumes"]}
    assert [c["name"] for c in spec["containers"]] == ["postgresql", "metrics"]
    assert env_of(_container(docs, "metrics"))["DATA_SOURCE_URI"]["value"] == "127.0.0.1:5432/postgres?sslmode=disable"
    assert "annotations" not in one(docs, "Service", "postgresql")["metadata"]


def test_tls_needs_a_secret():
    error = render_error("postgresql", {"tls.enabled": True})
    assert "tls.existingSecret is required with tls.enabled" in error


@pytest.mark.parametrize("values", [{"tls.minProtocolVersion": "TLSv1.1"}, {"tls.reloader.intervalSeconds": 0},
                                    {"tls.unknown": 1}])
def test_schema_rejects_bad_tls_values(values):
    assert render_error("postgresql", dict(TLS, **values))


# --- postgresql: on -------------------------------------------------------------

def test_server_settings():
    conf = _conf(render("postgresql", TLS), "postgresql.conf")
    assert "ssl = on" in conf.splitlines()
    assert "ssl_cert_file = '%s/tls.crt'" % TLS_DIR in conf
    assert "ssl_key_file = '%s/tls.key'" % TLS_DIR in conf
    assert "ssl_min_protocol_version = 'TLSv1.3'" in conf
    # No client certificates are asked for.
    assert "ssl_ca_file" not in conf
    lowered = _conf(render("postgresql", dict(TLS, **{"tls.minProtocolVersion": "TLSv1.2"})), "postgresql.conf")
    assert "ssl_min_protocol_version = 'TLSv1.2'" in lowered


def test_every_tcp_rule_is_hostssl_and_the_socket_is_unchanged():
    rules = _hba_rules(render("postgresql", dict(TLS, **{"hba.allowedCidrs": ["10.42.0.0/16"]})))
    assert rules == [
        ["local", "all", "all", "peer"],
        ["hostssl", "all", "all", "127.0.0.1/32", "scram-sha-256"],
        ["hostssl", "all", "all", "::1/128", "scram-sha-256"],
        ["hostssl", "all", "all", "10.42.0.0/16", "scram-sha-256"],
    ]


def test_secret_volume_and_mounts():
    docs = render("postgresql", TLS_EVERYTHING)
    spec = _pod(docs)["spec"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == "tls"]
    # root:fsGroup 0440 from the kubelet: PostgreSQL accepts a root-owned key
    # without group write or access for others, and reads it through its group.
    assert volume["secret"] == {
        "secretName": "postgresql-tls",
        "defaultMode": 0o440,
        "items": [{"key": k, "path": k} for k in ("tls.crt", "tls.key", "ca.crt")],
    }
    mounted = {c["name"] for c in containers(spec)
               if {"name": "tls", "mountPath": TLS_DIR, "readOnly": True} in c.get("volumeMounts", [])}
    # Not init-db: initdb needs no certificate.
    assert mounted == {"postgresql", "tls-reload", "metrics"}


def test_reloader_sidecar():
    docs = render("postgresql", TLS_EVERYTHING)
    server, reloader = _container(docs, "postgresql"), _container(docs, "tls-reload")
    assert reloader["image"] == server["image"]
    assert reloader["securityContext"] == server["securityContext"]
    assert reloader["command"] == ["/bin/sh", "/etc/postgresql/tls-reload.sh"]
    assert reloader["resources"] == {"requests": {"cpu": "10m", "memory": "16Mi"},
                                     "limits": {"cpu": "50m", "memory": "32Mi"}}
    assert not reloader.get("ports") and not reloader.get("env")
    # The server's socket directory, for the reload request over peer authentication.
    assert {"name": "run", "mountPath": "/var/run/postgresql"} in reloader["volumeMounts"]
    script = _conf(docs, "tls-reload.sh")
    assert "-h /var/run/postgresql" in script and "-U 'postgres'" in script and "pg_reload_conf()" in script
    assert "sleep 60 &" in script


def test_reloader_can_be_switched_off():
    docs = render("postgresql", dict(TLS, **{"tls.reloader.enabled": False}))
    assert [c["name"] for c in _pod(docs)["spec"]["containers"]] == ["postgresql"]
    assert "tls-reload.sh" not in one(docs, "ConfigMap")["data"]
    assert "ssl = on" in _conf(docs, "postgresql.conf")


def test_tls_pods_stay_locked_down_and_restricted():
    charts.test_pods_are_locked_down("postgresql", TLS_EVERYTHING)
    charts.test_pods_pass_restricted_pod_security_with_bounded_scratch_space("postgresql", TLS_EVERYTHING)
    charts.test_no_secret_is_rendered("postgresql", TLS_EVERYTHING)


def test_network_policy_is_the_same():
    # The reloader talks over the socket, the exporter over loopback: no new peer.
    def policy(values):
        doc = one(render("postgresql", values), "NetworkPolicy")
        return doc["spec"]

    assert policy(TLS_EVERYTHING) == policy(charts.EVERYTHING["postgresql"])


def test_exporter_verifies_the_server():
    exporter = _container(render("postgresql", TLS_EVERYTHING), "metrics")
    assert env_of(exporter)["DATA_SOURCE_URI"]["value"] == (
        "127.0.0.1:5432/postgres?sslmode=verify-full&sslrootcert=%s/ca.crt" % TLS_DIR)


def test_service_annotation_tells_clients_to_use_tls():
    docs = render("postgresql", dict(TLS, **{"service.annotations": {"example.com/team": "ml"}}))
    assert one(docs, "Service", "postgresql")["metadata"]["annotations"] == {
        "mlops.stack/tls": "on", "example.com/team": "ml"}
    assert "annotations" not in one(docs, "Service", "postgresql-headless")["metadata"]


def test_switching_tls_restarts_the_server():
    def checksum(values):
        return _pod(render("postgresql", values))["metadata"]["annotations"]["checksum/config"]

    assert checksum(TLS) != checksum({})


def test_embedded_scripts_parse(tmp_path):
    script = tmp_path / "tls-reload.sh"
    script.write_text(_conf(render("postgresql", TLS), "tls-reload.sh"))
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# --- the reload loop, run with a stand-in psql ------------------------------------

class Reloader:
    """tls-reload.sh with its paths moved into tmp_path and a 1 s period."""

    def __init__(self, tmp_path):
        self.tls = tmp_path / "tls"
        self.run = tmp_path / "run"
        self.bin = tmp_path / "bin"
        for directory in (self.tls, self.run, self.bin):
            directory.mkdir()
        self.calls = tmp_path / "calls"
        self.psql = self.bin / "psql"
        self.answer(0)
        values = dict(TLS, **{"tls.reloader.intervalSeconds": 1, "image.binDir": str(self.bin)})
        script = _conf(render("postgresql", values), "tls-reload.sh")
        script = script.replace(TLS_DIR, str(self.tls)).replace("/var/run/postgresql", str(self.run))
        self.script = tmp_path / "tls-reload.sh"
        self.script.write_text(script)
        self.write("cert-1", "key-1")
        self.process = None

    def answer(self, status):
        self.psql.write_text('#!/bin/sh\necho "$*" >>"%s"\nexit %d\n' % (self.calls, status))
        self.psql.chmod(0o755)

    def write(self, cert, key):
        (self.tls / "tls.crt").write_text(cert)
        (self.tls / "tls.key").write_text(key)

    def reloads(self):
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def wait_for(self, count):
        deadline = time.monotonic() + 10
        while len(self.reloads()) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return len(self.reloads())

    def __enter__(self):
        self.process = subprocess.Popen(["sh", str(self.script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.out, self.err = self.process.communicate(timeout=10)


def test_reloader_reloads_once_per_new_certificate(tmp_path):
    reloader = Reloader(tmp_path)
    with reloader:
        # At start: the server may have read the files before a change.
        assert reloader.wait_for(1) == 1
        time.sleep(2.5)
        assert len(reloader.reloads()) == 1
        loaded = (reloader.run / "tls-loaded").read_text()
        reloader.write("cert-2", "key-1")
        assert reloader.wait_for(2) == 2
        reloader.write("cert-2", "key-2")
        assert reloader.wait_for(3) == 3
        assert (reloader.run / "tls-loaded").read_text() != loaded
    # TERM ends the loop at once, with success.
    assert reloader.process.returncode == 0
    (call,) = set(reloader.reloads())
    assert call == "-X -q -At -h %s -p 5432 -U postgres -d postgres -c SELECT pg_reload_conf()" % reloader.run
    assert re.fullmatch(r"[0-9a-f]{64}\n", (reloader.run / "tls-loaded").read_text())
    # The key's content never reaches the log.
    assert b"key-2" not in reloader.out + reloader.err


def test_reloader_retries_until_the_server_takes_the_request(tmp_path):
    reloader = Reloader(tmp_path)
    reloader.answer(2)
    with reloader:
        assert reloader.wait_for(2) >= 2
        assert not (reloader.run / "tls-loaded").exists()
        reloader.answer(0)
        count = len(reloader.reloads())
        assert reloader.wait_for(count + 1) == count + 1
        time.sleep(2.5)
        assert len(reloader.reloads()) == count + 1
    assert b"did not take the reload request" in reloader.err


# --- mlflow: the database's CA ------------------------------------------------------

MLFLOW_TLS = {"backendStore.sslMode": "verify-full", "backendStore.tls.caConfigMap": "mlops-tls-trust",
              "gc.enabled": True}


def _database_clients(docs):
    """(pod spec, container) of every container that logs in to the database."""
    for _owner, spec in charts.pod_specs(docs):
        for container in containers(spec):
            if "MLFLOW_DB_SSLMODE" in env_of(container):
                yield spec, container


def _ca_source(spec):
    volumes = {v["name"]: v for v in spec["volumes"]}
    return [s["configMap"] for s in volumes["credentials"]["projected"]["sources"] if "configMap" in s]


def test_mlflow_mounts_the_database_ca_only_when_named():
    docs = render("mlflow", {"gc.enabled": True})
    clients = list(_database_clients(docs))
    assert len(clients) == 4  # migrate Job, wait-for-schema, server, gc
    for spec, container in clients:
        assert _ca_source(spec) == []
        assert "MLFLOW_DB_SSLROOTCERT" not in env_of(container)


def test_mlflow_hands_the_database_ca_to_libpq():
    docs = render("mlflow", dict(MLFLOW_TLS, **{"backendStore.tls.caKey": "bundle.pem"}))
    clients = list(_database_clients(docs))
    assert len(clients) == 4
    for spec, container in clients:
        assert _ca_source(spec) == [{"name": "mlops-tls-trust",
                                     "items": [{"key": "bundle.pem", "path": "tls/database-ca.crt"}]}]
        mount = [m for m in container["volumeMounts"] if m["name"] == "credentials"]
        assert mount == [{"name": "credentials", "mountPath": "/run/secrets/mlflow", "readOnly": True}]
        env = env_of(container)
        assert env["MLFLOW_DB_SSLROOTCERT"]["value"] == CA_PATH
        assert env["MLFLOW_DB_SSLMODE"]["value"] == "verify-full"


def _backend_uri(program, tmp_path, environment):
    """backend_uri() of a rendered program, with the credentials under tmp_path."""
    (tmp_path / "database").mkdir(parents=True)
    (tmp_path / "database" / "username").write_text("mlflow")
    (tmp_path / "database" / "password").write_text("p@ss/word")
    head = program.split("\n\n\nimport ", 1)[0].replace('"/run/secrets/mlflow"', repr(str(tmp_path)))
    namespace = {}
    env = {"MLFLOW_DB_HOST": "postgresql", "MLFLOW_DB_PORT": "5432", "MLFLOW_DB_NAME": "mlflow",
           "MLFLOW_DB_SSLMODE": "verify-full"}
    env.update(environment)
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        exec(compile(head, "backendUriPython", "exec"), namespace)  # noqa: S102 - the chart's own program
        return namespace["backend_uri"]()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.parametrize("script", ["server-credentials.py", "gc.py"])
def test_mlflow_backend_uri_names_the_ca(script, tmp_path):
    data = one(render("mlflow", MLFLOW_TLS), "ConfigMap")["data"]
    with_ca = _backend_uri(data[script], tmp_path / "a", {"MLFLOW_DB_SSLROOTCERT": CA_PATH})
    assert with_ca == ("postgresql://mlflow:p%40ss%2Fword@postgresql:5432/mlflow"
                       "?sslmode=verify-full&sslrootcert=" + CA_PATH)
    without = _backend_uri(data[script], tmp_path / "b", {})
    assert without == "postgresql://mlflow:p%40ss%2Fword@postgresql:5432/mlflow?sslmode=verify-full"


def test_mlflow_schema_program_names_the_ca():
    docs = render("mlflow", MLFLOW_TLS)
    container = charts.one(docs, "Job", "mlflow-migrate")["spec"]["template"]["spec"]["containers"][0]
    program = container["command"][2]
    assert 'uri += "&sslrootcert=" + quote(e["MLFLOW_DB_SSLROOTCERT"], safe="/")' in program


def test_mlflow_whole_uri_is_left_alone():
    docs = render("mlflow", dict(MLFLOW_TLS, **{"backendStore.existingSecret": "managed-db",
                                                "backendStore.uriKey": "uri"}))
    for _owner, spec in charts.pod_specs(docs):
        for container in containers(spec):
            assert "MLFLOW_DB_SSLROOTCERT" not in env_of(container)
    # The file is still there for a URI that names it.
    assert _ca_source(one(docs, "Deployment")["spec"]["template"]["spec"])

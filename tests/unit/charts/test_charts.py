"""Static tests of the collection's Helm charts: lint, schema, and rendered manifests.

Every test renders with the pinned helm binary (.tools/bin/helm); nothing talks
to a cluster.
"""

import os
import re
import subprocess
import tempfile

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
HELM = os.path.join(REPO, ".tools", "bin", "helm")
CHARTS = os.path.join(REPO, "charts")
NAMESPACE = "mlops"
CHART_NAMES = ("postgresql", "minio", "mlflow")

# Never a legitimate value anywhere; if it shows up in a rendered literal, a
# credential could have leaked the same way.
SENTINEL = "sentinel-7f3a9c"

# The seed design's per-component resources.
SEED_RESOURCES = {
    "mlflow": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1000m", "memory": "1Gi"}},
    "postgresql": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}},
    "minio": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1000m", "memory": "2Gi"}},
}
SEED_STORAGE = {"postgresql": "10Gi", "minio": "50Gi"}

pytestmark = pytest.mark.skipif(not os.access(HELM, os.X_OK), reason="helm not installed: run make setup")


def _helm(*args):
    return subprocess.run([HELM, *args], capture_output=True, text=True, check=False)


def _values_args(values, tmp_dir):
    """Dotted-path VALUES as a values file (so types survive exactly)."""
    if not values:
        return []
    tree = {}
    for path, value in values.items():
        node = tree
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    handle, name = tempfile.mkstemp(suffix=".yaml", dir=tmp_dir)
    with os.fdopen(handle, "w") as out:
        yaml.safe_dump(tree, out)
    return ["--values", name]


def _template(chart, values, release=None):
    with tempfile.TemporaryDirectory() as tmp_dir:
        return _helm(
            "template", release or chart, os.path.join(CHARTS, chart),
            "--namespace", NAMESPACE, *_values_args(values, tmp_dir),
        )


def render(chart, values=None, release=None):
    """helm template CHART with dotted-path VALUES; returns the non-empty documents."""
    result = _template(chart, values, release)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_error(chart, values):
    result = _template(chart, values)
    assert result.returncode != 0, "rendered although it should not have"
    return result.stderr


def find(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return found


def one(docs, kind, name=None):
    found = find(docs, kind, name)
    assert len(found) == 1, "expected one %s %s, got %d" % (kind, name or "", len(found))
    return found[0]


def pod_templates(docs):
    """(workload, pod template) of every pod the documents would start."""
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield doc, doc["spec"]["template"]
        elif doc["kind"] == "CronJob":
            yield doc, doc["spec"]["jobTemplate"]["spec"]["template"]


def pod_specs(docs):
    for doc, template in pod_templates(docs):
        yield doc, template["spec"]


def containers(spec):
    return spec.get("initContainers", []) + spec["containers"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def mounted_secret(pod_spec, container, path):
    """{"name": Secret, "key": key} of the Secret key a container sees as the
    file PATH (a secret or projected volume), or None."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if not path.startswith(prefix):
            continue
        volume = volumes[mount["name"]]
        sources = [s["secret"] for s in volume.get("projected", {}).get("sources", []) if "secret" in s]
        if "secret" in volume:
            sources.append(dict(volume["secret"], name=volume["secret"]["secretName"]))
        for source in sources:
            for item in source.get("items", []):
                if item["path"] == path[len(prefix):]:
                    return {"name": source["name"], "key": item["key"]}
    return None


def secret_in_environment(container):
    """Names of the container's environment variables filled from a Secret."""
    return sorted(e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {}))


def config_data(docs):
    return "\n".join(v for cm in find(docs, "ConfigMap") for v in cm.get("data", {}).values())


# Configurations that switch on every optional part of each chart.
EVERYTHING = {
    "postgresql": {"networkPolicy.enabled": True, "metrics.enabled": True, "metrics.serviceMonitor.enabled": True},
    "minio": {
        "mode": "distributed",
        "replicaCount": 4,
        "networkPolicy.enabled": True,
        "ingress.enabled": True,
        "ingress.host": "s3.example.com",
        "console.ingress.enabled": True,
        "console.ingress.host": "console.example.com",
        "metrics.serviceMonitor.enabled": True,
    },
    "mlflow": {
        "replicaCount": 3,
        "ingress.enabled": True,
        "ingress.host": "mlflow.example.com",
        "networkPolicy.enabled": True,
        "metrics.serviceMonitor.enabled": True,
        "gc.enabled": True,
    },
}
VARIANTS = [(chart, {}) for chart in CHART_NAMES] + [(chart, EVERYTHING[chart]) for chart in CHART_NAMES]
VARIANT_IDS = ["%s-defaults" % c for c in CHART_NAMES] + ["%s-everything" % c for c in CHART_NAMES]


# --- lint and schema ---------------------------------------------------------

@pytest.mark.parametrize("chart", CHART_NAMES)
def test_lint_strict(chart):
    result = _helm("lint", "--strict", os.path.join(CHARTS, chart))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_lint_strict_everything_on(chart, tmp_path):
    result = _helm("lint", "--strict", os.path.join(CHARTS, chart), *_values_args(EVERYTHING[chart], tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "chart,values",
    [
        ("minio", {"replicaCount": "three"}),
        ("mlflow", {"replicaCount": "three"}),
        ("minio", {"mode": "distributed", "replicaCount": 3}),
        ("minio", {"mode": "standalone", "replicaCount": 2}),
        ("minio", {"mode": "cluster"}),
        ("minio", {"ingress.enabled": True}),
        ("minio", {"image.pullPolicy": "Sometimes"}),
        ("postgresql", {"config.maxConnections": "many"}),
        ("postgresql", {"persistence.size": "big"}),
        ("postgresql", {"hba.allowedCidrs": ["everywhere"]}),
        ("mlflow", {"server.workers": 0}),
        ("mlflow", {"auth.defaultPermission": "ALL"}),
        ("mlflow", {"artifacts.bucket": "Not_A_Bucket"}),
        ("mlflow", {"backendStore.sslMode": "sometimes"}),
        ("mlflow", {"gc.olderThan": "a month"}),
        ("mlflow", {"resources": {"limits": {"cpu": "lots"}}}),
        ("mlflow", {"unknownTopLevel": 1}),
    ],
)
def test_schema_rejects_bad_values(chart, values):
    assert "schema" in render_error(chart, values)


# A chart must offer no way to take a credential as a value: the schema
# rejects every such key instead of silently ignoring it.
@pytest.mark.parametrize(
    "chart,path",
    [
        ("postgresql", "auth.password"),
        ("postgresql", "auth.postgresPassword"),
        ("postgresql", "metrics.auth.password"),
        ("minio", "auth.rootUser"),
        ("minio", "auth.rootPassword"),
        ("mlflow", "auth.adminPassword"),
        ("mlflow", "auth.flaskSecretKey"),
        ("mlflow", "backendStore.password"),
        ("mlflow", "backendStore.uri"),
        ("mlflow", "artifacts.s3.secretAccessKey"),
    ],
)
def test_no_value_accepts_a_credential(chart, path):
    assert "schema" in render_error(chart, {path: SENTINEL})


# --- security ---------------------------------------------------------------

@pytest.mark.parametrize("chart,values", VARIANTS, ids=VARIANT_IDS)
def test_pods_are_locked_down(chart, values):
    docs = render(chart, values)
    specs = list(pod_specs(docs))
    assert specs
    for owner, spec in specs:
        pod_ctx = spec.get("securityContext", {})
        assert pod_ctx.get("runAsNonRoot") is True, owner["metadata"]["name"]
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        assert spec.get("automountServiceAccountToken") is False
        for container in containers(spec):
            ctx = container["securityContext"]
            where = "%s/%s" % (owner["metadata"]["name"], container["name"])
            assert ctx["runAsNonRoot"] is True, where
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in ctx["capabilities"], where
            assert ctx["seccompProfile"]["type"] == "RuntimeDefault", where
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert not ctx.get("privileged"), where


# Volume types the "restricted" Pod Security Standard admits.
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                           "projected", "secret"}
WITHOUT_PERSISTENCE = [(chart, {"persistence.enabled": False}) for chart in ("postgresql", "minio")]


@pytest.mark.parametrize("chart,values", VARIANTS + WITHOUT_PERSISTENCE,
                         ids=VARIANT_IDS + ["%s-no-persistence" % c for c, _v in WITHOUT_PERSISTENCE])
def test_pods_pass_restricted_pod_security_with_bounded_scratch_space(chart, values):
    # The rest of the restricted profile (non-root, no escalation, capabilities,
    # seccomp) is test_pods_are_locked_down's.
    for owner, spec in pod_specs(render(chart, values)):
        name = owner["metadata"]["name"]
        assert not (spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC")), name
        for volume in spec.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= RESTRICTED_VOLUME_TYPES, (name, volume)
            if "emptyDir" in volume:
                # Without a limit one pod's scratch files can fill the node's disk.
                assert (volume["emptyDir"] or {}).get("sizeLimit"), (name, volume["name"])
        for container in containers(spec):
            assert not [p for p in container.get("ports", []) if p.get("hostPort")], (name, container["name"])


@pytest.mark.parametrize("chart,values", VARIANTS, ids=VARIANT_IDS)
def test_no_secret_is_rendered(chart, values):
    docs = render(chart, values)
    assert not find(docs, "Secret")
    for _owner, spec in pod_specs(docs):
        secret_volumes = {v["name"] for v in spec.get("volumes", []) if "secret" in v}
        for container in containers(spec):
            secret_dirs = [m["mountPath"] for m in container.get("volumeMounts", []) if m["name"] in secret_volumes]
            for name, entry in env_of(container).items():
                if name.endswith("_FILE"):
                    # A path, which must point into a mounted Secret.
                    assert any(entry["value"].startswith(d + "/") for d in secret_dirs), name
                    continue
                # Login names that come from a Secret count too; role names set
                # in values (POSTGRES_USER, DATA_SOURCE_USER) are not credentials.
                if re.search(r"PASS|SECRET|TOKEN|ACCESS_KEY|ROOT_USER|USERNAME", name):
                    assert "value" not in entry, "%s is a literal in %s" % (name, container["name"])
                    assert "secretKeyRef" in entry["valueFrom"], name


# Secret names and keys set to a sentinel may only show up where Kubernetes
# resolves them (secretKeyRef, secret volumes, ServiceMonitor basicAuth),
# never in a ConfigMap, an env literal, or a command line.
SECRET_REFS = {
    "postgresql": {"auth.existingSecret": SENTINEL, "auth.passwordKey": SENTINEL + "-key", "metrics.enabled": True},
    "minio": {"auth.existingSecret": SENTINEL, "auth.rootUserKey": SENTINEL + "-u", "auth.rootPasswordKey": SENTINEL + "-p"},
    "mlflow": {
        "auth.existingSecret": SENTINEL,
        "auth.adminPasswordKey": SENTINEL + "-p",
        "auth.flaskSecretKeyKey": SENTINEL + "-f",
        "backendStore.existingSecret": SENTINEL + "-db",
        "backendStore.passwordKey": SENTINEL + "-dbp",
        "artifacts.s3.existingSecret": SENTINEL + "-s3",
        "artifacts.s3.secretAccessKeyKey": SENTINEL + "-s3k",
        "gc.enabled": True,
        "metrics.serviceMonitor.enabled": True,
    },
}


def _strip_secret_refs(node):
    """The manifest without the places that legitimately name a Secret."""
    if isinstance(node, dict):
        return {
            k: _strip_secret_refs(v)
            for k, v in node.items()
            if k not in ("secretKeyRef", "secret", "basicAuth")
        }
    if isinstance(node, list):
        return [_strip_secret_refs(v) for v in node]
    return node


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_secret_references_stay_references(chart):
    docs = render(chart, SECRET_REFS[chart])
    whole = yaml.safe_dump_all(docs)
    assert SENTINEL in whole  # the references are there...
    for doc in docs:
        assert SENTINEL not in yaml.safe_dump(_strip_secret_refs(doc)), doc["kind"]  # ...and only there


# --- resources, images, names -------------------------------------------------

@pytest.mark.parametrize("chart", CHART_NAMES)
def test_resources_default_to_the_seed_table(chart):
    docs = render(chart)
    workload = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    assert len(workload) == 1
    main = workload[0]["spec"]["template"]["spec"]["containers"][0]
    assert main["resources"] == SEED_RESOURCES[chart]
    if chart in SEED_STORAGE:
        claims = workload[0]["spec"]["volumeClaimTemplates"]
        assert [c["spec"]["resources"]["requests"]["storage"] for c in claims] == [SEED_STORAGE[chart]]


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_image_is_configurable(chart):
    values = {
        "image.registry": "registry.example.com:5000",
        "image.repository": "team/%s" % chart,
        "image.tag": "9.9.9",
        "image.pullPolicy": "Always",
        "imagePullSecrets": [{"name": "regcred"}],
    }
    docs = render(chart, values)
    for _owner, spec in pod_specs(docs):
        assert spec["imagePullSecrets"] == [{"name": "regcred"}]
        for container in containers(spec):
            if container["name"] == "metrics":
                continue
            assert container["image"] == "registry.example.com:5000/team/%s:9.9.9" % chart
            assert container["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_default_pull_policy(chart):
    for _owner, spec in pod_specs(render(chart)):
        for container in containers(spec):
            assert container["imagePullPolicy"] == "IfNotPresent"


@pytest.mark.parametrize(
    "chart,release,service",
    [
        ("minio", "minio", "minio"),
        ("postgresql", "postgresql", "postgresql"),
        ("mlflow", "mlflow", "mlflow"),
        ("minio", "team-minio", "team-minio"),
        ("mlflow", "stack", "stack-mlflow"),
    ],
)
def test_service_name_and_labels(chart, release, service):
    docs = render(chart, release=release)
    svc = one(docs, "Service", service)
    assert svc["spec"]["selector"]["app.kubernetes.io/name"] == chart
    assert svc["spec"]["selector"]["app.kubernetes.io/instance"] == release
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == chart
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == release
        assert doc["metadata"]["namespace"] == NAMESPACE


@pytest.mark.parametrize("chart,port", [("minio", 9000), ("postgresql", 5432), ("mlflow", 5000)])
def test_service_ports(chart, port):
    svc = one(render(chart), "Service", chart)
    assert svc["spec"]["ports"][0]["port"] == port


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_optional_parts_are_off_by_default(chart):
    # The schema migration is no option: a Helm hook, not part of the release.
    # NetworkPolicies are no option since issue 10: on by default (tests below).
    kinds = {d["kind"] for d in render(chart) if "helm.sh/hook" not in d["metadata"].get("annotations", {})}
    assert not kinds & {"Ingress", "ServiceMonitor", "PodDisruptionBudget", "CronJob", "Job", "Secret"}


def test_persistence_storage_class_and_size():
    for chart in ("postgresql", "minio"):
        docs = render(chart, {"persistence.storageClass": "fast", "persistence.size": "3Gi"})
        claim = one(docs, "StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"]
        assert claim["storageClassName"] == "fast"
        assert claim["resources"]["requests"]["storage"] == "3Gi"


@pytest.mark.parametrize("chart", ("postgresql", "minio"))
def test_existing_claim_replaces_the_template(chart):
    sts = one(render(chart, {"persistence.existingClaim": "old-data"}), "StatefulSet")
    assert "volumeClaimTemplates" not in sts["spec"]
    claims = [v for v in sts["spec"]["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v]
    assert claims == [{"name": "data", "persistentVolumeClaim": {"claimName": "old-data"}}]


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_embedded_shell_scripts_parse(chart, tmp_path):
    docs = render(chart, EVERYTHING[chart])
    scripts = {k: v for cm in find(docs, "ConfigMap") for k, v in cm.get("data", {}).items() if k.endswith(".sh")}
    if chart == "minio":
        assert not scripts
    for name, text in scripts.items():
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, "%s: %s" % (name, result.stderr)


# --- postgresql ---------------------------------------------------------------

def test_postgresql_runs_initdb_and_postgres_itself():
    docs = render("postgresql")
    sts = one(docs, "StatefulSet", "postgresql")
    spec = sts["spec"]["template"]["spec"]
    assert sts["spec"]["serviceName"] == "postgresql-headless"
    assert one(docs, "Service", "postgresql-headless")["spec"]["clusterIP"] == "None"
    assert spec["securityContext"]["runAsUser"] == 999
    init = spec["initContainers"][0]
    assert init["command"] == ["/bin/sh", "/etc/postgresql/init-db.sh"]
    assert spec["containers"][0]["command"] == ["/bin/sh", "/etc/postgresql/run.sh"]
    # The superuser password reaches initdb as a file from the Secret, never as env.
    password = [v for v in spec["volumes"] if v["name"] == "superuser-password"][0]["secret"]
    assert password["secretName"] == "postgresql-auth"
    assert password["items"] == [{"key": "postgres-password", "path": "password"}]
    assert "POSTGRES_PASSWORD" not in env_of(init)
    scripts = one(docs, "ConfigMap")["data"]
    assert "--pwfile=\"$POSTGRES_PASSWORD_FILE\"" in scripts["init-db.sh"]
    assert "--auth-host=scram-sha-256" in scripts["init-db.sh"]
    assert "password_encryption = 'scram-sha-256'" in scripts["postgresql.conf"]
    hba_rules = [line.split() for line in scripts["pg_hba.conf"].splitlines() if line.startswith("host")]
    assert hba_rules and all(rule[-1] == "scram-sha-256" for rule in hba_rules)
    assert ["host", "all", "all", "10.0.0.0/8", "scram-sha-256"] in hba_rules
    assert sts["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    image = spec["containers"][0]["image"]
    assert re.fullmatch(r"docker\.io/library/postgres:1[56]\.\d+", image)


def test_postgresql_settings_and_bin_dir():
    docs = render(
        "postgresql",
        {
            "config.sharedBuffers": "512MB",
            "config.workMem": "16MB",
            "config.maxConnections": 250,
            "config.extra": {"log_connections": "on"},
            "image.binDir": "/usr/lib/postgresql/15/bin",
            "hba.allowedCidrs": ["10.244.0.0/16"],
        },
    )
    data = one(docs, "ConfigMap")["data"]
    conf = data["postgresql.conf"]
    for line in ("shared_buffers = '512MB'", "work_mem = '16MB'", "max_connections = '250'", "log_connections = 'on'"):
        assert line in conf
    assert "/usr/lib/postgresql/15/bin/initdb" in data["init-db.sh"]
    assert "exec /usr/lib/postgresql/15/bin/postgres" in data["run.sh"]
    hosts = [line.split()[3] for line in data["pg_hba.conf"].splitlines() if line.startswith("host")]
    assert hosts == ["127.0.0.1/32", "::1/128", "10.244.0.0/16"]


def test_postgresql_network_policy_and_exporter():
    docs = render("postgresql", EVERYTHING["postgresql"])
    policy = one(docs, "NetworkPolicy")
    first = policy["spec"]["ingress"][0]
    assert first["ports"] == [{"port": "postgresql", "protocol": "TCP"}]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}} in first["from"]
    exporter = [c for c in one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"] if c["name"] == "metrics"][0]
    assert env_of(exporter)["DATA_SOURCE_PASS_FILE"]["value"] == "/run/secrets/metrics/password"
    assert mounted_secret(one(docs, "StatefulSet")["spec"]["template"]["spec"], exporter,
                          "/run/secrets/metrics/password") == {"name": "postgresql-auth", "key": "postgres-password"}
    assert secret_in_environment(exporter) == []
    assert one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["port"] == "metrics"


# --- minio ----------------------------------------------------------------------

def _minio_container(docs):
    return one(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]


def test_minio_standalone_defaults():
    docs = render("minio")
    sts = one(docs, "StatefulSet", "minio")
    assert sts["spec"]["replicas"] == 1
    container = _minio_container(docs)
    assert container["args"][-1] == "/data"
    env = env_of(container)
    # The root login as files MinIO reads (MINIO_ROOT_*_FILE), not environment values.
    pod_spec = sts["spec"]["template"]["spec"]
    for name, key in (("MINIO_ROOT_USER", "root-user"), ("MINIO_ROOT_PASSWORD", "root-password")):
        assert name not in env
        assert mounted_secret(pod_spec, container, env[name + "_FILE"]["value"]) == {"name": "minio-auth", "key": key}
    assert secret_in_environment(container) == []
    assert container["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/minio/health/live"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"api": 9000, "console": 9001}
    svc = one(docs, "Service", "minio")
    # The console is not exposed by default: not on the Service (port-forward the pod).
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"api": 9000}
    assert container["image"] == "docker.io/pgsty/silo:RELEASE.2026-09-16T00-00-00Z"
    # Arguments only: the image's entrypoint names the server binary (silo in the fork).
    assert "command" not in container and container["args"][0] == "server"
    assert not find(docs, "Job")


def test_minio_distributed_four_servers():
    docs = render("minio", {"mode": "distributed", "replicaCount": 4})
    sts = one(docs, "StatefulSet", "minio")
    assert sts["spec"]["replicas"] == 4
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["serviceName"] == "minio-headless"
    assert _minio_container(docs)["args"][-1] == "http://minio-{0...3}.minio-headless.mlops.svc.cluster.local/data"
    headless = one(docs, "Service", "minio-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    pdb = one(docs, "PodDisruptionBudget", "minio")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "minio", "app.kubernetes.io/instance": "minio"}


def test_minio_several_drives_per_server():
    docs = render("minio", {"mode": "distributed", "replicaCount": 4, "drivesPerNode": 2})
    sts = one(docs, "StatefulSet")
    assert _minio_container(docs)["args"][-1].endswith("/data{0...1}")
    assert [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]] == ["data-0", "data-1"]
    mounts = {m["name"]: m["mountPath"] for m in _minio_container(docs)["volumeMounts"]}
    assert mounts["data-0"] == "/data0" and mounts["data-1"] == "/data1"


def _policy_ports(docs):
    return [p["port"] for rule in one(docs, "NetworkPolicy")["spec"]["ingress"] for p in rule["ports"]]


def test_minio_network_policy_keeps_the_console_closed():
    assert _policy_ports(render("minio", {"networkPolicy.enabled": True})) == ["api"]


@pytest.mark.parametrize(
    "values",
    [{"console.exposed": True}, {"console.ingress.enabled": True, "console.ingress.host": "console.example.com"}],
)
def test_minio_network_policy_opens_an_exposed_console(values):
    docs = render("minio", {"networkPolicy.enabled": True, **values})
    assert _policy_ports(docs) == ["api", "console"]
    service_ports = {p["name"]: p["port"] for p in one(docs, "Service", "minio")["spec"]["ports"]}
    assert service_ports == {"api": 9000, "console": 9001}


def test_minio_console_off():
    docs = render("minio", {"console.enabled": False, "console.exposed": True, "networkPolicy.enabled": True})
    assert env_of(_minio_container(docs))["MINIO_BROWSER"]["value"] == "off"
    assert _policy_ports(docs) == ["api"]
    assert [p["name"] for p in one(docs, "Service", "minio")["spec"]["ports"]] == ["api"]


def test_minio_ingresses_and_metrics():
    docs = render("minio", EVERYTHING["minio"])
    api = one(docs, "Ingress", "minio")["spec"]["rules"][0]
    assert api["host"] == "s3.example.com"
    assert api["http"]["paths"][0]["backend"]["service"] == {"name": "minio", "port": {"name": "api"}}
    console = one(docs, "Ingress", "minio-console")["spec"]["rules"][0]
    assert console["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "console"}
    assert env_of(_minio_container(docs))["MINIO_PROMETHEUS_AUTH_TYPE"]["value"] == "public"
    assert one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["path"] == "/minio/v2/metrics/cluster"


# --- mlflow ---------------------------------------------------------------------

def _mlflow(docs):
    deploy = one(docs, "Deployment")
    spec = deploy["spec"]["template"]["spec"]
    return deploy, spec, spec["containers"][0]


def _migration_container(docs):
    (container,) = one(docs, "Job", "mlflow-migrate")["spec"]["template"]["spec"]["containers"]
    return container


def _server_script(docs):
    return one(docs, "ConfigMap")["data"]["server.sh"]


def _allowed_hosts(docs):
    match = re.search(r"--allowed-hosts '([^']*)'", _server_script(docs))
    assert match
    return match.group(1).split(",")


def test_mlflow_defaults():
    docs = render("mlflow")
    deploy, spec, server = _mlflow(docs)
    assert deploy["metadata"]["name"] == "mlflow"
    env = env_of(server)
    # Backend store from the database Secret, artifacts through the S3 Secret.
    assert env["MLFLOW_DB_HOST"]["value"] == "postgresql"
    files = {path: mounted_secret(spec, server, "/run/secrets/mlflow/" + path)
             for path in ("database/password", "s3/secret-access-key", "auth/admin-password")}
    assert files == {"database/password": {"name": "mlflow-database", "key": "password"},
                     "s3/secret-access-key": {"name": "mlflow-s3", "key": "secret-access-key"},
                     "auth/admin-password": {"name": "mlflow-auth", "key": "admin-password"}}
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://minio:9000"
    # Basic auth on, with the admin login and a shared Flask key from a Secret:
    # the key is the one secret in the environment (MLflow reads it nowhere else).
    assert secret_in_environment(server) == ["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "flask-secret-key"
    script = _server_script(docs)
    assert "--app-name basic-auth" in script
    assert "--artifacts-destination 's3://mlflow'" in script
    assert "--serve-artifacts" in script
    assert "--host 0.0.0.0" in script and "--port 5000" in script and "--workers 2" in script
    assert "--expose-prometheus /tmp/metrics" in script
    # The schema is migrated before the server starts: once, by the hook Job;
    # each pod's init container only waits for it.
    migrate = _migration_container(docs)
    assert migrate["command"][:2] == ["python3", "-c"] and migrate["command"][3:] == ["migrate"]
    assert "tracking_db._upgrade_db(engine)" in migrate["command"][2]
    wait = spec["initContainers"][0]
    assert wait["name"] == "wait-for-schema" and wait["command"][3:] == ["wait"]
    assert "_upgrade_db" not in wait["command"][2].split("def wait(")[1]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert server[probe]["httpGet"]["path"] == "/health"
    assert {"mlflow", "mlflow:*", "mlflow.mlops.svc.cluster.local:*", "localhost:*"} <= set(_allowed_hosts(docs))
    assert server["image"] == "ghcr.io/mlflow/mlflow:v3.17.2-full"
    # The auth ini, pgpass and AWS credentials files carry passwords:
    # memory-backed, never a ConfigMap; the server's environment gets only
    # the password-less URI and the files' paths.
    run_volume = [v for v in spec["volumes"] if v["name"] == "run"][0]
    assert run_volume["emptyDir"]["medium"] == "Memory"
    assert "PGPASSFILE=/run/mlflow/pgpass AWS_SHARED_CREDENTIALS_FILE=/run/mlflow/aws-credentials" in script
    # MLflow's background jobs would double the memory the seed's limit allows.
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "false"
    # Checked logins are remembered for a minute: scrypt on every request
    # exhausts the memory limit under load.
    assert '"auth_cache_ttl_seconds": "60"' in one(docs, "ConfigMap")["data"]["server-credentials.py"]


def test_mlflow_job_execution_on():
    server = _mlflow(render("mlflow", {"server.jobExecution": True}))[2]
    assert env_of(server)["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "true"


def test_mlflow_private_network_hosts_only_when_asked():
    hosts = _allowed_hosts(render("mlflow", {"server.allowPrivateNetworkHosts": True}))
    assert {"10.*", "172.16.*", "172.31.*", "192.168.*"} <= set(hosts)
    assert "172.32.*" not in hosts


def test_mlflow_ingress_host_is_allowed():
    docs = render("mlflow", {"ingress.enabled": True, "ingress.host": "mlflow.example.com", "server.allowedHosts": ["ml.corp"]})
    hosts = _allowed_hosts(docs)
    assert "mlflow.example.com" in hosts and "mlflow.example.com:*" in hosts and "ml.corp" in hosts
    rule = one(docs, "Ingress")["spec"]["rules"][0]
    assert rule["host"] == "mlflow.example.com"
    assert rule["http"]["paths"][0]["backend"]["service"] == {"name": "mlflow", "port": {"name": "http"}}


def test_mlflow_migration_sets_the_admin_login_from_its_secret():
    # A database restored from another installation holds that installation's
    # admin: the migrate step must make the Secret's login the one that works.
    docs = render("mlflow")
    _deploy, spec, _server = _mlflow(docs)
    (wait,) = spec["initContainers"]
    for path, key in (("auth/admin-username", "admin-username"), ("auth/admin-password", "admin-password")):
        assert mounted_secret(spec, wait, "/run/secrets/mlflow/" + path) == {"name": "mlflow-auth", "key": key}
    assert secret_in_environment(wait) == []
    script = wait["command"][2]
    assert "store.update_user(name, password=password" in script
    assert "authenticate_user(name, password)" in script
    # The Job migrates the auth tables too, and needs no admin login for it.
    assert 'auth_db.migrate_if_needed(engine, "head")' in _migration_container(docs)["command"][2]
    job_spec = [d for d in docs if d["kind"] == "Job"][0]["spec"]["template"]["spec"]
    assert mounted_secret(job_spec, _migration_container(docs), "/run/secrets/mlflow/auth/admin-password") is None
    assert mounted_secret(job_spec, _migration_container(docs), "/run/secrets/mlflow/database/password")
    without_auth = render("mlflow", {"auth.enabled": False})
    wait_spec = _mlflow(without_auth)[1]
    assert mounted_secret(wait_spec, wait_spec["initContainers"][0], "/run/secrets/mlflow/auth/admin-password") is None
    assert "auth_db" not in _migration_container(without_auth)["command"][2]


def test_mlflow_auth_off():
    docs = render("mlflow", {"auth.enabled": False, "gc.enabled": True})
    _deploy, spec, server = _mlflow(docs)
    assert not [n for n in env_of(server) if n.startswith("MLFLOW_AUTH") or n == "MLFLOW_FLASK_SERVER_SECRET_KEY"]
    assert "basic-auth" not in _server_script(docs)
    assert "basic_auth.ini" not in one(docs, "ConfigMap")["data"]["server-credentials.py"]
    assert mounted_secret(spec, server, "/run/secrets/mlflow/auth/admin-password") is None
    gc_spec = one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert mounted_secret(gc_spec, gc_spec["containers"][0], "/run/secrets/mlflow/auth/admin-password") is None
    assert "MLFLOW_TRACKING_PASSWORD" not in one(docs, "ConfigMap")["data"]["gc.py"]


def test_mlflow_external_database_and_s3():
    docs = render(
        "mlflow",
        {
            "backendStore.host": "db.example.com",
            "backendStore.port": 6432,
            "backendStore.database": "tracking",
            "backendStore.sslMode": "verify-full",
            "artifacts.bucket": "ml-artifacts",
            "artifacts.path": "team-a/",
            "artifacts.s3.endpointUrl": "",
            "artifacts.s3.region": "eu-west-1",
        },
    )
    env = env_of(_mlflow(docs)[2])
    assert env["MLFLOW_DB_HOST"]["value"] == "db.example.com"
    assert env["MLFLOW_DB_PORT"]["value"] == "6432"
    assert env["MLFLOW_DB_NAME"]["value"] == "tracking"
    assert env["MLFLOW_DB_SSLMODE"]["value"] == "verify-full"
    assert "MLFLOW_S3_ENDPOINT_URL" not in env
    assert env["AWS_DEFAULT_REGION"]["value"] == "eu-west-1"
    assert "--artifacts-destination 's3://ml-artifacts/team-a'" in _server_script(docs)


def test_mlflow_whole_uri_from_a_secret():
    docs = render("mlflow", {"backendStore.existingSecret": "managed-db", "backendStore.uriKey": "uri", "gc.enabled": True})
    _deploy, spec, server = _mlflow(docs)
    gc_spec = one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    job_spec = [d for d in docs if d["kind"] == "Job"][0]["spec"]["template"]["spec"]
    for pod_spec, container in ((spec, server), (spec, spec["initContainers"][0]), (gc_spec, gc_spec["containers"][0]),
                                (job_spec, _migration_container(docs))):
        assert mounted_secret(pod_spec, container, "/run/secrets/mlflow/database/uri") == {"name": "managed-db", "key": "uri"}
        assert mounted_secret(pod_spec, container, "/run/secrets/mlflow/database/password") is None
        env = env_of(container)
        assert not [n for n in env if n.startswith("MLFLOW_DB_")] and "MLFLOW_BACKEND_STORE_URI" not in env


def test_mlflow_replicas_get_a_pdb_and_shared_key():
    docs = render("mlflow", {"replicaCount": 3, "server.workers": 4})
    deploy, _spec, server = _mlflow(docs)
    assert deploy["spec"]["replicas"] == 3
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert "secretKeyRef" in env_of(server)["MLFLOW_FLASK_SERVER_SECRET_KEY"]["valueFrom"]
    assert "--workers 4" in _server_script(docs)


def test_mlflow_gc_cronjob():
    docs = render("mlflow", {"gc.enabled": True, "gc.olderThan": "7d", "gc.schedule": "0 4 * * 0"})
    cron = one(docs, "CronJob", "mlflow-gc")
    assert cron["spec"]["schedule"] == "0 4 * * 0"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    # Its pods must stay out of the server's Service and Deployment.
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "gc"
    assert one(docs, "Service")["spec"]["selector"]["app.kubernetes.io/component"] == "tracking-server"
    gc = pod["spec"]["containers"][0]
    assert env_of(gc)["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow.mlops.svc.cluster.local:5000"
    assert mounted_secret(pod["spec"], gc, "/run/secrets/mlflow/auth/admin-password") == {"name": "mlflow-auth", "key": "admin-password"}
    assert secret_in_environment(gc) == []
    assert 'os.environ["MLFLOW_TRACKING_PASSWORD"] = credential("auth/admin-password")' in one(docs, "ConfigMap")["data"]["gc.py"]
    assert "--older-than '7d'" in one(docs, "ConfigMap")["data"]["gc.sh"]


def test_mlflow_service_monitor_logs_in():
    docs = render("mlflow", {"metrics.serviceMonitor.enabled": True})
    endpoint = one(docs, "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["path"] == "/metrics"
    assert endpoint["basicAuth"]["password"] == {"name": "mlflow-auth", "key": "admin-password"}
    # Prometheus scrapes pods by IP, which the Host check must let through: the
    # pod's own IP exactly (from the downward API), not the private ranges.
    server = _mlflow(docs)[2]
    assert env_of(server)["MLFLOW_POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert '"${MLFLOW_POD_IP:+,$MLFLOW_POD_IP,$MLFLOW_POD_IP:*}"' in _server_script(docs)
    assert not [host for host in _allowed_hosts(docs) if host[0].isdigit() and not host.startswith("127.0.0.1")]
    no_auth = render("mlflow", {"metrics.serviceMonitor.enabled": True, "auth.enabled": False})
    assert "basicAuth" not in one(no_auth, "ServiceMonitor")["spec"]["endpoints"][0]


def test_mlflow_metrics_off():
    docs = render("mlflow", {"metrics.enabled": False, "metrics.serviceMonitor.enabled": True})
    assert "--expose-prometheus" not in _server_script(docs)
    assert not find(docs, "ServiceMonitor")


def test_mlflow_network_policy():
    open_policy = one(render("mlflow", {"networkPolicy.enabled": True}), "NetworkPolicy")
    assert "from" not in open_policy["spec"]["ingress"][0]
    peers = [{"namespaceSelector": {"matchLabels": {"team": "ml"}}}]
    narrowed = one(render("mlflow", {"networkPolicy.enabled": True, "networkPolicy.allowedFrom": peers}), "NetworkPolicy")
    sources = narrowed["spec"]["ingress"][0]["from"]
    assert peers[0] in sources
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": "mlflow"}}} in sources


def test_mlflow_without_migration():
    docs = render("mlflow", {"backendStore.migrate": False})
    _deploy, spec, _server = _mlflow(docs)
    assert "initContainers" not in spec
    assert not find(docs, "Job")


def test_mlflow_migration_is_a_hook_job_that_runs_once():
    docs = render("mlflow", {"backendStore.schemaWaitSeconds": 42})
    job = one(docs, "Job", "mlflow-migrate")
    # Before Helm changes anything else, on install and upgrade; a failed Job
    # stays for its log until the next run replaces it.
    assert job["metadata"]["annotations"] == {
        "helm.sh/hook": "pre-install,pre-upgrade",
        "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded"}
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]
    assert pod["spec"]["restartPolicy"] == "Never"
    # Its pod stays out of the Service and the Deployment.
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"
    # The release's ServiceAccount does not exist yet at install: the
    # namespace's default, without a token.
    assert "serviceAccountName" not in pod["spec"] and pod["spec"]["automountServiceAccountToken"] is False
    assert "WAIT_SECONDS = 42" in _mlflow(docs)[1]["initContainers"][0]["command"][2]
    existing = one(render("mlflow", {"serviceAccount.create": False, "serviceAccount.name": "ml"}), "Job")
    assert existing["spec"]["template"]["spec"]["serviceAccountName"] == "ml"


def test_mlflow_database_uri_is_never_a_process_argument():
    # A process's arguments are readable by every user of its node (ps, /proc).
    docs = render("mlflow", {"gc.enabled": True})
    scripts = one(docs, "ConfigMap")["data"]
    # gc gets the URI inside its process, read from the mounted files.
    assert "MLFLOW_BACKEND_STORE_URI" not in scripts["gc.sh"] + scripts["gc.py"]
    assert 'default_map={"backend_store_uri": backend_uri()}' in scripts["gc.py"]
    assert "--backend-store-uri" not in config_data(docs)
    assert "mlflow db upgrade" not in config_data(docs)
    for _doc, spec in pod_specs(docs):
        for container in containers(spec):
            assert "MLFLOW_BACKEND_STORE_URI" not in " ".join(container["command"][3:])


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_chart_version_follows_the_collection(chart):
    # kubernetes.core.helm upgrades a release from a local chart only when the
    # chart's version or the values changed: a collection release that changed a
    # template without a new chart version would leave installed stacks as they are.
    with open(os.path.join(REPO, "galaxy.yml"), encoding="utf-8") as handle:
        collection_version = yaml.safe_load(handle)["version"]
    with open(os.path.join(CHARTS, chart, "Chart.yaml"), encoding="utf-8") as handle:
        assert yaml.safe_load(handle)["version"] == collection_version


def test_mlflow_serves_artifacts_through_its_own_repository():
    docs = render("mlflow")
    _deploy, spec, server = _mlflow(docs)
    env = env_of(server)
    assert env["PYTHONPATH"]["value"] == "/opt/mlops-stack/python"
    assert "MLOPS_STACK_S3_EXTERNAL_ENDPOINT_URL" not in env
    mount = next(m for m in server["volumeMounts"] if m["name"] == "python")
    assert mount == {"name": "python", "mountPath": "/opt/mlops-stack/python", "readOnly": True}
    volume = next(v for v in spec["volumes"] if v["name"] == "python")
    paths = {item["key"]: item["path"] for item in volume["configMap"]["items"]}
    assert paths["mlops_stack_artifacts.py"] == "mlops_stack_artifacts.py"
    assert re.fullmatch(r"mlops_stack_artifacts-[^/]+\.dist-info/entry_points\.txt", paths["entry_points.txt"])
    data = one(docs, "ConfigMap")["data"]
    assert "[mlflow.artifact_repository]\ns3 = mlops_stack_artifacts:repository" in data["entry_points.txt"]
    with open(os.path.join(CHARTS, "mlflow", "files", "mlops_stack_artifacts.py"), encoding="utf-8") as handle:
        assert data["mlops_stack_artifacts.py"].strip() == handle.read().strip()
    # The server refuses to start without it, before "mlflow server".
    script = _server_script(docs)
    assert script.index("import mlops_stack_artifacts") < script.index("mlflow server")
    # The migration init container does not need it.
    assert all("PYTHONPATH" not in env_of(c) for c in spec.get("initContainers", []))
    docs = render("mlflow", {"artifacts.s3.externalEndpointUrl": "https://s3.example.com"})
    assert env_of(_mlflow(docs)[2])["MLOPS_STACK_S3_EXTERNAL_ENDPOINT_URL"]["value"] == "https://s3.example.com"
    assert render_error("mlflow", {"artifacts.s3.externalEndpointUrl": "s3.example.com"})


# --- network policies -------------------------------------------------------------

KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
MLFLOW_PODS = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow"}}}
BACKUP_PODS = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlops-stack-backup"}}}


def _selects(policy, labels):
    selector = policy["spec"]["podSelector"]
    assert set(selector) == {"matchLabels"}, "only matchLabels selectors are expected"
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


@pytest.mark.parametrize("chart,values", VARIANTS, ids=VARIANT_IDS)
def test_every_pod_is_isolated_both_ways(chart, values):
    docs = render(chart, values)
    policies = find(docs, "NetworkPolicy")
    templates = list(pod_templates(docs))
    assert templates
    for workload, template in templates:
        types = set()
        for policy in policies:
            if _selects(policy, template["metadata"].get("labels", {})):
                types |= set(policy["spec"]["policyTypes"])
        assert types == {"Ingress", "Egress"}, "%s %s" % (workload["kind"], workload["metadata"]["name"])


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_network_policy_is_on_by_default_and_one_value_drops_it(chart):
    policy = one(render(chart), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert not find(render(chart, {"networkPolicy.enabled": False}), "NetworkPolicy")


@pytest.mark.parametrize("chart", ["postgresql", "minio"])
def test_the_stores_admit_mlflow_and_the_backup_only(chart):
    port = {"postgresql": "postgresql", "minio": "api"}[chart]
    own = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": chart, "app.kubernetes.io/instance": chart}}}
    ingress = one(render(chart), "NetworkPolicy")["spec"]["ingress"]
    assert ingress == [{"ports": [{"port": port, "protocol": "TCP"}], "from": [own, MLFLOW_PODS, BACKUP_PODS]}]
    awx = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "awx"}}}
    ingress = one(render(chart, {"networkPolicy.extraFrom": [awx]}), "NetworkPolicy")["spec"]["ingress"]
    assert ingress[0]["from"] == [own, MLFLOW_PODS, BACKUP_PODS, awx]


def test_postgresql_connects_nowhere_unless_told():
    assert one(render("postgresql"), "NetworkPolicy")["spec"]["egress"] == []
    peer = {"ipBlock": {"cidr": "192.0.2.10/32"}}
    egress = one(render("postgresql", {"networkPolicy.extraTo": [peer]}), "NetworkPolicy")["spec"]["egress"]
    assert egress == [{"to": [peer]}]


def test_minio_egress_is_dns_and_its_peers():
    assert one(render("minio"), "NetworkPolicy")["spec"]["egress"] == [{"ports": DNS_PORTS, "to": [KUBE_DNS]}]
    peer = {"ipBlock": {"cidr": "192.0.2.0/24"}}
    docs = render("minio", {"mode": "distributed", "replicaCount": 4, "networkPolicy.dnsTo": [],
                            "networkPolicy.extraTo": [peer]})
    own = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "minio", "app.kubernetes.io/instance": "minio"}}}
    assert one(docs, "NetworkPolicy")["spec"]["egress"] == [
        {"ports": DNS_PORTS},
        {"ports": [{"port": "api", "protocol": "TCP"}], "to": [own]},
        {"to": [peer]},
    ]


def test_mlflow_policy_covers_every_pod_and_its_stores():
    docs = render("mlflow", {"gc.enabled": True})
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": "mlflow"}}
    server = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": "mlflow",
                                              "app.kubernetes.io/component": "tracking-server"}}}
    assert policy["spec"]["egress"] == [
        {"ports": DNS_PORTS, "to": [KUBE_DNS]},
        {"ports": [{"port": 5432, "protocol": "TCP"}], "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgresql"}}}]},
        {"ports": [{"port": 9000, "protocol": "TCP"}], "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "minio"}}}]},
        {"ports": [{"port": "http", "protocol": "TCP"}], "to": [server]},
    ]
    # The gc rule only with gc; the server's clients come from anywhere.
    policy = one(render("mlflow"), "NetworkPolicy")
    assert [rule["ports"][0]["port"] for rule in policy["spec"]["egress"]] == [53, 5432, 9000]
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


@pytest.mark.parametrize("endpoint,port", [("", 443), ("https://s3.example.com", 443), ("http://s3.example.com", 80),
                                           ("https://s3.example.com:8443/", 8443)])
def test_mlflow_egress_follows_external_stores(endpoint, port):
    external = {"ipBlock": {"cidr": "192.0.2.0/24"}}
    docs = render("mlflow", {"artifacts.s3.endpointUrl": endpoint, "backendStore.port": 6432,
                             "networkPolicy.backendStoreTo": [external], "networkPolicy.artifactStoreTo": [],
                             "networkPolicy.extraTo": [external]})
    egress = one(docs, "NetworkPolicy")["spec"]["egress"]
    assert egress[1:] == [
        {"ports": [{"port": 6432, "protocol": "TCP"}], "to": [external]},
        {"ports": [{"port": port, "protocol": "TCP"}]},
        {"to": [external]},
    ]


def test_mlflow_extra_clients_join_a_narrowed_ingress():
    team = {"namespaceSelector": {"matchLabels": {"team": "ml"}}}
    ingress_controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    docs = render("mlflow", {"networkPolicy.allowedFrom": [team], "networkPolicy.extraFrom": [ingress_controller]})
    sources = one(docs, "NetworkPolicy")["spec"]["ingress"][0]["from"]
    assert sources[1:] == [team, ingress_controller]

"""Smoke tests of the local test cluster (`make cluster`, then `make cluster-test`).

What the roles and end-to-end tests rely on: pods run from the local images
without any pull, a PVC binds through the default StorageClass and keeps its
data across pod deletion, Services get cluster IPs and DNS names that resolve
and answer from pods, Secrets/ConfigMaps/Jobs/CronJobs/NetworkPolicies are
accepted, and kubectl exec, logs and port-forward work.
"""
import json

import pytest

PG_PASSWORD = "smoke-test-only"


def pod(name, image, command, volumes=None, mounts=None, labels=None, env=None, restart="Never"):
    container = {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                 "command": command, "volumeMounts": mounts or [], "env": env or []}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": name}},
            "spec": {"restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                     "containers": [container], "volumes": volumes or []}}


def test_node_ready_and_version(kube):
    version = json.loads(kube.run("version", "-o", "json", namespaced=False).stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.34.")
    nodes = kube.get("nodes", namespaced=False)["items"]
    assert len(nodes) == 1
    ready = [c for c in nodes[0]["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"


def test_default_storage_class(kube):
    classes = kube.get("storageclass", namespaced=False)["items"]
    default = [c for c in classes if c["metadata"].get("annotations", {}).get(
        "storageclass.kubernetes.io/is-default-class") == "true"]
    assert len(default) == 1


def test_pvc_binds_and_keeps_data_across_pod_deletion(kube, images):
    kube.apply({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": "64Mi"}}}})
    kube.wait_for("pvc data Bound",
                  lambda: kube.get("pvc", "data")["status"].get("phase") == "Bound", timeout=60)
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    mounts = [{"name": "data", "mountPath": "/data"}]
    # Writes as a non-root user (the image's uid 999), as the charts do.
    kube.apply(pod("writer", images["postgresql"],
                   ["bash", "-c", "echo kept-$(hostname) > /data/marker && cat /data/marker"],
                   volumes, mounts))
    kube.wait_pod("writer", phases=("Succeeded",))
    kube.run("delete", "pod", "writer", "--wait=true")
    kube.apply(pod("reader", images["postgresql"], ["cat", "/data/marker"], volumes, mounts))
    kube.wait_pod("reader", phases=("Succeeded",))
    assert kube.run("logs", "reader").stdout.strip() == "kept-writer"


@pytest.fixture(scope="module")
def postgresql(kube, images):
    """A PostgreSQL pod behind a Service named postgresql."""
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pg"},
                "stringData": {"password": PG_PASSWORD}})
    server = pod("postgresql", images["postgresql"], None, restart="Always",
                 labels={"app.kubernetes.io/name": "postgresql"},
                 env=[{"name": "POSTGRES_PASSWORD",
                       "valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}},
                      {"name": "PGDATA", "value": "/tmp/pgdata"}])
    del server["spec"]["containers"][0]["command"]
    server["spec"]["containers"][0]["readinessProbe"] = {
        "exec": {"command": ["pg_isready", "-h", "127.0.0.1"]}, "periodSeconds": 2}
    kube.apply(server)
    kube.apply({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "postgresql"},
                "spec": {"selector": {"app.kubernetes.io/name": "postgresql"},
                         "ports": [{"name": "postgresql", "port": 5432, "targetPort": 5432}]}})
    kube.wait_pod("postgresql")
    kube.wait_for("postgresql ready", lambda: all(
        c.get("ready") for c in kube.get("pod", "postgresql")["status"].get("containerStatuses", [])))
    return kube.get("service", "postgresql")["spec"]["clusterIP"]


def test_service_ip_and_dns_from_a_pod(kube, images, postgresql):
    name = f"postgresql.{kube.namespace}.svc.cluster.local"
    script = (
        f"set -e; getent hosts {name}; getent hosts kubernetes.default.svc.cluster.local; "
        # A new Service answers once its EndpointSlice reached kube-proxy: allow
        # it a moment (pg_isready gives up at once on a refused connection).
        f"for i in $(seq 30); do pg_isready -q -h {postgresql} -p 5432 -t 2 && break; sleep 1; done; "
        f"pg_isready -h {postgresql} -p 5432 -t 20; pg_isready -h {name} -p 5432 -t 20; "
        "timeout 10 bash -c '</dev/tcp/10.96.0.1/443' && echo api-reachable; "
        f"PGPASSWORD={PG_PASSWORD} psql -h postgresql -U postgres -Atc 'select 40+2'")
    kube.apply(pod("client", images["postgresql"], ["bash", "-c", script]))
    kube.wait_pod("client", phases=("Succeeded",), timeout=120)
    out = kube.run("logs", "client").stdout
    lines = out.splitlines()
    assert lines[0].split()[0] == postgresql, out
    assert lines[1].split()[0] == "10.96.0.1", out
    assert "accepting connections" in out
    assert "api-reachable" in out
    assert lines[-1] == "42", out


def test_exec_and_logs(kube, postgresql):
    out = kube.run("exec", "postgresql", "--", "psql", "-U", "postgres", "-h", "/var/run/postgresql",
                   "-Atc", "select current_user").stdout
    assert out.strip() == "postgres"
    # Hairpin: a pod reaches itself through its own Service.
    name = f"postgresql.{kube.namespace}.svc.cluster.local"
    assert "accepting connections" in kube.run("exec", "postgresql", "--", "pg_isready", "-h", name,
                                               "-t", "20").stdout
    assert "database system is ready to accept connections" in kube.run("logs", "postgresql").stdout


def test_port_forward(kube, images):
    kube.apply(pod("web", images["mlflow"], ["python3", "-m", "http.server", "8000", "-d", "/etc"],
                   restart="Always"))
    kube.wait_pod("web")
    assert kube.get_through_port_forward("pod/web", 8000, "/hostname") == "web"


def test_job_with_secret_and_configmap(kube, images):
    kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                "data": {"greeting": "hello"}})
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sec"},
                "stringData": {"token": "s3cr3t"}})
    kube.apply({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"},
                "spec": {"backoffLimit": 0, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": images["postgresql"],
                                    "imagePullPolicy": "IfNotPresent",
                                    "command": ["bash", "-c", 'echo "$(cat /cfg/greeting) $TOKEN"'],
                                    "env": [{"name": "TOKEN", "valueFrom": {
                                        "secretKeyRef": {"name": "sec", "key": "token"}}}],
                                    "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}]}],
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}]}}}})
    kube.wait_for("job complete", lambda: kube.get("job", "job")["status"].get("succeeded") == 1,
                  timeout=120)
    assert kube.run("logs", "job/job").stdout.strip() == "hello s3cr3t"


def test_cronjob_and_networkpolicy_accepted(kube, images):
    kube.apply({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cron"},
                "spec": {"schedule": "*/5 * * * *", "suspend": True, "jobTemplate": {"spec": {
                    "template": {"spec": {"restartPolicy": "Never", "containers": [{
                        "name": "main", "image": images["postgresql"], "command": ["true"]}]}}}}}})
    kube.apply({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "deny-all"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})
    assert kube.get("cronjob", "cron")["spec"]["suspend"] is True
    # The CronJob's template runs (as `kubectl create job --from` does it).
    kube.run("create", "job", "cron-now", "--from=cronjob/cron")
    kube.wait_for("job from the cronjob",
                  lambda: kube.get("job", "cron-now")["status"].get("succeeded") == 1, timeout=120)
    assert kube.get("networkpolicy", "deny-all")["metadata"]["name"] == "deny-all"


def test_no_image_was_pulled(kube):
    events = kube.get("events")["items"]
    pulls = [e for e in events if e.get("reason") in ("Pulling", "ErrImagePull", "ImagePullBackOff")]
    assert not pulls, pulls

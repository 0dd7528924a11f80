"""Isolation on the shared installed stack (issue: isolation by default).

The namespace site.yml made enforces the "restricted" Pod Security Standard:
its labels say so, and the API server refuses a privileged pod in it (a
server-side dry run: admission runs, nothing is created) while it admits the
same pod made compliant. No process of any running container of the stack
has a credential of the stack in its arguments (/proc/<pid>/cmdline, which
every user of the node can read) or its environment (/proc/<pid>/environ,
inherited by every process it starts); MLflow's CSRF signing key is the one
value MLflow takes from the environment only. The MinIO console is not on the Service
(test_browser_e2e reaches it by port-forwarding the pod). The charts'
NetworkPolicies, enforced by the local cluster's policy controller, keep
every pod but the stack's own clients away from PostgreSQL and MinIO.
No cluster is a failure, not a skip.
"""
import json

from e2e_support import kubectl

ENFORCED = "pod-security.kubernetes.io/enforce"


def pod(namespace, name, security_context, container_context):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"securityContext": security_context,
                     "containers": [{"name": "probe", "image": "localhost/mlops-stack/pause:latest",
                                     "securityContext": container_context}]}}


def test_the_namespace_enforces_restricted_pod_security(shared_stack):
    namespace = json.loads(kubectl("get", "namespace", shared_stack.namespace, "-o", "json").stdout)
    labels = namespace["metadata"]["labels"]
    assert labels.get(ENFORCED) == "restricted", labels
    assert labels.get("pod-security.kubernetes.io/warn") == "restricted", labels

    privileged = pod(shared_stack.namespace, "privileged-probe", {}, {"privileged": True})
    refused = kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(privileged), check=False)
    assert refused.returncode != 0, "a privileged pod was admitted"
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr, refused.stderr
    assert "privileged" in refused.stderr, refused.stderr

    compliant = pod(shared_stack.namespace, "compliant-probe",
                    {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
                    {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}})
    admitted = kubectl("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(compliant), check=False)
    assert admitted.returncode == 0, admitted.stderr
    assert kubectl("-n", shared_stack.namespace, "get", "pod", "privileged-probe", check=False).returncode != 0


def test_no_credential_in_any_process_arguments_or_environment(shared_stack):
    secrets = shared_stack.secret_values()
    assert len(secrets) >= 4, f"the stack's Secrets were not found: {len(secrets)} values"
    # MLflow reads its CSRF signing key from the environment only and passes it
    # to its workers the same way: the one known exception, for environ only.
    flask_key = shared_stack.secret_data(f"{shared_stack.releases['mlflow']}-auth")["flask-secret-key"]
    credentials = [s for s in secrets if s != flask_key]
    assert len(credentials) == len(secrets) - 1
    pods = json.loads(kubectl("-n", shared_stack.namespace, "get", "pods", "--field-selector=status.phase=Running",
                              "-o", "json").stdout)["items"]
    read = []
    for item in pods:
        for container in item["spec"]["containers"]:
            where = f"{item['metadata']['name']}/{container['name']}"
            # Each process's arguments, then its environment, one line per
            # process; the container's own user can read both of its processes.
            listed = kubectl("-n", shared_stack.namespace, "exec", item["metadata"]["name"], "-c", container["name"],
                             "--", "sh", "-c",
                             'for f in /proc/[0-9]*/cmdline; do tr "\\000" " " < "$f"; echo; done; echo ENVIRON;'
                             ' for f in /proc/[0-9]*/environ; do'
                             '   tr "\\000" " " < "$f" 2>/dev/null || { [ -e "$f" ] && echo "UNREADABLE $f"; }; echo;'
                             ' done',
                             check=False)
            assert listed.returncode == 0, f"{where}: {listed.stderr}"
            arguments, environments = listed.stdout.split("ENVIRON\n")
            assert arguments.strip(), f"{where}: no process listed"
            # The environment was really read: every process has a PATH or HOME.
            assert "PATH=" in environments or "HOME=" in environments, f"{where}: no environment read"
            assert "UNREADABLE" not in environments, f"{where}: {environments}"
            assert not [s for s in secrets if s in arguments], f"a credential is in a process argument in {where}"
            assert not [s for s in credentials if s in environments], \
                f"a credential is in a process environment in {where}"
            read.append(where)
    components = {where.split("/")[1] for where in read}
    assert {"minio", "postgresql", "mlflow"} <= components, read


# Tries for up to a minute (the policy controller applies a change within
# seconds) to reach each target; prints one JSON line {"host:port": "open"|"closed"}.
PROBE = r"""
import json, socket, sys, time
wanted = json.loads(sys.argv[1])
found = {}
deadline = time.monotonic() + 60
while True:
    for target, outcome in wanted.items():
        host, port = target.rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
            found[target] = "open"
        except OSError:
            found[target] = "closed"
    if found == wanted or time.monotonic() > deadline:
        break
    time.sleep(2)
print(json.dumps(found))
"""


def probe(namespace, name, labels, image, wanted):
    """What a pod of namespace with labels can open of wanted ({"host:port": outcome})."""
    spec = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                     "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                         "seccompProfile": {"type": "RuntimeDefault"}},
                     "containers": [{"name": "probe", "image": image, "imagePullPolicy": "IfNotPresent",
                                     "command": ["python3", "-c", PROBE, json.dumps(wanted)],
                                     "securityContext": {"allowPrivilegeEscalation": False,
                                                         "capabilities": {"drop": ["ALL"]}}}]}}
    kubectl("apply", "-f", "-", stdin=json.dumps(spec))
    try:
        kubectl("-n", namespace, "wait", f"pod/{name}", "--for=jsonpath={.status.phase}=Succeeded",
                "--timeout=150s", timeout=170)
        return json.loads(kubectl("-n", namespace, "logs", name).stdout.strip().splitlines()[-1])
    finally:
        kubectl("-n", namespace, "delete", "pod", name, "--wait=false", "--ignore-not-found", check=False)


def test_network_policies_admit_only_the_stack_s_own_clients(shared_stack):
    """PostgreSQL, MinIO's API and its console accept only the pods allowed to
    use them; a pod without those labels, in the stack's namespace or another
    one, cannot open a connection; MLflow takes clients from anywhere (its
    default). The allowed client opening the same ports proves the probe."""
    namespace, releases = shared_stack.namespace, shared_stack.releases
    policies = {p["metadata"]["name"] for p in json.loads(kubectl(
        "-n", namespace, "get", "networkpolicies", "-o", "json").stdout)["items"]}
    assert set(releases.values()) <= policies, policies
    image = json.loads(kubectl("-n", namespace, "get", "deployment", releases["mlflow"], "-o", "json").stdout)[
        "spec"]["template"]["spec"]["containers"][0]["image"]
    minio_pod = json.loads(kubectl("-n", namespace, "get", "pod", f"{releases['minio']}-0", "-o", "json").stdout)
    domain = f"{namespace}.svc.cluster.local"
    postgresql = f"{releases['postgresql']}.{domain}:5432"
    minio_api = f"{releases['minio']}.{domain}:9000"
    console = f"{minio_pod['status']['podIP']}:9001"
    mlflow = f"{releases['mlflow']}.{domain}:5000"

    closed = {postgresql: "closed", minio_api: "closed", console: "closed", mlflow: "open"}
    assert probe(namespace, "stranger", {"app": "e2e-stranger"}, image, closed) == closed

    outsider = f"{namespace}-outsider"
    kubectl("create", "namespace", outsider)
    try:
        assert probe(outsider, "outsider", {"app.kubernetes.io/name": "mlflow"}, image, closed) == closed
    finally:
        kubectl("delete", "namespace", outsider, "--wait=false", check=False)

    # The label the PostgreSQL and MinIO policies admit (MLflow's pods carry it).
    opened = {postgresql: "open", minio_api: "open"}
    assert probe(namespace, "allowed", {"app.kubernetes.io/name": "mlflow"}, image, opened) == opened

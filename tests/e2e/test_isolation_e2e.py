"""Isolation on the shared installed stack (issue: isolation by default).

The namespace site.yml made enforces the "restricted" Pod Security Standard:
its labels say so, and the API server refuses a privileged pod in it (a
server-side dry run: admission runs, nothing is created) while it admits the
same pod made compliant. No process of any running container of the stack
has a credential of the stack in its arguments (/proc/<pid>/cmdline, which
every user of the node can read) or its environment (/proc/<pid>/environ,
inherited by every process it starts); MLflow's CSRF signing key is the one
value MLflow takes from the environment only. The MinIO console is not on the Service
(test_browser_e2e reaches it by port-forwarding the pod).
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

"""--check through the playbooks: they report what they would do and change nothing.

site.yml --check on a namespace that does not exist reports the namespace,
the credential Secrets and the releases it would create, fails on nothing and
leaves the namespace absent; uninstall.yml --check there has nothing to do.
On the shared installed stack, backup.yml, backup_schedule.yml and
uninstall.yml in check mode succeed and leave it as it was. (site.yml --check
over an installed stack reporting no change is test_lifecycle's.)
"""
import json
import re
import uuid

from e2e_support import Stack, kubectl, require_cluster

RECAP = re.compile(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def recap(output):
    """(changed, failed) summed over the PLAY RECAP lines."""
    found = [[int(n) for n in counts] for counts in RECAP.findall(output)]
    assert found, output[-3000:]
    return sum(counts[0] for counts in found), sum(counts[1] + counts[2] for counts in found)


def test_site_check_on_a_new_namespace():
    require_cluster()
    stack = Stack(f"mlops-ck-{uuid.uuid4().hex[:6]}")
    try:
        output = stack.playbook("site.yml", "--check", label="site.yml --check (new namespace)")
        changed, failed = recap(output)
        assert failed == 0 and changed > 0, output[-3000:]
        for secret in ("minio-auth", "mlflow-s3", "postgresql-auth", "mlflow-database", "mlflow-auth",
                       "mlops-tls-ca", "minio-tls", "postgresql-tls"):
            assert f"would create Secret {stack.namespace}/{secret}" in output, secret
        assert f"would create ConfigMap {stack.namespace}/mlops-tls-trust" in output
        for release in ("minio", "postgresql", "mlflow"):
            assert f"would install or upgrade release {stack.namespace}/{release}" in output, release
        assert kubectl("get", "namespace", stack.namespace, check=False).returncode != 0, "check mode created it"

        output = stack.playbook("uninstall.yml", "--check", label="uninstall.yml --check (new namespace)")
        assert recap(output) == (0, 0), output[-3000:]
        assert kubectl("get", "namespace", stack.namespace, check=False).returncode != 0
    finally:
        kubectl("delete", "namespace", stack.namespace, "--ignore-not-found", "--wait=false", check=False)


def releases(stack):
    listed = kubectl("-n", stack.namespace, "get", "secrets", "-l", "owner=helm", "-o", "json").stdout
    return sorted({item["metadata"]["labels"]["name"] for item in json.loads(listed)["items"]})


def test_check_mode_leaves_an_installed_stack_as_it_was(shared_stack):
    before = releases(shared_stack)
    assert len(before) == 3, before
    for playbook in ("backup.yml", "backup_schedule.yml", "uninstall.yml"):
        output = shared_stack.playbook(playbook, "--check", label=f"{playbook} --check")
        assert recap(output)[1] == 0, output[-3000:]
    assert releases(shared_stack) == before
    assert kubectl("-n", shared_stack.namespace, "get", "cronjob", "mlops-stack-backup", check=False).returncode != 0

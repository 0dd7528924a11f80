"""Bad input on a running stack: refused in one line, with the cluster left exactly as it was.

On the stack the e2e modules share (conftest.py), backed up once. Then each case runs a playbook with one mistyped variable that
only a running stack can refuse (a set that does not exist, a restore that
would replace data, a Secret or namespace that is not there) or whose refusal
must be shown to leave the cluster untouched (a bad cron expression used to
leave a ServiceAccount, a Role and a ConfigMap behind). Each case asserts the
one line of docs/bad-input.md, PLAY RECAP changed=0 and the same objects at
the same versions in the namespace before and after: no Lease, no CronJob, no
Helm revision, MLflow still ready. The cases refused without a cluster are in
tests/integration/test_bad_input.py. No cluster is a failure, not a skip.
"""
import json

import pytest

from e2e_support import BACKUP_ID, SHARED, assert_refused, kubectl, namespace_snapshot

STACK = SHARED
NAMESPACE = STACK.namespace
SETS = f"s3://mlflow-backups/{NAMESPACE}"

CASES = [
    ("restore.yml", {"mlops_restore_backup_id": "20200101T000000Z"},
     f"mlops_restore_backup_id: no set with this id at {SETS} (20200101T000000Z)"),
    ("restore.yml", {"mlops_backup_destination": f"{SETS}-empty"},
     f"mlops_restore_backup_id: no complete set at {SETS}-empty (latest)"),
    ("restore.yml", {"mlops_backup_destination": "/nonexistent/backups"},
     "mlops_backup_destination: directory does not exist (/nonexistent/backups)"),
    ("restore.yml", {"mlops_backup_destination_secret_name": "no-such-secret"},
     f"mlops_backup_destination_secret_name: no such Secret in namespace {NAMESPACE} (no-such-secret)"),
    ("backup.yml", {"mlops_backup_destination_secret_name": "no-such-secret"},
     f"mlops_backup_destination_secret_name: no such Secret in namespace {NAMESPACE} (no-such-secret)"),
    ("backup.yml", {"mlops_namespace": f"{NAMESPACE}-missing"},
     f"mlops_namespace: no such namespace; install the stack with site.yml first ({NAMESPACE}-missing)"),
    ("backup_schedule.yml", {"mlops_backup_schedule": "0 25 * * *"},
     "mlops_backup_schedule: must be a cron expression: hour field 25 is not within 0-23 (0 25 * * *)"),
    ("backup_schedule.yml", {"mlops_backup_destination_secret_name": "no-such-secret"},
     f"mlops_backup_destination_secret_name: no such Secret in namespace {NAMESPACE} (no-such-secret)"),
    ("backup_schedule.yml", {"mlops_backup_destination": "/backups/mlops"},
     "mlops_backup_destination: is a directory, which the CronJob writes only on a volume; name its claim in "
     "mlops_backup_schedule_pvc (/backups/mlops)"),
    ("site.yml", {"mlflow_artifacts_secret_access_key": "not-shown-3f9c1a"},
     "mlflow_artifacts_access_key_id: must be given together with mlflow_artifacts_secret_access_key"),
    ("verify.yml", {"mlflow_release_name": "MLflow"},
     "mlflow_release_name: must be a Helm release name: at most 53 lowercase letters, digits and '-', starting "
     "and ending with a letter or digit (MLflow)"),
    ("uninstall.yml", {"mlops_purge": "maybe"}, "mlops_purge: must be true or false (maybe)"),
]


@pytest.fixture(scope="module")
def stack(shared_stack):
    output = shared_stack.playbook("backup.yml", label="backup.yml (bad input)")
    assert BACKUP_ID.search(output)
    yield shared_stack


@pytest.mark.parametrize("playbook,variables,line", CASES,
                         ids=[f"{case[0]}-{next(iter(case[1]))}" for case in CASES])
def test_bad_input_changes_nothing(stack, playbook, variables, line):
    before = namespace_snapshot(NAMESPACE)
    assert any(key.startswith("Deployment/") for key in before)
    output = stack.playbook(playbook, "-e", json.dumps(variables), label=f"{playbook} refused", expect_rc=1)
    assert_refused(output, line, hidden=stack.secret_values() + ["not-shown-3f9c1a"])
    assert namespace_snapshot(NAMESPACE) == before
    assert kubectl("get", "namespace", f"{NAMESPACE}-missing", check=False).returncode != 0


def test_a_restore_that_would_replace_data_is_refused_before_the_lock(stack):
    before = namespace_snapshot(NAMESPACE)
    output = stack.playbook("restore.yml", label="restore.yml unconfirmed", expect_rc=1)
    refusal = [text for text in output.splitlines() if "mlops_restore_confirm: restoring set" in text]
    assert refusal, output[-4000:]
    assert "mlops_restore_confirm=true" in refusal[0] and refusal[0].endswith("(false)"), refusal[0]
    assert_refused(output, refusal[0].split("Task failed: ")[-1].split("Action failed: ")[-1])
    assert namespace_snapshot(NAMESPACE) == before

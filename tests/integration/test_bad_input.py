"""Bad input to the playbooks, refused before any cluster is asked: no cluster needed.

Each case gives a playbook a mistyped variable, as a new user would (cases of
the same playbook share a run where they cannot affect each other), and
expects the one line of docs/bad-input.md, PLAY RECAP changed=0 and nothing
else: the kubeconfig names a server nobody listens on, so a run that got past
its input check would fail in another way. The cases that need a running stack
(a set that does not exist, a missing Secret or namespace) are in
tests/e2e/test_bad_input_e2e.py.
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from e2e_support import assert_refused, tool_env, tools_path  # noqa: E402

NAME_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"
PASSWORD = "not-shown-3f9c1a"
CASES = [
    ("site.yml", {"mlops_namespace": "Bad_NS"},
     f"mlops_namespace: must be a namespace name: at most 63 {NAME_RULE} (Bad_NS)"),
    ("site.yml", {"mlflow_replicas": "two"}, "mlflow_replicas: must be an integer (two)"),
    ("site.yml", {"mlflow_replicas": 0}, "mlflow_replicas: must be at least 1 (0)"),
    ("site.yml", {"minio_persistence_size": "10GB"},
     "minio_persistence_size: must be a Kubernetes quantity such as 10Gi, 512Mi or 500m (10GB)"),
    ("site.yml", {"mlflow_resources": {"limits": {"memory": "1 GB"}}},
     'mlflow_resources: limits.memory must be a Kubernetes quantity such as 512Mi or 500m, not 1 GB '
     '({"limits":{"memory":"1 GB"}})'),
    ("site.yml", {"mlflow_image": {"repository": "mlops-stack/mlflow", "tag": "3.17 final"}},
     "mlflow_image: tag must be letters, digits, '_', '.' or '-' (at most 128) "
     '({"repository":"mlops-stack/mlflow","tag":"3.17 final"})'),
    ("site.yml", {"mlflow_ingress": {"enabled": True}},
     'mlflow_ingress: host must be set when enabled is true '
     '({"annotations":{},"class_name":"","enabled":true,"host":"","tls_secret_name":""})'),
    ("site.yml", {"mlflow_backend_store_password": PASSWORD},
     "mlflow_backend_store_username: must be given together with mlflow_backend_store_password"),
    ("site.yml", {"mlflow_auth_default_permission": "WRITE"},
     "mlflow_auth_default_permission: must be one of READ, EDIT, MANAGE, NO_PERMISSIONS (WRITE)"),
    ("site.yml", {"minio_helm_timeout": "10 minutes"},
     "minio_helm_timeout: must be a duration such as 5m, 1h or 1h30m (10 minutes)"),
    ("site.yml", {"minio_access": "endpoint"}, "minio_endpoint_url: must be set when minio_access is endpoint"),
    ("site.yml", {"postgresql_release_name": "PostgreSQL"},
     f"postgresql_release_name: must be a Helm release name: at most 53 {NAME_RULE} (PostgreSQL)"),
    ("site.yml", {"mlops_install_minio": "perhaps"}, "mlops_install_minio: must be true or false (perhaps)"),
    ("verify.yml", {"mlops_verify_keep": "maybe"}, "mlops_verify_keep: must be true or false (maybe)"),
    ("verify.yml", {"mlflow_access": "ingress"},
     "mlflow_access: must be one of auto, port_forward, service_dns, endpoint (ingress)"),
    ("uninstall.yml", {"mlops_purge": "yes please"}, "mlops_purge: must be true or false (yes please)"),
    ("uninstall.yml", {"mlops_kubeconfig": "/nonexistent/kubeconfig"},
     "mlops_kubeconfig: file does not exist (/nonexistent/kubeconfig)"),
    ("backup.yml", {"mlops_backup_keep_last": 0}, "mlops_backup_keep_last: must be at least 1 (0)"),
    ("backup.yml", {"mlops_backup_destination": "backups"},
     "mlops_backup_destination: must be s3://bucket/prefix or an absolute directory, not a relative path (backups)"),
    ("backup.yml", {"mlops_backup_destination": "s3://Backups/mlops"},
     "mlops_backup_destination: names an invalid bucket: use 3 to 63 lowercase letters, digits, '.' or '-' "
     "(s3://Backups/mlops)"),
    ("backup.yml", {"mlops_backup_keep_within": "2 weeks"},
     "mlops_backup_keep_within: must be a number followed by s, m, h, d or w, such as 7d (2 weeks)"),
    ("backup.yml", {"mlops_backup_workers": 100}, "mlops_backup_workers: must be at most 64 (100)"),
    ("backup.yml", {"mlops_backup_destination": "{file}/sets"},
     "mlops_backup_destination: {file} is not a directory ({file}/sets)"),
    ("restore.yml", {"mlops_restore_backup_id": "yesterday"},
     "mlops_restore_backup_id: must be latest or the id of a set such as 20261126T061500Z (yesterday)"),
    ("restore.yml", {"mlops_backup_destination": "/nonexistent/backups"},
     "mlops_backup_destination: directory does not exist (/nonexistent/backups)"),
    ("restore.yml", {"mlops_restore_confirm": "perhaps"}, "mlops_restore_confirm: must be true or false (perhaps)"),
    ("backup_schedule.yml", {"mlops_backup_schedule": "0 25 * * *"},
     "mlops_backup_schedule: must be a cron expression: hour field 25 is not within 0-23 (0 25 * * *)"),
    ("backup_schedule.yml", {"mlops_backup_schedule": "every night"},
     "mlops_backup_schedule: must be a cron expression of 5 fields (minute hour day-of-month month day-of-week) "
     "or @hourly, @daily, @weekly, @monthly, @yearly (every night)"),
    ("backup_schedule.yml", {"mlops_backup_schedule_time_zone": "Mars/Olympus"},
     "mlops_backup_schedule_time_zone: must be a time zone of the tz database such as Etc/UTC or Europe/Berlin "
     "(Mars/Olympus)"),
    ("backup_schedule.yml", {"mlops_backup_schedule_image": "localhost/mlops-stack/ee"},
     "mlops_backup_schedule_image: must name a tag or a digest (images are never pulled as latest) "
     "(localhost/mlops-stack/ee)"),
    ("backup_schedule.yml", {"mlops_backup_schedule_state": "gone"},
     "mlops_backup_schedule_state: must be one of present, absent (gone)"),
    ("backup_schedule.yml", {"mlops_backup_destination_access_key": "backup", "mlops_backup_destination_secret_key":
                             PASSWORD},
     "mlops_backup_destination_access_key: is not for the CronJob (it would end up in a ConfigMap); put the key pair "
     "in a Secret of namespace mlops (keys access-key-id, secret-access-key) and name it in "
     "mlops_backup_destination_secret_name"),
    ("backup_schedule.yml", {"mlops_backup_schedule_name": "b" * 53},
     f"mlops_backup_schedule_name: must be a CronJob name: at most 52 {NAME_RULE} ({'b' * 53})"),
    ("backup_schedule.yml", {"mlops_backup_schedule_resources": {"requests": {"cpu": "a lot"}}},
     "mlops_backup_schedule_resources: requests.cpu must be a Kubernetes quantity such as 512Mi or 500m, not a lot "
     '({"requests":{"cpu":"a lot"}})'),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """An inventory of the controller alone and a kubeconfig of a cluster that is not there."""
    root = tmp_path_factory.mktemp("bad-input")
    kubeconfig = root / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "nowhere",
        "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:9"}}],
        "contexts": [{"name": "nowhere", "context": {"cluster": "nowhere", "user": "nobody"}}],
        "users": [{"name": "nobody", "user": {"token": "none"}}],
    }))
    inventory = root / "inventory.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "mlops_namespace": "mlops", "mlops_kubeconfig": str(kubeconfig)}}}}))
    a_file = root / "a-file"
    a_file.write_text("not a directory\n")
    return dict(inventory=inventory, kubeconfig=kubeconfig, file=str(a_file))


def run(workspace, playbook, variables):
    env = dict(tool_env(), KUBECONFIG=str(workspace["kubeconfig"]))
    command = [shutil.which("ansible-playbook", path=tools_path()), "-i", str(workspace["inventory"]),
               "-e", json.dumps(variables), str(REPO / "playbooks" / playbook)]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0, f"{playbook} accepted {variables}:\n{proc.stdout[-3000:]}"
    return proc.stdout + proc.stderr


# Cases whose variable changes which other checks apply: each runs alone.
ALONE = ("mlops_install_minio", "minio_access", "mlflow_backend_store_password", "mlops_kubeconfig",
         "mlops_backup_destination_access_key")


def batches(cases):
    """The cases of each playbook grouped into as few runs as possible: the input check names every
    bad variable at once, so one run refuses several (each variable at most once a run)."""
    groups = []
    for index, (playbook, variables, _line) in enumerate(cases):
        alone = any(name in ALONE for name in variables)
        group = None if alone else next(
            (group for group in groups if group["playbook"] == playbook and not group["alone"]
             and not set(group["variables"]) & set(variables)), None)
        if group is None:
            group = dict(playbook=playbook, variables={}, alone=alone, output=None)
            groups.append(group)
        group["variables"].update(variables)
        group.setdefault("cases", []).append(index)
    return {index: group for group in groups for index in group["cases"]}


BATCH_OF = batches(CASES)


@pytest.mark.parametrize("index", range(len(CASES)),
                         ids=[f"{case[0]}-{next(iter(case[1]))}" for case in CASES])
def test_bad_input_is_refused_in_one_line(workspace, index):
    group = BATCH_OF[index]
    if group["output"] is None:
        variables = {name: value.replace("{file}", workspace["file"]) if isinstance(value, str) else value
                     for name, value in group["variables"].items()}
        group["output"] = run(workspace, group["playbook"], variables)
    output = group["output"]
    assert_refused(output, CASES[index][2].replace("{file}", workspace["file"]), hidden=[PASSWORD])
    # Refused by the input check: the unreachable cluster was never asked.
    assert "127.0.0.1:9" not in output


def test_every_bad_variable_is_named_at_once(workspace):
    output = run(workspace, "site.yml", {"mlflow_replicas": "two", "minio_persistence_size": "10GB"})
    assert_refused(output, "mlflow_replicas: must be an integer (two)")
    assert_refused(output, "minio_persistence_size: must be a Kubernetes quantity such as 10Gi, 512Mi or 500m (10GB)")


def test_good_input_passes_the_check(workspace):
    # The check lets the defaults through: the run goes on to ask the (absent) cluster.
    output = run(workspace, "backup_schedule.yml", {})
    assert "input_refused" not in output
    assert os.path.basename(str(workspace["kubeconfig"])) in output or "127.0.0.1" in output

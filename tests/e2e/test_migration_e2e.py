"""End-to-end: an MLflow schema migration runs once, before any new pod serves,
and a failed one leaves the old pods serving.

Runs against the cluster of $KUBECONFIG (default: the local cluster of
`make cluster`) on the stack test_upgrade_e2e upgraded from the first release
when it ran first in the session (else in a new namespace), with two MLflow
replicas. A newer
MLflow is simulated the way it meets the database: the schema is taken one
alembic revision back (the image's own downgrade of its newest migration), so
the image finds its newest migration to apply, and site.yml is run with a
changed release (a pod annotation standing for the new image tag), so Helm
upgrades and its pre-upgrade hook Job migrates.

- Once: while site.yml runs, a thread records every value alembic_version
  takes, every migration pod and when each server pod first appears. The
  revision moves once (old -> head), one migration pod ran, every new server
  pod appeared after the move, and their init containers only waited (none ran
  a migration); /health answered throughout.
- Failed: the same, with a table the migration creates already there, so the
  migration fails in PostgreSQL. site.yml fails with a line naming the cause
  (the DuplicateTable error); the two old pods are the ones serving, untouched,
  /health and a database read answered throughout, the revision never moved.
  With the table dropped, the next site.yml converges.
The namespace is purged at the end of the session. No cluster is a failure, not a skip.
"""
import json
import re
import threading
import time

import pytest

from e2e_support import UPGRADED, Availability, kubectl, require_cluster

# The stack test_upgrade_e2e upgraded, when it ran first in this session; else
# a new one (site.yml installs it).
STACK = UPGRADED
NAMESPACE = STACK.namespace
SERVER = "app.kubernetes.io/instance=mlflow,app.kubernetes.io/component=tracking-server"
MIGRATION = "app.kubernetes.io/instance=mlflow,app.kubernetes.io/component=migration"
# With nothing replaced, the old pods answer every poll: allow one slow poll.
UNTOUCHED_GAP_BOUND = 5.0
ROLLING_GAP_BOUND = 15.0
# The newest migration of the image creates this table.
CONFLICT = "scheduler_leases"

# Runs in a server container: the database login from the files the chart
# mounts, the rest from its environment.
SCHEMA = r"""
import os, sys, warnings
warnings.simplefilter("ignore")
from urllib.parse import quote
from alembic import command
from mlflow.store.db.utils import _get_alembic_config, _get_schema_version, create_sqlalchemy_engine
e = os.environ
login = [open("/run/secrets/mlflow/database/" + name).read() for name in ("username", "password")]
uri = "postgresql://%s:%s@%s:%s/%s?sslmode=%s" % (
    quote(login[0], safe=""), quote(login[1], safe=""),
    e["MLFLOW_DB_HOST"], e["MLFLOW_DB_PORT"], quote(e["MLFLOW_DB_NAME"], safe=""), e["MLFLOW_DB_SSLMODE"])
if e.get("MLFLOW_DB_SSLROOTCERT"):
    uri += "&sslrootcert=" + quote(e["MLFLOW_DB_SSLROOTCERT"], safe="/")
engine = create_sqlalchemy_engine(uri)
if sys.argv[1] == "downgrade":
    config = _get_alembic_config(uri)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
print(_get_schema_version(engine))
"""


def schema(action):
    """The tracking schema's revision, after taking it one revision back for action "downgrade"."""
    proc = kubectl("-n", NAMESPACE, "exec", "deploy/mlflow", "-c", "mlflow", "--", "python3", "-c", SCHEMA, action)
    return proc.stdout.strip().splitlines()[-1]


def psql(sql):
    return kubectl("-n", NAMESPACE, "exec", "postgresql-0", "-c", "postgresql", "--",
                   "psql", "-U", "postgres", "-d", "mlflow", "-v", "ON_ERROR_STOP=1", "-tAc", sql).stdout.strip()


def pods(selector):
    items = json.loads(kubectl("-n", NAMESPACE, "get", "pods", "-l", selector, "-o", "json").stdout)["items"]
    return {pod["metadata"]["name"]: pod for pod in items}


def serving():
    """Server pods that are ready and not being stopped."""
    return sorted(name for name, pod in pods(SERVER).items()
                  if not pod["metadata"].get("deletionTimestamp")
                  and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])))


class Watcher(threading.Thread):
    """Records, about once a second: each value alembic_version takes (and
    when), every migration pod, and when each server pod first appears."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stopping = threading.Event()
        self.revisions, self.migration_pods, self.server_seen = [], set(), {}

    def run(self):
        while not self.stopping.is_set():
            revision = kubectl("-n", NAMESPACE, "exec", "postgresql-0", "-c", "postgresql", "--", "psql", "-U",
                               "postgres", "-d", "mlflow", "-tAc", "SELECT version_num FROM alembic_version",
                               check=False).stdout.strip()
            if revision and (not self.revisions or self.revisions[-1][0] != revision):
                self.revisions.append((revision, time.monotonic()))
            self.migration_pods.update(pods(MIGRATION))
            for name in pods(SERVER):
                self.server_seen.setdefault(name, time.monotonic())
            self.stopping.wait(1.0)

    def stop(self):
        self.stopping.set()
        self.join(timeout=60)
        return [entry[0] for entry in self.revisions]


def site(round_name, expect_rc=0):
    """site.yml with two replicas and a release that differs by round_name."""
    values = json.dumps({"mlflow_values": {"podAnnotations": {"mlops.stack/test-round": round_name}}})
    return STACK.playbook("site.yml", "-e", "mlops_verify=false", "-e", "mlflow_replicas=2", "-e", values,
                          label=f"site.yml {round_name}", expect_rc=expect_rc)


def upgrade(round_name, admin, expect_rc=0):
    watcher, availability = Watcher(), Availability(admin, NAMESPACE)
    watcher.start()
    availability.start()
    try:
        output = site(round_name, expect_rc)
    finally:
        measured = availability.stop()
        revisions = watcher.stop()
    print(f"\n{round_name}: revisions {revisions}, migration pods {sorted(watcher.migration_pods)}, {measured}")
    return output, watcher, revisions, measured


@pytest.fixture(scope="module")
def stack(upgraded_stack):
    """Two MLflow replicas on the session's upgraded stack (installed here when
    the upgrade test did not run); purged at the end of the session."""
    require_cluster()
    site("install")
    assert len(serving()) == 2, pods(SERVER)
    yield tuple(STACK.secret_data("mlflow-auth")[key] for key in ("admin-username", "admin-password"))


def test_migration_runs_once_before_new_pods(stack):
    head = schema("revision")
    older = schema("downgrade")
    assert older != head
    old_pods = serving()

    _output, watcher, revisions, measured = upgrade("once", stack)

    assert revisions == [older, head], f"alembic_version did not move exactly once: {revisions}"
    assert len(watcher.migration_pods) == 1, f"migration pods: {sorted(watcher.migration_pods)}"
    new_pods = serving()
    assert len(new_pods) == 2 and not set(new_pods) & set(old_pods), (old_pods, new_pods)
    migrated_at = watcher.revisions[-1][1]
    for name in new_pods:
        # Polled once a second: a pod seen first before the move would be seen a second earlier.
        assert watcher.server_seen[name] > migrated_at - 1.0, f"{name} existed before the schema was migrated"
        log = kubectl("-n", NAMESPACE, "logs", name, "-c", "wait-for-schema").stdout
        assert "The MLflow schema is current" in log, log
        assert "Migrat" not in log, f"the init container of {name} migrated:\n{log}"
    assert measured["longest_gap_s"]["health"] < ROLLING_GAP_BOUND, measured


def test_failed_migration_keeps_the_old_pods_serving(stack):
    older = schema("downgrade")
    psql(f"CREATE TABLE {CONFLICT} (lease_key text)")
    old_pods = serving()
    assert len(old_pods) == 2

    output, watcher, revisions, measured = upgrade("failed", stack, expect_rc=1)

    line = re.search(r"Failed to migrate the MLflow schema: [^\n]*", output)
    assert line, f"no line names the failed migration:\n{output[-4000:]}"
    assert "DuplicateTable" in line.group(0) and f'"{CONFLICT}" already exists' in line.group(0), line.group(0)
    print(f"\nsite.yml said: {line.group(0)}")
    assert not [v for v in STACK.secret_values() if v in output], "a credential appears in site.yml's output"
    assert revisions == [older], f"the schema changed although the migration failed: {revisions}"
    assert len(watcher.migration_pods) == 1, sorted(watcher.migration_pods)
    assert serving() == old_pods, "the old pods are not the ones serving after the failed migration"
    assert set(watcher.server_seen) == set(old_pods), f"server pods came and went: {sorted(watcher.server_seen)}"
    for probe in ("health", "api"):
        assert measured["longest_gap_s"][probe] < UNTOUCHED_GAP_BOUND, measured

    # Cause removed, the next run converges. (That a run changing nothing runs no
    # migration: test_upgrade_e2e's second run, changed=0 after an upgrade that migrated.)
    psql(f"DROP TABLE {CONFLICT}")
    _output, _watcher, revisions, _measured = upgrade("failed", stack)
    assert revisions == [older, schema("revision")], revisions
    assert len(serving()) == 2 and not set(serving()) & set(old_pods)

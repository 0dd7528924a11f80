"""Unit tests for the database side of backup and restore."""

import io

import pytest

from ansible_collections.mlops.stack.plugins.module_utils._backup import database
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_local import LocalPostgres
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_pod import PodPostgres
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError

BACKUP_ID = "20261126T061500Z"
MANIFEST = dict(database=dict(name="mlflow", owner="mlflow", encoding="UTF8", file="database/mlflow.dump"),
                files=[dict(path="database/mlflow.dump", size=5, sha256="0" * 64)])
STAGING = '"mlflow__restore_20261126t061500z"'


class Store:
    def local_path(self, backup_id, relative):
        return "/sets/%s/%s" % (backup_id, relative)

    def open_read(self, backup_id, relative):
        return io.BytesIO(b"PGDMP")


def test_the_client_follows_the_options():
    local = database.postgres_access(dict(pg_bindir="/opt/pg/bin", login_host="db"))
    assert isinstance(local, LocalPostgres) and local.bindir == "/opt/pg/bin"
    pod = database.postgres_access(dict(pod="postgresql-0", namespace=None, container="db"))
    assert isinstance(pod, PodPostgres) and (pod.pod, pod.namespace, pod.container) == ("postgresql-0", "mlops", "db")


def test_describe_database(fakes):
    assert database.describe_database(fakes.Postgres(), "mlflow") == dict(name="mlflow", owner="mlflow",
                                                                          encoding="UTF8", size=8192)
    with pytest.raises(PostgresError, match="^it does not exist$"):
        database.describe_database(fakes.Postgres(), "other")


def test_checks_of_restore_targets(fakes):
    pg = fakes.Postgres(tables=True)
    assert database.database_exists(pg, "mlflow") and not database.database_exists(pg, "other")
    assert database.holds_tables(pg, "mlflow")
    assert database.role_exists(pg, "mlflow") and not database.role_exists(pg, "o'hara")
    assert database.schema_revision(pg, "mlflow") == "1b5f0d9ad7c1"


def test_a_new_database_is_renamed_into_place(fakes):
    pg = fakes.Postgres(databases={})
    database.restore_database(pg, Store(), BACKUP_ID, MANIFEST, dict(name="mlflow", exists=False, dump_major=15),
                              jobs=4)
    assert [statement for statement in pg.executed if " ROLE " not in statement] == [
        "DROP DATABASE IF EXISTS %s" % STAGING,
        "CREATE DATABASE %s TEMPLATE template0 OWNER \"mlflow\" ENCODING 'UTF8'" % STAGING,
        'ALTER DATABASE %s RENAME TO "mlflow"' % STAGING,
    ]
    assert pg.restored == [("mlflow__restore_20261126t061500z", b"PGDMP", 5, 15, 4)]


class Busy:
    """Refuses the first swap as PostgreSQL does while terminated sessions linger."""

    def __init__(self, pg, refusals):
        self.pg = pg
        self.refusals = refusals

    def __call__(self, statements, dbname=None):
        if len(statements) == 2 and self.refusals:
            self.refusals -= 1
            raise PostgresError('database "mlflow" is being accessed by other users')
        self.pg.executed.extend(statements)


def test_an_existing_database_is_swapped_once_its_sessions_are_gone(fakes, monkeypatch):
    monkeypatch.setattr(database.time, "sleep", lambda seconds: None)
    pg = fakes.Postgres()
    pg.execute = Busy(pg, 1)
    swap = database.restore_database(pg, Store(), BACKUP_ID, MANIFEST,
                                     dict(name="mlflow", exists=True, dump_major=15))
    swap.commit()
    assert pg.executed[-3:] == ['ALTER DATABASE "mlflow" RENAME TO "mlflow__previous_20261126t061500z"',
                                'ALTER DATABASE %s RENAME TO "mlflow"' % STAGING,
                                'DROP DATABASE IF EXISTS "mlflow__previous_20261126t061500z"']


def test_a_swap_that_keeps_failing_leaves_the_old_database(fakes, monkeypatch):
    monkeypatch.setattr(database.time, "sleep", lambda seconds: None)
    pg = fakes.Postgres()
    pg.execute = Busy(pg, database.SWAP_ATTEMPTS)
    with pytest.raises(PostgresError, match="being accessed"):
        database.restore_database(pg, Store(), BACKUP_ID, MANIFEST, dict(name="mlflow", exists=True, dump_major=15))
    assert pg.executed[-2:] == ['ALTER DATABASE "mlflow" ALLOW_CONNECTIONS true',
                                "DROP DATABASE IF EXISTS %s" % STAGING]


def test_a_failed_pg_restore_drops_the_staging_database(fakes):
    pg = fakes.Postgres(databases={})

    def fail(*args, **kwargs):
        raise PostgresError("pg_restore into staging failed (rc=1): boom")

    pg.restore = fail
    with pytest.raises(PostgresError, match="boom"):
        database.restore_database(pg, Store(), BACKUP_ID, MANIFEST, dict(name="mlflow", exists=False, dump_major=15))
    assert pg.executed[-1] == "DROP DATABASE IF EXISTS %s" % STAGING


def test_pg_restore_runs_as_a_short_lived_member_of_the_owner(fakes):
    pg = fakes.Postgres(databases={})
    database.restore_database(pg, Store(), BACKUP_ID, MANIFEST, dict(name="mlflow", exists=False, dump_major=15))
    assert pg.restored_as == [("mlflow__restorer", "mlflow")]
    created = [statement for statement in pg.executed if statement.startswith("CREATE ROLE")]
    assert len(created) == 1
    assert created[0].startswith('CREATE ROLE "mlflow__restorer" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE '
                                 "NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD 'SCRAM-SHA-256$4096:")
    assert created[0].endswith('+00\' IN ROLE "mlflow"')


def test_a_restorer_role_is_dropped_with_what_it_owns(fakes):
    pg = fakes.Postgres(roles=("mlflow", "mlflow__restorer"))
    database._drop_role(pg, "mlflow__restorer", "mlflow", "mlflow")
    assert pg.executed == ['REASSIGN OWNED BY "mlflow__restorer" TO "mlflow"', 'DROP OWNED BY "mlflow__restorer"',
                           'DROP ROLE "mlflow__restorer"']


def test_the_swap_is_kept_until_committed_and_can_be_undone(fakes, monkeypatch):
    monkeypatch.setattr(database.time, "sleep", lambda seconds: None)
    pg = fakes.Postgres()
    swap = database.restore_database(pg, Store(), BACKUP_ID, MANIFEST, dict(name="mlflow", exists=True, dump_major=15))
    assert not [s for s in pg.executed if s.startswith('DROP DATABASE IF EXISTS "mlflow__previous')]
    del pg.executed[:]
    swap.undo()
    assert pg.executed == ['ALTER DATABASE "mlflow" ALLOW_CONNECTIONS false',
                           'DROP DATABASE IF EXISTS "mlflow"',
                           'ALTER DATABASE "mlflow__previous_20261126t061500z" RENAME TO "mlflow"',
                           'ALTER DATABASE "mlflow" ALLOW_CONNECTIONS true']
    assert swap.kept() == "database mlflow (kept as mlflow__previous_20261126t061500z)"


def test_undoing_a_restore_into_no_database_drops_it(fakes):
    pg = fakes.Postgres(databases={})
    swap = database.restore_database(pg, Store(), BACKUP_ID, MANIFEST, dict(name="mlflow", exists=False, dump_major=15))
    del pg.executed[:]
    swap.undo()
    assert pg.executed[-1] == 'DROP DATABASE IF EXISTS "mlflow"'

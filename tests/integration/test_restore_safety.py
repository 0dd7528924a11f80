"""Restores that cannot be turned against the stack, and that keep a way back.

Against the real PostgreSQL and MinIO of the session (no MLflow needed):
a dump planted by the database's owner that tries to make itself superuser
and write a file on the server while it loads gets nowhere, because
pg_restore runs as a short-lived member of the owner; and an object step
that fails (the target's key may read but not write) puts the previous
database back.
"""

import json
import os
import shutil
import subprocess

import pytest

from services import REPO, run_module

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

OWNER, OWNER_PASSWORD = "hostile_owner", "owner-password-1"
HOSTILE_DB, UNDO_DB = "hostile_db", "undo_db"

# Runs for every row the CHECK constraint sees: at the plant as the owner, and
# again while the restore loads the data. It records who it runs as, then
# tries to escalate, first as it is and again after RESET ROLE (which goes
# back to the session's login), and finally sets the owner's role back so the
# rest of the dump loads.
PLANT = """
CREATE TABLE seen (login text, acting_as text, superuser boolean);
CREATE FUNCTION escalate() RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO public.seen VALUES (session_user, current_user,
    (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user));
  BEGIN EXECUTE 'ALTER ROLE {owner} SUPERUSER'; EXCEPTION WHEN others THEN NULL; END;
  BEGIN EXECUTE format('COPY (SELECT 1) TO %L', '{marker}'); EXCEPTION WHEN others THEN NULL; END;
  BEGIN
    RESET ROLE;
    EXECUTE 'ALTER ROLE {owner} SUPERUSER';
  EXCEPTION WHEN others THEN NULL;
  END;
  BEGIN EXECUTE format('COPY (SELECT 2) TO %L', '{marker}'); EXCEPTION WHEN others THEN NULL; END;
  BEGIN SET ROLE {owner}; EXCEPTION WHEN others THEN NULL; END;
  RETURN true;
END
$f$;
CREATE TABLE victim (id integer CHECK (public.escalate()));
INSERT INTO victim VALUES (1);
"""


BACKUP_KEY = "restore-safety-backup-key-" + "0123456789abcdef" * 2


def sql(postgres, statements, dbname="postgres", user=None, password=None):
    import psycopg
    with psycopg.connect(postgres.uri(dbname, user=user, password=password), autocommit=True) as conn:
        rows = None
        for statement in statements:
            cursor = conn.execute(statement)
            rows = cursor.fetchall() if cursor.description else rows
        return rows


def module_args(postgres, minio, database, bucket, **extra):
    args = dict(minio.connection_args(), **postgres.connection_args())
    # Every set is signed (and encrypted) with a backup key; restore checks it first.
    args.update(database=database, key=BACKUP_KEY, stack_id="restore-safety", **extra)
    return args


@pytest.fixture(scope="module")
def planted(postgres, minio, tmp_path_factory):
    marker = os.path.join(postgres.base_dir, "escalated")
    sql(postgres, ["DROP DATABASE IF EXISTS %s" % HOSTILE_DB, "DROP ROLE IF EXISTS %s" % OWNER,
                   "CREATE ROLE %s LOGIN PASSWORD '%s'" % (OWNER, OWNER_PASSWORD),
                   "CREATE DATABASE %s OWNER %s" % (HOSTILE_DB, OWNER)])
    # Planted through the owner's own login, as a compromised MLflow could.
    sql(postgres, [PLANT.format(owner=OWNER, marker=marker)], HOSTILE_DB, OWNER, OWNER_PASSWORD)
    minio.client().create_bucket(Bucket="hostile-art")
    minio.client().put_object(Bucket="hostile-art", Key="a.txt", Body=b"a")
    destination = str(tmp_path_factory.mktemp("hostile-sets"))
    result = run_module("backup", dict(module_args(postgres, minio, HOSTILE_DB, "hostile-art"),
                                       buckets=["hostile-art"], destination=destination))
    assert not result["failed"], result
    return dict(marker=marker, destination=destination, backup_id=result["backup_id"])


def test_a_hostile_dump_does_not_escalate_on_restore(postgres, minio, planted):
    result = run_module("restore", module_args(postgres, minio, HOSTILE_DB, "hostile-art",
                                               source=planted["destination"], force=True))
    assert not result["failed"], result
    assert sql(postgres, ["SELECT rolsuper FROM pg_roles WHERE rolname = '%s'" % OWNER]) == [(False,)]
    assert not os.path.exists(planted["marker"]), "the dump wrote a file on the server"
    seen = sql(postgres, ["SELECT login, acting_as, superuser FROM seen"], HOSTILE_DB)
    # Once at the plant, once while the restore loaded the row.
    assert (OWNER, OWNER, False) in seen
    assert ("%s__restorer" % OWNER, OWNER, False) in seen, seen
    assert not [row for row in seen if row[2] or row[0] == postgres.user], seen
    # The short-lived login is gone.
    assert sql(postgres, ["SELECT rolname FROM pg_roles WHERE rolname LIKE '%%restorer'"]) == []


def mc(minio, config, *args):
    binary = shutil.which("mc", path=os.path.join(REPO, ".tools", "bin")) or shutil.which("mc")
    assert binary, "mc not found (make setup builds it into .tools/bin)"
    subprocess.run([binary, "--config-dir", config, *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def read_only_key(minio, tmp_path_factory):
    """A MinIO user that may list and read every bucket, but create or write nothing."""
    config = str(tmp_path_factory.mktemp("mc"))
    policy = os.path.join(config, "read-only.json")
    with open(policy, "w") as handle:
        json.dump({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:GetObject"],
            "Resource": ["arn:aws:s3:::*"]}]}, handle)
    mc(minio, config, "alias", "set", "it", minio.endpoint, minio.access_key, minio.secret_key)
    mc(minio, config, "admin", "policy", "create", "it", "restore-read-only", policy)
    mc(minio, config, "admin", "user", "add", "it", "restore-reader", "restore-reader-secret")
    mc(minio, config, "admin", "policy", "attach", "it", "restore-read-only", "--user", "restore-reader")
    return dict(access_key="restore-reader", secret_key="restore-reader-secret")


def test_a_failed_object_step_puts_the_previous_database_back(postgres, minio, read_only_key, tmp_path):
    sql(postgres, ["DROP DATABASE IF EXISTS %s" % UNDO_DB, "CREATE DATABASE %s" % UNDO_DB])
    sql(postgres, ["CREATE TABLE state (value text)", "INSERT INTO state VALUES ('in the set')"], UNDO_DB)
    minio.client().create_bucket(Bucket="undo-art")
    minio.client().put_object(Bucket="undo-art", Key="model.bin", Body=b"weights")
    destination = str(tmp_path / "sets")
    result = run_module("backup", dict(module_args(postgres, minio, UNDO_DB, "undo-art"),
                                       buckets=["undo-art"], destination=destination))
    assert not result["failed"], result
    sql(postgres, ["UPDATE state SET value = 'current'"], UNDO_DB)

    args = module_args(postgres, minio, UNDO_DB, "undo-art", source=destination, force=True)
    args.update(read_only_key)
    result = run_module("restore", args)
    assert result["failed"], result
    message = result["msg"]
    assert message.startswith("Failed to create bucket undo-art: AccessDenied"), message
    assert "the database swap was undone (%s is as it was before the restore)" % UNDO_DB in message, message
    assert sql(postgres, ["SELECT value FROM state"], UNDO_DB) == [("current",)]
    leftovers = sql(postgres, ["SELECT datname FROM pg_database WHERE datname LIKE '%s\\_\\_%%'" % UNDO_DB])
    assert leftovers == []
    # New sessions are let in again.
    assert sql(postgres, ["SELECT datallowconn FROM pg_database WHERE datname = '%s'" % UNDO_DB]) == [(True,)]

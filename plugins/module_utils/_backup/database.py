# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database side of backup and restore, on either client (local or in the pod).

What backup records of the database, what restore checks before it changes
anything, and the restore itself: into a staging database that takes the
place of the old one by renaming, so a restore that fails midway leaves the
previous database as it was.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.mlops.stack.plugins.module_utils import postgres as pg_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_client import quote_ident, quote_literal
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_local import LocalPostgres
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_pod import PodPostgres
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError, StackError

SWAP_ATTEMPTS = 20
_DATABASE = ("SELECT pg_catalog.pg_get_userbyid(datdba), pg_catalog.pg_encoding_to_char(encoding), "
             "pg_catalog.pg_database_size(datname) FROM pg_catalog.pg_database WHERE datname = %s")
_HOLDS_TABLES = ("SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                 "AND n.nspname NOT LIKE 'pg_toast%%' LIMIT 1")
_TERMINATE = ("SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
              "WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid()")


def postgres_access(params, api_client=None):
    """LocalPostgres or PodPostgres, as the module's options ask."""
    connection = pg_utils.postgres_connection(params)
    if params.get("pod"):
        return PodPostgres(connection, params["pod"], params.get("namespace") or "mlops",
                           params.get("container"), api_client=api_client,
                           kubeconfig=params.get("kubeconfig"), context=params.get("context"))
    return LocalPostgres(connection, bindir=params.get("pg_bindir"))


def describe_database(pg, database):
    """dict(name, owner, encoding, size) of a database that must exist."""
    rows = pg.query(_DATABASE % quote_literal(database))
    if not rows:
        raise PostgresError("it does not exist")
    owner, encoding, size = rows[0]
    return dict(name=database, owner=owner, encoding=encoding, size=int(size))


def schema_revision(pg, database):
    """MLflow's alembic revision of database; raises when it has no alembic_version table."""
    rows = pg.query("SELECT version_num FROM alembic_version", dbname=database)
    return rows[0][0] if rows else None


def database_exists(pg, database):
    return bool(pg.query("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s" % quote_literal(database)))


def holds_tables(pg, database):
    return bool(pg.query(_HOLDS_TABLES, dbname=database))


def role_exists(pg, role):
    return bool(pg.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s" % quote_literal(role)))


def restore_database(pg, store, backup_id, manifest, target, jobs=1):
    """Restore the set's dump into a staging database, then swap it in by renaming.

    ``target`` is dict(name, exists, dump_major). Until the rename the
    previous database is untouched.
    """
    info = manifest["database"]
    suffix = backup_id.lower().replace("-", "_")
    staging = ("%s__restore_%s" % (target["name"], suffix))[-63:]
    options = " TEMPLATE template0"
    if info.get("owner"):
        options += " OWNER %s" % quote_ident(info["owner"])
    if info.get("encoding"):
        options += " ENCODING %s" % quote_literal(info["encoding"])
    pg.execute(["DROP DATABASE IF EXISTS %s" % quote_ident(staging)])
    pg.execute(["CREATE DATABASE %s%s" % (quote_ident(staging), options)])
    entry = [f for f in manifest["files"] if f["path"] == info["file"]][0]
    # A dump in a directory goes to a local pg_restore as a file, so it can use jobs.
    dump_file = store.local_path(backup_id, info["file"]) if pg.where == "local" else None
    stream = store.open_read(backup_id, info["file"])
    try:
        pg.restore(staging, stream, entry["size"], target["dump_major"], dump_file=dump_file, jobs=jobs)
    except StackError:
        _drop_quietly(pg, staging)
        raise
    finally:
        stream.close()
    if not target["exists"]:
        pg.execute(["ALTER DATABASE %s RENAME TO %s" % (quote_ident(staging), quote_ident(target["name"]))])
        return
    _swap(pg, target["name"], staging, ("%s__previous_%s" % (target["name"], suffix))[-63:])


def _swap(pg, database, staging, previous):
    """Rename database to previous and staging to database, ending open sessions."""
    pg.execute(["ALTER DATABASE %s ALLOW_CONNECTIONS false" % quote_ident(database)])
    try:
        for attempt in range(SWAP_ATTEMPTS):
            pg.query(_TERMINATE % quote_literal(database))
            try:
                pg.execute(["ALTER DATABASE %s RENAME TO %s" % (quote_ident(database), quote_ident(previous)),
                            "ALTER DATABASE %s RENAME TO %s" % (quote_ident(staging), quote_ident(database))])
                break
            except PostgresError as error:
                # Terminated sessions take a moment to go away.
                if "being accessed by other users" not in error.reason or attempt == SWAP_ATTEMPTS - 1:
                    raise
                time.sleep(0.5)
    except StackError:
        pg.execute(["ALTER DATABASE %s ALLOW_CONNECTIONS true" % quote_ident(database)])
        _drop_quietly(pg, staging)
        raise
    _drop_quietly(pg, previous)


def _drop_quietly(pg, name):
    try:
        pg.execute(["DROP DATABASE IF EXISTS %s" % quote_ident(name)])
    except StackError:
        pass

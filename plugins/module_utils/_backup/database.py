# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database side of backup and restore, on either client (local or in the pod).

What backup records of the database, what restore checks before it changes
anything, and the restore itself: into a staging database that takes the
place of the old one by renaming, so a restore that fails midway leaves the
previous database as it was. The previous database is kept (renamed) until
the caller commits the swap, so a later step that fails can undo it.

A dump is SQL its database's owner could write: functions, CHECK constraints
and index expressions run while it loads. So pg_restore never runs as the
superuser: it logs in as a short-lived role with no attribute but LOGIN and
no membership but the owner's, and acts as the owner (``--role``,
``--no-owner``). Even a function that resets its role only gets back to that
login. The superuser only creates and renames databases and keeps the
short-lived role's books.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import datetime
import secrets
import time

from ansible_collections.mlops.stack.plugins.module_utils import postgres as pg_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_client import (
    quote_ident,
    quote_literal,
    scram_verifier,
)
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_local import LocalPostgres
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_pod import PodPostgres
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError, StackError

SWAP_ATTEMPTS = 20
# How long the login pg_restore runs under may be used: a restore killed
# before it dropped the role leaves a login that soon stops working.
RESTORER_VALIDITY = datetime.timedelta(days=1)
_RESTORER_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
_DATABASE = ("SELECT pg_catalog.pg_get_userbyid(datdba), pg_catalog.pg_encoding_to_char(encoding), "
             "pg_catalog.pg_database_size(datname) FROM pg_catalog.pg_database WHERE datname = %s")
_HOLDS_TABLES = ("SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                 "AND n.nspname NOT LIKE 'pg_toast%%' LIMIT 1")
_SESSIONS = ("SELECT 1 FROM pg_catalog.pg_stat_activity "
             "WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid() LIMIT 1")
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
    previous database is untouched; after it, the previous database is kept
    until the returned Swap is committed or undone.
    """
    info = manifest["database"]
    suffix = backup_id.lower().replace("-", "_")
    staging = ("%s__restore_%s" % (target["name"], suffix))[-63:]
    owner = info.get("owner") or pg.connection.get("login_user")
    options = " TEMPLATE template0 OWNER %s" % quote_ident(owner)
    if info.get("encoding"):
        options += " ENCODING %s" % quote_literal(info["encoding"])
    pg.execute(["DROP DATABASE IF EXISTS %s" % quote_ident(staging)])
    pg.execute(["CREATE DATABASE %s%s" % (quote_ident(staging), options)])
    entry = [f for f in manifest["files"] if f["path"] == info["file"]][0]
    # A dump in a directory goes to a local pg_restore as a file, so it can use jobs.
    dump_file = store.local_path(backup_id, info["file"]) if pg.where == "local" else None
    stream = store.open_read(backup_id, info["file"])
    try:
        with restorer_login(pg, owner, staging) as restorer:
            restorer.restore(staging, stream, entry["size"], target["dump_major"], dump_file=dump_file,
                             jobs=jobs, role=owner)
    except StackError:
        _drop_quietly(pg, staging)
        raise
    finally:
        stream.close()
    if not target["exists"]:
        pg.execute(["ALTER DATABASE %s RENAME TO %s" % (quote_ident(staging), quote_ident(target["name"]))])
        return Swap(pg, target["name"], None)
    previous = ("%s__previous_%s" % (target["name"], suffix))[-63:]
    _swap(pg, target["name"], staging, previous)
    return Swap(pg, target["name"], previous)


def restorer_name(owner):
    return ("%s__restorer" % owner)[-63:]


@contextlib.contextmanager
def restorer_login(pg, owner, database):
    """A client logged in as a new role that may only act as owner; the role goes afterwards."""
    name = restorer_name(owner)
    password = secrets.token_urlsafe(32)
    until = (datetime.datetime.now(datetime.timezone.utc) + RESTORER_VALIDITY).strftime("%Y-%m-%d %H:%M:%S+00")
    # A role left by a killed restore goes first.
    _drop_role(pg, name, owner, database)
    # The password travels as a SCRAM verifier: even a statement that shows
    # up in a process list or a log does not give it away.
    pg.execute(["CREATE ROLE %s %s PASSWORD %s VALID UNTIL %s IN ROLE %s"
                % (quote_ident(name), _RESTORER_ATTRIBUTES, quote_literal(scram_verifier(password)),
                   quote_literal(until), quote_ident(owner))])
    try:
        yield pg.login_as(name, password)
    finally:
        _drop_role(pg, name, owner, database)


def _drop_role(pg, name, owner, database):
    """Drop the restorer role; what a hostile dump made it own goes to the owner first."""
    if not role_exists(pg, name):
        return
    if database_exists(pg, database):
        pg.execute(["REASSIGN OWNED BY %s TO %s" % (quote_ident(name), quote_ident(owner)),
                    "DROP OWNED BY %s" % quote_ident(name)], dbname=database)
    pg.execute(["DROP ROLE %s" % quote_ident(name)])


class Swap(object):
    """The restored database in place, the previous one kept until commit() or undo()."""

    def __init__(self, pg, name, previous):
        self.pg = pg
        self.name = name
        self.previous = previous

    def commit(self):
        """The restore is complete: the previous database goes."""
        if self.previous:
            _drop_quietly(self.pg, self.previous)

    def undo(self):
        """Put the previous database back (or none, if there was none); the restored one goes."""
        pg = self.pg
        _end_sessions(pg, self.name)
        pg.execute(["DROP DATABASE IF EXISTS %s" % quote_ident(self.name)])
        if self.previous:
            pg.execute(["ALTER DATABASE %s RENAME TO %s" % (quote_ident(self.previous), quote_ident(self.name)),
                        "ALTER DATABASE %s ALLOW_CONNECTIONS true" % quote_ident(self.name)])

    def kept(self):
        """What undo() would bring back, for messages."""
        return ("database %s (kept as %s)" % (self.name, self.previous) if self.previous
                else "no database %s" % self.name)


def _end_sessions(pg, database):
    """Refuse new sessions to database and end the open ones, until none is left."""
    pg.execute(["ALTER DATABASE %s ALLOW_CONNECTIONS false" % quote_ident(database)])
    for attempt in range(SWAP_ATTEMPTS):
        pg.query(_TERMINATE % quote_literal(database))
        if not pg.query(_SESSIONS % quote_literal(database)) or attempt == SWAP_ATTEMPTS - 1:
            return
        time.sleep(0.5)


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


def _drop_quietly(pg, name):
    try:
        pg.execute(["DROP DATABASE IF EXISTS %s" % quote_ident(name)])
    except StackError:
        pass

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Logic of mlops.stack.postgresql_bootstrap: databases, roles and grants.

Everything here reads the current state first and issues only the
statements that close the gap to the desired state. Statements that
PostgreSQL can roll back run inside a transaction, which check mode rolls
back; CREATE/DROP DATABASE cannot run inside one, so check mode only lists
them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.mlops.stack.plugins.module_utils._pg_verifier import (
    password_matches,
    verifier_kind,
)
from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    ParameterError,
    PostgresError,
)
from ansible_collections.mlops.stack.plugins.module_utils.postgres import (
    connect,
    first_line,
    postgres_connection,
    psycopg,
)

if psycopg is not None:
    from psycopg import sql
    from psycopg.rows import dict_row

MASK = "********"
IDENTIFIER_MAX_BYTES = 63
DATABASE_PRIVILEGES = ("CONNECT", "CREATE", "TEMPORARY")


# --------------------------------------------------------------------------
# Desired state and validation (no connection needed: nothing has changed yet)
# --------------------------------------------------------------------------

def _identifier(value, option):
    if value is None or not str(value).strip():
        raise ParameterError("the name must not be empty", action="validate %s" % option)
    if "\x00" in value:
        raise ParameterError("the name must not contain NUL", action="validate %s" % option)
    length = len(value.encode("utf-8"))
    if length > IDENTIFIER_MAX_BYTES:
        raise ParameterError("name %r is %d bytes long; PostgreSQL allows at most %d"
                             % (value, length, IDENTIFIER_MAX_BYTES), action="validate %s" % option)
    return value


def _conn_limit(value, option):
    if value < -1:
        raise ParameterError("%d is below -1 (use -1 for no limit)" % value, action="validate %s" % option)
    return value


def _extensions(values, option):
    names = []
    for index, name in enumerate(values or []):
        name = _identifier(name, "%s[%d]" % (option, index))
        if name not in names:
            names.append(name)
    return names


def desired_state(params):
    """The roles, databases and grants params ask for; raise ParameterError."""
    main_role = _identifier(params["role"], "role")
    encoding = params.get("encoding") or "UTF8"
    roles = [dict(
        name=main_role,
        password=params.get("password"),
        login=True,
        conn_limit=_conn_limit(params["conn_limit"], "conn_limit"),
        option="role",
    )]
    databases = [dict(
        name=_identifier(params["database"], "database"),
        owner=main_role,
        encoding=encoding,
        extensions=_extensions(params.get("extensions"), "extensions"),
        option="database",
    )]
    for index, role in enumerate(params.get("additional_roles") or []):
        option = "additional_roles[%d]" % index
        roles.append(dict(
            name=_identifier(role["name"], option + ".name"),
            password=role.get("password"),
            login=role["login"],
            conn_limit=_conn_limit(role["conn_limit"], option + ".conn_limit"),
            option=option,
        ))
    for index, database in enumerate(params.get("additional_databases") or []):
        option = "additional_databases[%d]" % index
        databases.append(dict(
            name=_identifier(database["name"], option + ".name"),
            owner=_identifier(database.get("owner") or main_role, option + ".owner"),
            encoding=database.get("encoding") or encoding,
            extensions=_extensions(database.get("extensions"), option + ".extensions"),
            option=option,
        ))
    _no_duplicates(roles, "role")
    _no_duplicates(databases, "database")
    grants = []
    for index, grant in enumerate(params.get("privileges") or []):
        option = "privileges[%d]" % index
        privileges = set()
        for privilege in grant["privs"]:
            privilege = privilege.upper()
            if privilege == "TEMP":
                privilege = "TEMPORARY"
            privileges.update(DATABASE_PRIVILEGES if privilege == "ALL" else [privilege])
        if not privileges:
            raise ParameterError("the list must not be empty", action="validate %s.privs" % option)
        grants.append(dict(
            role=_identifier(grant["role"], option + ".role"),
            database=_identifier(grant.get("database") or databases[0]["name"],
                                 option + ".database"),
            privs=sorted(privileges),
        ))
    return dict(roles=roles, databases=databases, grants=grants)


def _no_duplicates(items, what):
    seen = {}
    for item in items:
        if item["name"] in seen:
            raise ParameterError("%s %r is already given by %s" % (what, item["name"], seen[item["name"]]),
                                 action="validate %s" % item["option"])
        seen[item["name"]] = item["option"]


# --------------------------------------------------------------------------
# Statement execution
# --------------------------------------------------------------------------

class Session(object):
    """One connection; records every statement it runs (or, in check mode,
    would run) with secrets masked."""

    def __init__(self, conn, check_mode, queries):
        self.conn = conn
        self.check_mode = check_mode
        self.queries = queries

    def read(self, query, params=None, what="read the server state"):
        try:
            with self.conn.cursor(row_factory=dict_row) as cursor:
                cursor.execute(query, params)
                return cursor.fetchall()
        except psycopg.Error as error:
            raise PostgresError(first_line(error), action=what) from error

    def change(self, statement, what, display=None):
        """Run a statement that changes the server."""
        self._record(statement, display)
        try:
            with self.conn.cursor() as cursor:
                cursor.execute(statement)
        except psycopg.Error as error:
            raise PostgresError(first_line(error), action=what) from error

    def plan(self, statement, display=None):
        """Record a statement check mode cannot run (or depends on one)."""
        self._record(statement, display)

    def _record(self, statement, display):
        self.queries.append((display or statement).as_string(self.conn))

    @contextlib.contextmanager
    def transaction(self):
        """A transaction that check mode always rolls back.

        Nested in an open transaction it becomes a savepoint that is kept,
        so later steps of a check run see what earlier ones did; the outer
        transaction rolls everything back.
        """
        outermost = self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        try:
            with self.conn.transaction(force_rollback=self.check_mode and outermost):
                yield
        except psycopg.Error as error:
            raise PostgresError(first_line(error), action="commit the transaction") from error


# --------------------------------------------------------------------------
# Reading the current state
# --------------------------------------------------------------------------

_ROLE_QUERY = """
SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit,
       rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil
FROM pg_catalog.pg_roles WHERE rolname = ANY(%s)
"""

_DATABASE_QUERY = """
SELECT d.datname, pg_catalog.pg_get_userbyid(d.datdba) AS owner,
       pg_catalog.pg_encoding_to_char(d.encoding) AS encoding,
       d.datconnlimit, d.datallowconn
FROM pg_catalog.pg_database d WHERE d.datname = ANY(%s)
"""

_GRANT_QUERY = """
SELECT a.privilege_type
FROM pg_catalog.pg_database d,
     pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
WHERE d.datname = %s
  AND a.grantee = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s)
"""

_PUBLIC_SCHEMA_QUERY = """
SELECT pg_catalog.pg_get_userbyid(n.nspowner) AS owner,
       pg_catalog.has_schema_privilege(
           (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s), n.oid, 'CREATE'
       ) AS can_create
FROM pg_catalog.pg_namespace n WHERE n.nspname = 'public'
"""


def read_roles(session, names):
    rows = session.read(_ROLE_QUERY, (list(names),), "read roles")
    roles = {}
    for row in rows:
        roles[row["rolname"]] = dict(
            name=row["rolname"],
            login=row["rolcanlogin"],
            superuser=row["rolsuper"],
            createdb=row["rolcreatedb"],
            createrole=row["rolcreaterole"],
            inherit=row["rolinherit"],
            replication=row["rolreplication"],
            bypassrls=row["rolbypassrls"],
            conn_limit=row["rolconnlimit"],
            valid_until=row["rolvaliduntil"].isoformat() if row["rolvaliduntil"] else None,
        )
    return roles


def read_verifiers(session, names):
    """rolpassword per role, or None when login_user may not read pg_authid."""
    try:
        with session.conn.transaction():
            rows = session.read(
                "SELECT rolname, rolpassword FROM pg_catalog.pg_authid WHERE rolname = ANY(%s)",
                (list(names),), "read role passwords")
    except PostgresError:
        return None
    return dict((row["rolname"], row["rolpassword"]) for row in rows)


def read_databases(session, names):
    rows = session.read(_DATABASE_QUERY, (list(names),), "read databases")
    return dict((row["datname"], dict(
        name=row["datname"],
        owner=row["owner"],
        encoding=row["encoding"],
        conn_limit=row["datconnlimit"],
        allow_connections=row["datallowconn"],
    )) for row in rows)


def read_database_contents(session):
    extensions = session.read(
        "SELECT extname, extversion FROM pg_catalog.pg_extension ORDER BY extname",
        what="read extensions")
    public = session.read(_PUBLIC_SCHEMA_QUERY, (None,), "read schema public")
    return dict(
        extensions=dict((row["extname"], row["extversion"]) for row in extensions),
        public_schema_owner=public[0]["owner"] if public else None,
    )


# --------------------------------------------------------------------------
# Statements
# --------------------------------------------------------------------------

def _role_options(role, verifier=None, masked=False):
    parts = [sql.SQL("LOGIN" if role["login"] else "NOLOGIN"),
             # An int rendered by hand: sql.Literal(-1) gives " -1".
             sql.SQL("CONNECTION LIMIT %d" % int(role["conn_limit"]))]
    if verifier is not None:
        parts.append(sql.SQL("PASSWORD {}").format(sql.Literal(MASK if masked else verifier)))
    return sql.SQL(" ").join(parts)


def _with_password(template, name, options_of):
    """The statement to run and the one to show, which masks the password."""
    statement = sql.SQL(template).format(sql.Identifier(name), options_of(False))
    display = sql.SQL(template).format(sql.Identifier(name), options_of(True))
    return statement, display


class Bootstrap(object):
    """Brings the server to the desired state (or removes it)."""

    def __init__(self, module, desired):
        self.module = module
        self.params = module.params
        self.desired = desired
        self.check_mode = module.check_mode
        self.queries = []
        self.connection = postgres_connection(module.params)
        self.role_names = [role["name"] for role in desired["roles"]]
        self.database_names = [database["name"] for database in desired["databases"]]

    # -- entry point -------------------------------------------------------

    def run(self):
        conn = connect(self.connection, autocommit=True)
        try:
            server = Session(conn, self.check_mode, self.queries)
            before = self._snapshot(server)
            if self.params["state"] == "present":
                self._preflight(server)
                after = self._present(server, before)
            else:
                after = self._absent(server, before)
        finally:
            conn.close()
        result = dict(changed=bool(self.queries), queries=self.queries,
                      roles=after["roles"], databases=after["databases"])
        if self.module.diff_mode:
            result["diff"] = dict(before=before, after=after)
        return result

    def _snapshot(self, server):
        state = dict(roles=read_roles(server, self.role_names),
                     databases=read_databases(server, self.database_names))
        for name, database in state["databases"].items():
            if database["allow_connections"]:
                database.update(self._with_database(name, read_database_contents))
        return state

    def _with_database(self, name, action):
        """Run action(session) on a connection to database name."""
        conn = connect(self.connection, dbname=name, autocommit=True)
        try:
            session = Session(conn, self.check_mode, self.queries)
            with session.transaction():
                return action(session)
        finally:
            conn.close()

    def _preflight(self, server):
        """Fail on what the server cannot do before changing anything."""
        wanted = set()
        for database in self.desired["databases"]:
            wanted.update(database["extensions"])
        if wanted:
            rows = server.read(
                "SELECT name FROM pg_catalog.pg_available_extensions WHERE name = ANY(%s)",
                (sorted(wanted),), "read available extensions")
            missing = sorted(wanted - set(row["name"] for row in rows))
            if missing:
                raise ParameterError("not available on the server: %s" % ", ".join(missing),
                                     action="validate extensions")
        known = set(self.role_names)
        others = set(grant["role"] for grant in self.desired["grants"]) - known
        others.update(database["owner"] for database in self.desired["databases"])
        others -= known
        if others:
            existing = read_roles(server, sorted(others))
            missing = sorted(others - set(existing))
            if missing:
                raise ParameterError("role does not exist and is not managed here: %s" % ", ".join(missing),
                                     action="validate privileges and owners")
        targets = set(grant["database"] for grant in self.desired["grants"])
        targets -= set(self.database_names)
        if targets:
            missing = sorted(targets - set(read_databases(server, sorted(targets))))
            if missing:
                raise ParameterError("database does not exist and is not managed here: %s" % ", ".join(missing),
                                     action="validate privileges")

    # -- state=present -----------------------------------------------------

    def _present(self, server, before):
        rollback_all = server.conn.transaction(force_rollback=True) if self.check_mode \
            else _no_transaction()
        with rollback_all:
            with server.transaction():
                self._ensure_roles(server, before["roles"])
            created = self._create_databases(server, before["databases"])
            with server.transaction():
                self._alter_databases(server, before["databases"])
                self._ensure_grants(server, created)
            contents = {}
            for database in self.desired["databases"]:
                if database["name"] in created and self.check_mode:
                    self._plan_contents(server, database)
                else:
                    contents[database["name"]] = self._with_database(
                        database["name"],
                        lambda session, database=database: self._ensure_contents(session, database))
            return self._resulting_state(server, created, contents)

    def _resulting_state(self, server, created, contents):
        """The state after the run; in check mode, what it would be."""
        roles = read_roles(server, self.role_names)
        databases = read_databases(server, self.database_names)
        for database in self.desired["databases"]:
            name = database["name"]
            if name in databases:
                databases[name].update(contents[name])
            elif name in created:
                databases[name] = dict(
                    name=name, owner=database["owner"], encoding=database["encoding"],
                    conn_limit=-1, allow_connections=True,
                    extensions=dict((extension, None) for extension in database["extensions"]),
                    public_schema_owner="pg_database_owner")
        return dict(roles=roles, databases=databases)

    def _ensure_roles(self, server, existing):
        verifiers = {}
        encryption = None
        if any(role["password"] is not None for role in self.desired["roles"]):
            verifiers = read_verifiers(server, self.role_names)
            if verifiers is None:
                self.module.warn(
                    "login_user cannot read pg_authid, so passwords are set on every run")
                verifiers = {}
            encryption = server.read("SHOW password_encryption")[0]["password_encryption"]
        for role in self.desired["roles"]:
            name = role["name"]
            verifier = None
            password = role["password"]
            if password is not None and not (
                    name in existing and self.params["update_password"] == "on_create"
            ) and not password_matches(password, verifiers.get(name), name):
                verifier = self._encrypt(server, password, name, encryption)
            if name not in existing:
                statement, display = _with_password(
                    "CREATE ROLE {} WITH {}", name,
                    lambda masked, role=role, verifier=verifier: _role_options(role, verifier, masked))
                server.change(statement, "create role %s" % name, display)
                continue
            current = existing[name]
            if (current["login"] == role["login"] and current["conn_limit"] == role["conn_limit"]
                    and verifier is None):
                continue
            statement, display = _with_password(
                "ALTER ROLE {} WITH {}", name,
                lambda masked, role=role, verifier=verifier: _role_options(role, verifier, masked))
            server.change(statement, "alter role %s" % name, display)

    def _encrypt(self, server, password, name, encryption):
        """The verifier to send, so the clear password never reaches the
        server or its logs."""
        if verifier_kind(password) != "plain":
            verifier = password
        else:
            algorithm = encryption if encryption in ("md5", "scram-sha-256") else "scram-sha-256"
            try:
                verifier = server.conn.pgconn.encrypt_password(
                    password.encode("utf-8"), name.encode("utf-8"), algorithm.encode("ascii")
                ).decode("ascii")
            except psycopg.Error as error:
                raise PostgresError(first_line(error), action="encrypt the password of role %s" % name) from error
        self.module.hide(verifier)
        return verifier

    def _create_databases(self, server, existing):
        created = set()
        for database in self.desired["databases"]:
            name = database["name"]
            if name in existing:
                if existing[name]["encoding"] != database["encoding"].upper().replace("-", ""):
                    self.module.warn(
                        "Database %s has encoding %s, not %s; PostgreSQL cannot change the "
                        "encoding of an existing database" % (
                            name, existing[name]["encoding"], database["encoding"]))
                continue
            statement = sql.SQL("CREATE DATABASE {} WITH OWNER {} ENCODING {} TEMPLATE template0").format(
                sql.Identifier(name), sql.Identifier(database["owner"]),
                sql.Literal(database["encoding"]))
            if self.check_mode:
                server.plan(statement)
            else:
                server.change(statement, "create database %s" % name)
            created.add(name)
        return created

    def _alter_databases(self, server, existing):
        for database in self.desired["databases"]:
            name = database["name"]
            if name in existing and existing[name]["owner"] != database["owner"]:
                server.change(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(name), sql.Identifier(database["owner"])),
                    "change the owner of database %s" % name)

    def _ensure_grants(self, server, created):
        for grant in self.desired["grants"]:
            if grant["database"] in created and self.check_mode:
                held = set()
            else:
                rows = server.read(_GRANT_QUERY, (grant["database"], grant["role"]),
                                   "read privileges on database %s" % grant["database"])
                held = set(row["privilege_type"] for row in rows)
            missing = [privilege for privilege in grant["privs"] if privilege not in held]
            if not missing:
                continue
            statement = sql.SQL("GRANT {} ON DATABASE {} TO {}").format(
                sql.SQL(", ").join(sql.SQL(privilege) for privilege in missing),
                sql.Identifier(grant["database"]), sql.Identifier(grant["role"]))
            if grant["database"] in created and self.check_mode:
                server.plan(statement)
            else:
                server.change(statement, "grant privileges on database %s to %s"
                              % (grant["database"], grant["role"]))

    def _ensure_contents(self, session, database):
        name = database["name"]
        installed = set(row["extname"] for row in session.read(
            "SELECT extname FROM pg_catalog.pg_extension", what="read extensions"))
        for extension in database["extensions"]:
            if extension not in installed:
                session.change(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension)),
                    "create extension %s in database %s" % (extension, name))
        # PostgreSQL 15 took CREATE on public away from PUBLIC; MLflow's
        # migrations create their tables there as the owning role.
        public = session.read(_PUBLIC_SCHEMA_QUERY, (database["owner"],),
                              "read schema public of database %s" % name)
        if not public:
            session.change(
                sql.SQL("CREATE SCHEMA public AUTHORIZATION {}").format(
                    sql.Identifier(database["owner"])),
                "create schema public in database %s" % name)
        elif public[0]["owner"] not in (database["owner"], "pg_database_owner") \
                and not public[0]["can_create"]:
            session.change(
                sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(database["owner"])),
                "change the owner of schema public in database %s" % name)
        return read_database_contents(session)

    def _plan_contents(self, server, database):
        """Check mode for a database that does not exist yet: a fresh one
        from template0 has no extensions and a public schema its owner may
        create in."""
        for extension in database["extensions"]:
            server.plan(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(
                sql.Identifier(extension)))

    # -- state=absent ------------------------------------------------------

    def _absent(self, server, before):
        self._drop(server, "database", [d["name"] for d in self.desired["databases"]], before["databases"])
        # Roles go after their databases; check mode cannot run DROP ROLE
        # while the databases it would own still exist.
        with server.transaction():
            self._drop(server, "role", [r["name"] for r in reversed(self.desired["roles"])], before["roles"])
        if self.check_mode:
            return dict(roles={}, databases={})
        return dict(roles=read_roles(server, self.role_names),
                    databases=read_databases(server, self.database_names))

    def _drop(self, server, kind, names, existing):
        """Drop the databases or roles (kind) of names that exist."""
        for name in names:
            if name not in existing:
                continue
            statement = sql.SQL("DROP %s {}" % kind.upper()).format(sql.Identifier(name))
            if self.check_mode:
                server.plan(statement)
            else:
                server.change(statement, "drop %s %s" % (kind, name))


@contextlib.contextmanager
def _no_transaction():
    yield


def bootstrap(module):
    """Entry point for the module: validate, then converge."""
    return Bootstrap(module, desired_state(module.params)).run()

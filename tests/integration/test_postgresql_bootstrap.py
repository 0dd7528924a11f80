"""mlops.stack.postgresql_bootstrap against a real PostgreSQL 15 cluster."""

import itertools
import os
import secrets

import psycopg
import pytest

from services import run_module

MASK = "********"
_names = itertools.count(1)


def unique(prefix):
    """Names no other test (or test file) in the session uses."""
    return "bs_%s_%d_%s" % (prefix, next(_names), secrets.token_hex(3))


def password():
    return "pw-" + secrets.token_urlsafe(18)


def catalog(postgres, query, params=None, dbname="postgres"):
    with psycopg.connect(postgres.uri(dbname), autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else None


def role_exists(postgres, name):
    return bool(catalog(postgres, "SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)))


def database_exists(postgres, name):
    return bool(catalog(postgres, "SELECT 1 FROM pg_database WHERE datname = %s", (name,)))


def login(postgres, dbname, user, secret):
    return psycopg.connect(host=postgres.host, port=postgres.port, dbname=dbname, user=user,
                           password=secret, sslmode="disable", connect_timeout=5, autocommit=True)


def bootstrap(postgres, check=False, diff=False, env=None, **args):
    merged = postgres.connection_args()
    merged.update(args)
    return run_module("postgresql_bootstrap", merged, check=check, diff=diff, env=env)


@pytest.fixture
def names():
    return dict(role=unique("role"), database=unique("db"))


def test_create_then_second_run_unchanged(postgres, names):
    secret = password()
    first = bootstrap(postgres, password=secret, conn_limit=7, extensions=["pg_trgm"], **names)
    assert not first["failed"], first.get("msg")
    assert first["changed"] is True
    queries = first["queries"]
    assert queries[0] == ('CREATE ROLE "%s" WITH LOGIN CONNECTION LIMIT 7 PASSWORD \'%s\''
                          % (names["role"], MASK))
    assert ('CREATE DATABASE "%s" WITH OWNER "%s" ENCODING \'UTF8\' TEMPLATE template0'
            % (names["database"], names["role"])) in queries
    assert 'CREATE EXTENSION IF NOT EXISTS "pg_trgm"' in queries

    database = first["databases"][names["database"]]
    assert (database["owner"], database["encoding"]) == (names["role"], "UTF8")
    assert "pg_trgm" in database["extensions"]
    role = first["roles"][names["role"]]
    assert (role["login"], role["conn_limit"], role["superuser"]) == (True, 7, False)
    assert "password" not in role

    stored = catalog(postgres, "SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                     (names["role"],))[0][0]
    assert stored.startswith("SCRAM-SHA-256$")
    for output in (first["_stdout"],):
        assert secret not in output and stored not in output

    second = bootstrap(postgres, password=secret, conn_limit=7, extensions=["pg_trgm"], **names)
    assert not second["failed"], second.get("msg")
    assert second["changed"] is False
    assert second["queries"] == []
    assert catalog(postgres, "SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                   (names["role"],))[0][0] == stored


def test_role_can_create_tables_in_public(postgres, names):
    secret = password()
    result = bootstrap(postgres, password=secret, **names)
    assert result["changed"] is True
    with login(postgres, names["database"], names["role"], secret) as conn:
        conn.execute("CREATE TABLE public.alembic_probe (id integer PRIMARY KEY)")
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'alembic_probe'").fetchone()[0]
    assert owner == names["role"]


def test_public_schema_taken_back_for_owner(postgres, names):
    """A database whose public schema belongs to someone else (as after a
    restore from an old dump) is fixed, and only then."""
    secret = password()
    bootstrap(postgres, password=secret, **names)
    catalog(postgres, "ALTER SCHEMA public OWNER TO postgres", dbname=names["database"])
    catalog(postgres, "REVOKE CREATE ON SCHEMA public FROM PUBLIC", dbname=names["database"])
    result = bootstrap(postgres, password=secret, **names)
    assert result["queries"] == ['ALTER SCHEMA public OWNER TO "%s"' % names["role"]]
    assert result["databases"][names["database"]]["public_schema_owner"] == names["role"]
    with login(postgres, names["database"], names["role"], secret) as conn:
        conn.execute("CREATE TABLE public.t (id integer)")


def test_password_change_detected_and_applied(postgres, names):
    old, new = password(), password()
    bootstrap(postgres, password=old, **names)
    changed = bootstrap(postgres, password=new, **names)
    assert changed["changed"] is True
    assert changed["queries"] == [
        'ALTER ROLE "%s" WITH LOGIN CONNECTION LIMIT -1 PASSWORD \'%s\'' % (names["role"], MASK)]
    assert old not in changed["_stdout"] and new not in changed["_stdout"]
    with login(postgres, names["database"], names["role"], new) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == names["role"]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(postgres, names["database"], names["role"], old)
    again = bootstrap(postgres, password=new, **names)
    assert (again["changed"], again["queries"]) == (False, [])


def test_update_password_on_create_leaves_existing_password(postgres, names):
    old = password()
    bootstrap(postgres, password=old, **names)
    result = bootstrap(postgres, password=password(), update_password="on_create", **names)
    assert (result["changed"], result["queries"]) == (False, [])
    login(postgres, names["database"], names["role"], old).close()


def test_md5_verifier_compared_without_change(postgres, names):
    secret = password()
    with psycopg.connect(postgres.uri(), autocommit=True) as conn:
        conn.execute("SET password_encryption = 'md5'")
        conn.execute(psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            psycopg.sql.Identifier(names["role"]), psycopg.sql.Literal(secret)))
    result = bootstrap(postgres, password=secret, **names)
    assert not any(q.startswith("ALTER ROLE") for q in result["queries"]), result["queries"]
    stored = catalog(postgres, "SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                     (names["role"],))[0][0]
    assert stored.startswith("md5")


def test_check_mode_reports_without_changing(postgres, names):
    secret = password()
    result = bootstrap(postgres, check=True, diff=True, password=secret,
                       extensions=["citext"], **names)
    assert not result["failed"], result.get("msg")
    assert result["changed"] is True
    assert result["queries"][0].startswith('CREATE ROLE "%s"' % names["role"])
    assert any(q.startswith('CREATE DATABASE "%s"' % names["database"]) for q in result["queries"])
    assert 'CREATE EXTENSION IF NOT EXISTS "citext"' in result["queries"]
    assert result["diff"]["before"] == {"roles": {}, "databases": {}}
    assert result["diff"]["after"]["databases"][names["database"]]["owner"] == names["role"]
    assert secret not in result["_stdout"]
    assert not database_exists(postgres, names["database"])
    assert not role_exists(postgres, names["role"])


def test_check_mode_password_change_is_rolled_back(postgres, names):
    old = password()
    bootstrap(postgres, password=old, conn_limit=2, **names)
    result = bootstrap(postgres, check=True, password=password(), conn_limit=4, **names)
    assert result["changed"] is True
    assert result["roles"][names["role"]]["conn_limit"] == 4
    assert catalog(postgres, "SELECT rolconnlimit FROM pg_roles WHERE rolname = %s",
                   (names["role"],))[0][0] == 2
    login(postgres, names["database"], names["role"], old).close()


def test_additional_databases_roles_and_privileges(postgres, names):
    reader, nologin, extra = unique("reader"), unique("nologin"), unique("extra")
    reader_secret, secret = password(), password()
    args = dict(
        password=secret,
        additional_roles=[dict(name=reader, password=reader_secret, conn_limit=3),
                          dict(name=nologin, login=False)],
        additional_databases=[dict(name=extra, owner=reader, extensions=["citext"])],
        privileges=[dict(role=reader, privs=["CONNECT", "TEMPORARY"]),
                    dict(role=nologin, database=extra, privs=["ALL"])],
        **names)
    first = bootstrap(postgres, **args)
    assert not first["failed"], first.get("msg")
    assert reader_secret not in first["_stdout"] and secret not in first["_stdout"]
    assert first["roles"][reader]["conn_limit"] == 3
    assert first["roles"][nologin]["login"] is False
    assert first["databases"][extra]["owner"] == reader
    assert "citext" in first["databases"][extra]["extensions"]
    granted = catalog(postgres, "SELECT has_database_privilege(%s, %s, 'CONNECT'),"
                      " has_database_privilege(%s, %s, 'CREATE')",
                      (reader, names["database"], nologin, extra))[0]
    assert granted == (True, True)
    with login(postgres, extra, reader, reader_secret) as conn:
        conn.execute("CREATE TABLE public.t (id integer)")

    second = bootstrap(postgres, **args)
    assert (second["changed"], second["queries"]) == (False, [])


def test_state_absent_drops_database_then_role(postgres, names):
    extra = unique("extra")
    args = dict(password=password(),
                additional_databases=[dict(name=extra)], **names)
    bootstrap(postgres, **args)
    assert database_exists(postgres, extra)

    checked = bootstrap(postgres, check=True, state="absent", **args)
    assert checked["changed"] is True
    assert checked["queries"][-1] == 'DROP ROLE "%s"' % names["role"]
    assert database_exists(postgres, names["database"]) and role_exists(postgres, names["role"])

    dropped = bootstrap(postgres, state="absent", **args)
    assert dropped["changed"] is True
    assert dropped["queries"] == ['DROP DATABASE "%s"' % names["database"],
                                  'DROP DATABASE "%s"' % extra,
                                  'DROP ROLE "%s"' % names["role"]]
    assert (dropped["roles"], dropped["databases"]) == ({}, {})
    assert not database_exists(postgres, names["database"])
    assert not database_exists(postgres, extra)
    assert not role_exists(postgres, names["role"])

    again = bootstrap(postgres, state="absent", **args)
    assert (again["changed"], again["queries"]) == (False, [])


@pytest.fixture
def no_psycopg(tmp_path):
    """A PYTHONPATH entry that makes `import psycopg` fail in the module."""
    shim = tmp_path / "psycopg"
    shim.mkdir()
    (shim / "__init__.py").write_text("raise ImportError('No module named psycopg')\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}


BAD_INPUTS = [
    ("login_password", dict(login_password="wrong-" + secrets.token_hex(4)),
     "Failed to connect to PostgreSQL at 127.0.0.1"),
    ("unreachable", dict(login_host="127.0.0.1", login_port=1, connect_timeout=3),
     "Failed to connect to PostgreSQL at 127.0.0.1:1"),
    ("database", dict(database="d" * 64), "Failed to validate database: "),
    ("role", dict(role=""), "Failed to validate role: "),
    ("conn_limit", dict(conn_limit=-5), "Failed to validate conn_limit: "),
    ("extensions", dict(extensions=["no_such_extension_x"]),
     "Failed to validate extensions: not available on the server: no_such_extension_x"),
    ("additional_roles", dict(additional_roles=[dict(name="r" * 70)]),
     "Failed to validate additional_roles[0].name: "),
    ("privileges", dict(privileges=[dict(role="no_such_role_x")]),
     "Failed to validate privileges and owners: "),
    ("psycopg", dict(), "Failed to import the required Python library (psycopg)"),
]


@pytest.mark.parametrize("case, overrides, message", BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_fails_in_one_line_and_changes_nothing(postgres, names, request, case,
                                                         overrides, message):
    args = dict(password=password(), **names)
    args.update(overrides)
    env = request.getfixturevalue("no_psycopg") if case == "psycopg" else None
    result = bootstrap(postgres, env=env, **args)
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"].startswith(message), result["msg"]
    assert "\n" not in result["msg"]
    assert "Traceback" not in result["msg"] + str(result.get("exception", ""))
    assert args["password"] not in result["_stdout"]
    assert not role_exists(postgres, names["role"])
    assert not database_exists(postgres, names["database"])


def test_login_user_without_pg_authid_sets_password_with_warning(postgres, names):
    """A CREATEROLE login_user cannot compare passwords: it sets them and says so."""
    secret, admin, admin_secret = password(), unique("admin"), password()
    bootstrap(postgres, password=secret, **names)
    catalog(postgres, psycopg.sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
        psycopg.sql.Identifier(admin), psycopg.sql.Literal(admin_secret)))
    result = bootstrap(postgres, login_user=admin, login_password=admin_secret,
                       password=secret, **names)
    assert not result["failed"], result.get("msg")
    assert result["changed"] is True
    assert result["queries"] == [
        'ALTER ROLE "%s" WITH LOGIN CONNECTION LIMIT -1 PASSWORD \'%s\'' % (names["role"], MASK)]
    assert any("pg_authid" in warning for warning in result.get("warnings", []))
    login(postgres, names["database"], names["role"], secret).close()


def test_diff_shows_before_and_after_only_when_asked(postgres, names):
    secret = password()
    first = bootstrap(postgres, password=secret, conn_limit=2, **names)
    assert "diff" not in first
    result = bootstrap(postgres, diff=True, password=secret, conn_limit=9, **names)
    assert result["changed"] is True
    assert result["diff"]["before"]["roles"][names["role"]]["conn_limit"] == 2
    assert result["diff"]["after"]["roles"][names["role"]]["conn_limit"] == 9
    assert result["diff"]["before"]["databases"] == result["diff"]["after"]["databases"]
    assert "password" not in str(result["diff"])

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared PostgreSQL connection options and connection helper (psycopg 3)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback

from ansible_collections.mlops.stack.plugins.module_utils import k8s
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError

try:
    import psycopg

    PSYCOPG_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - reported by the module
    PSYCOPG_IMPORT_ERROR = import_error
    psycopg = None


def postgres_argument_spec():
    """Connection options shared by every module that talks to PostgreSQL."""
    return dict(
        login_host=dict(
            type="str", default="localhost", fallback=(env_fallback, ["PGHOST"])
        ),
        login_port=dict(type="int", default=5432, fallback=(env_fallback, ["PGPORT"])),
        login_user=dict(
            type="str", default="postgres", fallback=(env_fallback, ["PGUSER"])
        ),
        login_password=dict(
            type="str", no_log=True, fallback=(env_fallback, ["PGPASSWORD"])
        ),
        login_db=dict(
            type="str", default="postgres", fallback=(env_fallback, ["PGDATABASE"])
        ),
        ssl_mode=dict(
            type="str",
            default="prefer",
            choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
            fallback=(env_fallback, ["PGSSLMODE"]),
        ),
        ca_cert=dict(type="path", fallback=(env_fallback, ["PGSSLROOTCERT"])),
        connect_timeout=dict(type="int", default=10),
    )


def postgres_client_argument_spec():
    """Options choosing where the client programs run: in a pod or on the controller."""
    return dict(
        pod=dict(type="str"),
        namespace=dict(type="str", default="mlops"),
        container=dict(type="str"),
        pg_bindir=dict(type="path"),
        **k8s.k8s_auth_argument_spec()
    )


def postgres_connection(params):
    """The connection options of params as a dict."""
    return dict((key, params.get(key)) for key in postgres_argument_spec())


def connect(connection, dbname=None, autocommit=False):
    """Open a psycopg connection; raise PostgresError with a one-line reason."""
    if not 1 <= int(connection.get("login_port") or 0) <= 65535:
        raise PostgresError(
            "Invalid login_port %r: it must be between 1 and 65535"
            % connection.get("login_port")
        )
    kwargs = dict(
        host=connection.get("login_host"),
        port=connection.get("login_port"),
        user=connection.get("login_user"),
        dbname=dbname or connection.get("login_db"),
        sslmode=connection.get("ssl_mode") or "prefer",
        connect_timeout=connection.get("connect_timeout") or 10,
        application_name="mlops.stack",
    )
    if connection.get("login_password"):
        kwargs["password"] = connection["login_password"]
    if connection.get("ca_cert"):
        kwargs["sslrootcert"] = connection["ca_cert"]
    try:
        return psycopg.connect(autocommit=autocommit, **kwargs)
    except psycopg.Error as error:
        raise PostgresError(
            first_line(error), action="connect to PostgreSQL at %s:%s" % (kwargs["host"], kwargs["port"]),
        ) from error


def first_line(error):
    """The first line of a driver error, which holds the reason."""
    text = str(error).strip() or error.__class__.__name__
    return text.splitlines()[0]


def server_major_version(conn):
    """Major version of the server, e.g. 15."""
    return conn.info.server_version // 10000

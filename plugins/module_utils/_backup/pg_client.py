# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the two database clients of backup and restore share.

LocalPostgres (pg_local.py) runs psycopg and the local pg_dump/pg_restore;
PodPostgres (pg_pod.py) runs psql, pg_dump and pg_restore in the PostgreSQL
pod. Both offer the same small interface (``query``, ``execute``, ``dump``,
``restore``, ``validate``, ``check_client``), so backup and restore never
care where the client programs run. Dumps are streamed: no dump is ever
held whole in memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import hashlib
import hmac
import os
import re

from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError

DUMP_MAGIC = b"PGDMP"
SCRAM_ITERATIONS = 4096
VERSION_PATTERN = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def quote_literal(value):
    return "'%s'" % str(value).replace("'", "''")


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """The SCRAM-SHA-256 verifier PostgreSQL stores for password (RFC 5802, 7677).

    Given as a role's PASSWORD, the server stores it as it is, so the
    password itself never travels in SQL.
    """
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, _b64(salt), _b64(stored_key), _b64(server_key))


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def restore_options(role):
    """pg_restore options that create every object as role, whatever the dump says."""
    return ["--no-owner", "--role", role] if role else []


def tool_major(version_output):
    """Major version in ``pg_dump (PostgreSQL) 15.10`` style output."""
    match = VERSION_PATTERN.search(version_output or "")
    return int(match.group(1)) if match else None


class DumpValidator(object):
    """Checks a stream starts like a custom-format dump while passing it on."""

    def __init__(self, raw, what):
        self._raw = raw
        self._what = what
        self._head = b""

    def read(self, size=-1):
        data = self._raw.read(size)
        if len(self._head) < len(DUMP_MAGIC) and data:
            self._head += data[:len(DUMP_MAGIC)]
            if len(self._head) >= len(DUMP_MAGIC) and not self._head.startswith(DUMP_MAGIC):
                raise PostgresError("%s did not produce a custom-format dump" % self._what)
        return data

    def check_complete(self):
        if not self._head.startswith(DUMP_MAGIC):
            raise PostgresError("%s produced no dump (empty output)" % self._what)


class PostgresClient(object):
    """Versions of the server and of the client programs, checked alike everywhere.

    Subclasses provide ``_server_version_number()``, ``_version_output(name)``
    returning (program, output), ``_program_text(program)`` and
    ``_too_old(name, version, why, minimum_major)``.
    """

    where = None

    def __init__(self, connection):
        self.connection = connection
        self._server = None

    def server_version(self):
        """(major, 'x.y') of the server."""
        if self._server is None:
            number = self._server_version_number()
            self._server = (number // 10000, "%d.%d" % (number // 10000, number % 10000))
        return self._server

    def tool_version(self, name):
        """(program, major, version) of a client program."""
        program, output = self._version_output(name)
        major = tool_major(output)
        if major is None:
            raise PostgresError("cannot tell the version of %s from %r"
                                % (self._program_text(program), output.strip()))
        return program, major, output.strip().split()[-1]

    def login_as(self, user, password):
        """The same client, logged in as another role (over TCP: it needs a password)."""
        other = copy.copy(self)
        other.connection = dict(self.connection, login_user=user, login_password=password)
        return other

    def check_client(self, name, minimum_major, why):
        """(program, version) of a client program at least minimum_major."""
        program, major, version = self.tool_version(name)
        if major < minimum_major:
            raise PostgresError(self._too_old(name, version, why, minimum_major))
        return program, version

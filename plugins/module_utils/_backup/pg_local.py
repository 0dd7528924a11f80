# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database client of backup and restore on the controller: psycopg, pg_dump, pg_restore."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import os
import shutil
import subprocess
import tempfile

from ansible_collections.mlops.stack.plugins.module_utils import postgres as pg_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_client import (
    DumpValidator,
    PostgresClient,
    restore_options,
)
from ansible_collections.mlops.stack.plugins.module_utils._backup.streams import read_chunks
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError

STDERR_LIMIT = 64 * 1024


class LocalPostgres(PostgresClient):
    """psycopg for SQL and the local pg_dump/pg_restore for dumps."""

    where = "local"

    def __init__(self, connection, bindir=None):
        super(LocalPostgres, self).__init__(connection)
        self.bindir = bindir

    @contextlib.contextmanager
    def _cursor(self, dbname, autocommit=True):
        """A cursor on dbname; driver errors become one-line PostgresErrors."""
        conn = pg_utils.connect(self.connection, dbname=dbname, autocommit=autocommit)
        try:
            with conn.cursor() as cursor:
                yield cursor
            if not autocommit:
                conn.commit()
        except pg_utils.psycopg.Error as error:
            raise PostgresError(pg_utils.first_line(error)) from error
        finally:
            conn.close()

    def query(self, sql, dbname=None):
        with self._cursor(dbname) as cursor:
            cursor.execute(sql)
            return [tuple("" if v is None else str(v) for v in row) for row in cursor.fetchall()]

    def execute(self, statements, dbname=None):
        """Run statements in one transaction (or alone when a list of one)."""
        with self._cursor(dbname, autocommit=len(statements) == 1) as cursor:
            for statement in statements:
                cursor.execute(statement)

    def _server_version_number(self):
        conn = pg_utils.connect(self.connection, autocommit=True)
        try:
            return conn.info.server_version
        finally:
            conn.close()

    def program(self, name):
        """Path of the local program matching the server's major version best."""
        major = self.server_version()[0]
        candidates = []
        if self.bindir:
            candidates.append(os.path.join(self.bindir, name))
        else:
            candidates.append("/usr/lib/postgresql/%d/bin/%s" % (major, name))
            found = shutil.which(name)
            if found:
                candidates.append(found)
        for candidate in candidates:
            if os.access(candidate, os.X_OK):
                return candidate
        raise PostgresError(
            "%s not found (looked for %s); install the PostgreSQL %d client or set pg_bindir"
            % (name, ", ".join(candidates), major))

    def _version_output(self, name):
        path = self.program(name)
        output = subprocess.run([path, "--version"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, check=False).stdout.decode("utf-8", "replace")
        return path, output

    def _program_text(self, program):
        return program

    def _too_old(self, name, version, why, minimum_major):
        return ("local %s %s is older than %s %d; install the PostgreSQL %d client "
                "(pg_bindir) or run it in the PostgreSQL pod (pod)"
                % (name, version, why, minimum_major, minimum_major))

    @contextlib.contextmanager
    def _program_env(self):
        """The environment of pg_dump/pg_restore for one run.

        The password goes into a pgpass file (0600 in a private directory,
        removed after the run), not PGPASSWORD: /proc/<pid>/environ shows a
        process's environment for as long as it runs.
        """
        env = dict(os.environ)
        env.pop("PGPASSFILE", None)
        env["PGSSLMODE"] = self.connection.get("ssl_mode") or "prefer"
        if self.connection.get("ca_cert"):
            env["PGSSLROOTCERT"] = self.connection["ca_cert"]
        env["PGCONNECT_TIMEOUT"] = str(self.connection.get("connect_timeout") or 10)
        password = self.connection.get("login_password")
        if not password:
            yield env
            return
        if "\n" in password or "\r" in password:
            raise PostgresError("login_password must be a single line for pg_dump and pg_restore")
        # Also a PGPASSWORD the controller had: libpq would prefer it to the file.
        env.pop("PGPASSWORD", None)
        directory = tempfile.mkdtemp(prefix="mlops-stack-pg-")
        try:
            path = os.path.join(directory, "pgpass")
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(handle, "w") as pgpass:
                # Any host, port, database and user: this run names them.
                pgpass.write("*:*:*:*:%s\n" % password.replace("\\", "\\\\").replace(":", "\\:"))
            env["PGPASSFILE"] = path
            yield env
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _target(self, dbname):
        return ["-h", str(self.connection.get("login_host")), "-p", str(self.connection.get("login_port")),
                "-U", str(self.connection.get("login_user")), "-d", dbname]

    def dump(self, dbname, sink):
        """Stream ``pg_dump -Fc`` of dbname into sink(reader); return its result."""
        path, _version = self.check_client("pg_dump", self.server_version()[0], "the server")
        stderr = tempfile.TemporaryFile()
        with self._program_env() as env:
            process = subprocess.Popen([path, "-Fc", "--no-password"] + self._target(dbname),
                                       stdout=subprocess.PIPE, stderr=stderr, env=env)
            validator = DumpValidator(process.stdout, "pg_dump")
            try:
                result = sink(validator)
            except BaseException:
                process.kill()
                process.wait()
                raise
            finally:
                process.stdout.close()
            returncode = process.wait()
        message = read_tail(stderr)
        if returncode != 0 or "error:" in message:
            raise PostgresError("pg_dump of %s failed (rc=%d): %s" % (dbname, returncode, message or "no output"))
        validator.check_complete()
        return result

    def validate(self, stream, minimum_major=None):
        """Read a whole dump through pg_restore; raise when it is damaged."""
        path, _version = self.check_client("pg_restore", minimum_major or 0, "the dump's pg_dump")
        self._feed([path, "-f", os.devnull], stream, "pg_restore (validate)")

    def restore(self, dbname, stream, size, dump_major, dump_file=None, jobs=1, role=None):
        """pg_restore into dbname, from stream or, given dump_file, from that file.

        Only a file (pg_restore cannot seek in a pipe) lets pg_restore load
        tables and build indexes with several jobs. With role, every object
        is created as that role.
        """
        path, _version = self.check_client("pg_restore", dump_major, "the dump's pg_dump")
        command = [path, "--exit-on-error", "--no-password"] + restore_options(role)
        if dump_file:
            command += ["--jobs", str(max(1, jobs))] if jobs > 1 else []
            self._run_file(command + self._target(dbname) + [dump_file], "pg_restore into %s" % dbname)
            return
        self._feed(command + self._target(dbname), stream, "pg_restore into %s" % dbname)

    def _run_file(self, command, what):
        stderr = tempfile.TemporaryFile()
        with self._program_env() as env:
            returncode = subprocess.call(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=stderr, env=env)
        _check_exit(what, returncode, stderr)

    def _feed(self, command, stream, what):
        stderr = tempfile.TemporaryFile()
        with self._program_env() as env:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                       stderr=stderr, env=env)
            try:
                for chunk in read_chunks(stream):
                    process.stdin.write(chunk)
                process.stdin.close()
            except (BrokenPipeError, IOError):
                pass  # the program stopped reading: its exit code says why
            returncode = process.wait()
        _check_exit(what, returncode, stderr)


def _check_exit(what, returncode, stderr):
    if returncode != 0:
        raise PostgresError("%s failed (rc=%d): %s" % (what, returncode, read_tail(stderr) or "no output"))


def read_tail(handle, limit=STDERR_LIMIT):
    """The last limit bytes a program wrote to handle, on one line; closes handle."""
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - limit))
    text = handle.read().decode("utf-8", "replace").strip()
    handle.close()
    return " ".join(text.split())

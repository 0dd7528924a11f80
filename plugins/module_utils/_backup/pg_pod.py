# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database client of backup and restore inside the PostgreSQL pod.

psql, pg_dump and pg_restore run through the Kubernetes exec API; their
channels are read byte-exact by pod_exec_stream.ExecSession. A password
travels as the first stdin line instead of on the command line, and restore
sends the dump behind ``head -c <size>`` because the channel protocol has no
end-of-file for stdin.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mlops.stack.plugins.module_utils import k8s
from ansible_collections.mlops.stack.plugins.module_utils._backup import pod_exec_stream
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_client import (
    DumpValidator,
    PostgresClient,
    restore_options,
)
from ansible_collections.mlops.stack.plugins.module_utils._backup.streams import read_chunks
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError

FIELD_SEPARATOR = "\x1f"
# The password wrapper: the first stdin line becomes a pgpass file (0600, in
# memory when the pod has /dev/shm) that libpq reads through PGPASSFILE, and
# is removed when the program ends. Not PGPASSWORD: a process's environment
# is readable in /proc/<pid>/environ for as long as it runs. The password
# only passes through shell builtins and sed's stdin, never an argument.
PASSWORD_WRAPPER = (
    'umask 077; dir=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d) || exit 70; '
    'trap \'rm -rf "$dir"\' EXIT; trap \'exit 143\' TERM INT HUP; '
    'IFS= read -r password; '
    'printf \'*:*:*:*:%s\\n\' "$(printf %s "$password" | sed \'s/[\\\\:]/\\\\&/g\')" > "$dir/pgpass" || exit 70; '
    'unset password; PGPASSFILE="$dir/pgpass" "$@"'
)


class PodPostgres(PostgresClient):
    """psql, pg_dump and pg_restore run in the PostgreSQL pod through exec."""

    where = "pod"

    def __init__(self, connection, pod, namespace, container=None, api_client=None,
                 kubeconfig=None, context=None):
        super(PodPostgres, self).__init__(connection)
        self.pod = pod
        self.namespace = namespace
        self.container = container
        self._api_client = api_client
        self._kubeconfig = kubeconfig
        self._context = context
        self._over_tcp = False

    def login_as(self, user, password):
        other = super(PodPostgres, self).login_as(user, password)
        other._over_tcp = True
        return other

    def _loopback_ssl_mode(self):
        """PGSSLMODE of a login over the pod's loopback.

        A server with TLS admits TCP logins by hostssl rules only. libpq's
        default ("prefer") tries TLS first, so it logs in with and without
        TLS; "require" fails on a server without TLS ("server does not support
        SSL"), so it is used only when the connection asks for TLS, and then
        no silent fallback to plaintext is possible. Nothing is verified: the
        connection's ca_cert is a file on the controller, not in the pod, and
        127.0.0.1 inside the pod is the server itself.
        """
        if self.connection.get("ssl_mode") in ("require", "verify-ca", "verify-full"):
            return "require"
        return "prefer"

    def _command(self, argv):
        if self._over_tcp:
            argv = ["env", "PGSSLMODE=%s" % self._loopback_ssl_mode()] + argv
        password = self.connection.get("login_password")
        if not password:
            return argv, None
        # The password reaches the program as the first line of stdin, so it
        # never shows in the pod's process list, its environment or the API
        # server's audit log.
        return ["sh", "-c", PASSWORD_WRAPPER, "sh"] + argv, (password + "\n").encode("utf-8")

    def _target(self, dbname):
        args = []
        host = self.connection.get("login_host")
        # Inside the pod "localhost" means the server next door: use its
        # socket, which the image's own trust or peer rules usually allow.
        # A role that logs in with a password (login_as) has no OS user of
        # its name for peer rules: it goes over the loopback.
        if host and host not in ("localhost", "127.0.0.1", "::1"):
            args += ["-h", host]
        elif self._over_tcp:
            args += ["-h", "127.0.0.1"]
        if self.connection.get("login_port"):
            args += ["-p", str(self.connection["login_port"])]
        if self.connection.get("login_user"):
            args += ["-U", self.connection["login_user"]]
        return args + ["-d", dbname]

    def open(self, argv, stdin=False):
        """An ExecSession of argv in the pod, the password (if any) already sent."""
        if self._api_client is None:
            self._api_client = k8s.kubernetes_client(self._kubeconfig, self._context)
        if self.container is None:
            # As documented for an unset container; the API refuses an exec
            # without one in a pod of several (the server's TLS reloader).
            self.container = k8s.first_container(self._api_client, self.pod, self.namespace)
        command, preamble = self._command(argv)
        ws = k8s.open_exec(self._api_client, self.pod, self.namespace, command,
                           container=self.container, stdin=bool(stdin or preamble))
        session = pod_exec_stream.ExecSession(ws)
        if preamble:
            session.write(preamble)
        return session

    def _failed(self, what, session):
        return PostgresError("%s failed in pod %s/%s: %s"
                             % (what, self.namespace, self.pod, session.failure_reason()))

    def _run(self, argv, what):
        session = self.open(argv)
        try:
            output = session.drain()
        finally:
            session.close()
        if session.exit_code() != 0:
            raise self._failed(what, session)
        return output.decode("utf-8", "replace")

    def _dbname(self, dbname):
        return dbname or self.connection.get("login_db") or "postgres"

    def query(self, sql, dbname=None):
        output = self._run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", FIELD_SEPARATOR]
                           + self._target(self._dbname(dbname)) + ["-c", sql], "psql")
        return [tuple(line.split(FIELD_SEPARATOR)) for line in output.splitlines() if line]

    def execute(self, statements, dbname=None):
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        if len(statements) > 1:
            argv.append("--single-transaction")
        for statement in statements:
            argv += ["-c", statement]
        self._run(argv + self._target(self._dbname(dbname)), "psql")

    def _server_version_number(self):
        return int(self.query("SHOW server_version_num")[0][0])

    def _version_output(self, name):
        return name, self._run([name, "--version"], name)

    def _program_text(self, program):
        return "%s in pod %s" % (program, self.pod)

    def _too_old(self, name, version, why, minimum_major):
        return "%s %s in pod %s is older than %s %d" % (name, version, self.pod, why, minimum_major)

    def dump(self, dbname, sink):
        """Stream ``pg_dump -Fc`` of dbname into sink(reader); return its result."""
        session = self.open(["pg_dump", "-Fc", "--no-password"] + self._target(dbname))
        validator = DumpValidator(session, "pg_dump in pod %s" % self.pod)
        try:
            result = sink(validator)
            session.drain()
        finally:
            session.close()
        if session.exit_code() != 0:
            raise self._failed("pg_dump of %s" % dbname, session)
        validator.check_complete()
        return result

    def validate(self, stream, minimum_major=None):
        """Dumps are checked locally when a pg_restore is at hand."""
        return None

    def restore(self, dbname, stream, size, dump_major, dump_file=None, jobs=1, role=None):
        """The dump always streams into the pod: dump_file and jobs do not apply."""
        self.check_client("pg_restore", dump_major, "the dump's pg_dump")
        # head -c ends pg_restore's stdin: the channel protocol cannot.
        session = self.open(["sh", "-c", 'head -c %d | exec pg_restore --exit-on-error --no-password "$@"' % size,
                             "sh"] + restore_options(role) + self._target(dbname), stdin=True)
        sent = 0
        try:
            for chunk in read_chunks(stream):
                session.write(chunk)
                sent += len(chunk)
            session.drain()
        finally:
            session.close()
        if sent != size:
            raise PostgresError("sent %d bytes of a %d byte dump" % (sent, size))
        if session.exit_code() != 0:
            raise self._failed("pg_restore into %s" % dbname, session)

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump, pg_restore and psql, run locally or inside the PostgreSQL pod.

Both ways offer the same small interface (``query``, ``execute``, ``dump``,
``restore``, ``validate``) so backup and restore never care where the client
programs run. Dumps are streamed: no dump is ever held whole in memory.

Inside a pod the programs run through the Kubernetes exec API. The
kubernetes client's WSClient decodes channel data as UTF-8 text unless the
installed version supports ``binary=True``; ExecSession reads the websocket
frames itself so a dump stays byte-exact with any client version. Stdin has
no end-of-file signal in the v4 channel protocol, so restore sends the dump
behind ``head -c <size>``, and a password travels as the first stdin line
instead of on the command line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import subprocess
import tempfile

from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    KubernetesError,
    PostgresError,
)
from ansible_collections.mlops.stack.plugins.module_utils import postgres as pg_utils

try:
    import kubernetes  # noqa: F401
    from kubernetes import config as k8s_config
    from kubernetes.client import CoreV1Api
    from kubernetes.stream import stream as k8s_stream

    KUBERNETES_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - reported by the module
    KUBERNETES_IMPORT_ERROR = import_error

DUMP_MAGIC = b"PGDMP"
CHUNK_SIZE = 1024 * 1024
STDIN, STDOUT, STDERR, ERROR = 0, 1, 2, 3
OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE = 0x1, 0x2, 0x8
FIELD_SEPARATOR = "\x1f"
STDERR_LIMIT = 64 * 1024
VERSION_PATTERN = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def client_argument_spec():
    """Options choosing where the client programs run: a pod or locally."""
    return dict(
        pod=dict(type="str"),
        namespace=dict(type="str", default="mlops"),
        container=dict(type="str"),
        kubeconfig=dict(type="path"),
        context=dict(type="str"),
        pg_bindir=dict(type="path"),
    )


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def quote_literal(value):
    return "'%s'" % str(value).replace("'", "''")


def tool_major(version_output):
    """Major version in ``pg_dump (PostgreSQL) 15.10`` style output."""
    match = VERSION_PATTERN.search(version_output or "")
    return int(match.group(1)) if match else None


class _Validator(object):
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


# --- local client programs ---------------------------------------------------

class LocalPostgres(object):
    """psycopg for SQL and the local pg_dump/pg_restore for dumps."""

    where = "local"

    def __init__(self, connection, bindir=None):
        self.connection = connection
        self.bindir = bindir
        self._server = None

    def _connect(self, dbname, autocommit=True):
        return pg_utils.connect(self.connection, dbname=dbname, autocommit=autocommit)

    def query(self, sql, dbname=None):
        conn = self._connect(dbname)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return [tuple("" if v is None else str(v) for v in row) for row in cursor.fetchall()]
        except pg_utils.psycopg.Error as error:
            raise PostgresError(pg_utils.first_line(error))
        finally:
            conn.close()

    def execute(self, statements, dbname=None):
        """Run statements in one transaction (or alone when a list of one)."""
        conn = self._connect(dbname, autocommit=len(statements) == 1)
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
            if len(statements) > 1:
                conn.commit()
        except pg_utils.psycopg.Error as error:
            raise PostgresError(pg_utils.first_line(error))
        finally:
            conn.close()

    def server_version(self):
        """(major, 'x.y') of the server."""
        if self._server is None:
            conn = self._connect(None)
            try:
                number = conn.info.server_version
            finally:
                conn.close()
            self._server = (number // 10000, "%d.%d" % (number // 10000, number % 10000))
        return self._server

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

    def tool_version(self, name):
        path = self.program(name)
        output = subprocess.run([path, "--version"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, check=False).stdout.decode("utf-8", "replace")
        major = tool_major(output)
        if major is None:
            raise PostgresError("cannot tell the version of %s from %r" % (path, output.strip()))
        return path, major, output.strip().split()[-1]

    def check_client(self, name, minimum_major, why):
        path, major, version = self.tool_version(name)
        if major < minimum_major:
            raise PostgresError(
                "local %s %s is older than %s %d; install the PostgreSQL %d client "
                "(pg_bindir) or run it in the PostgreSQL pod (pod)"
                % (name, version, why, minimum_major, minimum_major))
        return path, version

    def _env(self):
        env = dict(os.environ)
        env.pop("PGPASSFILE", None)
        if self.connection.get("login_password"):
            env["PGPASSWORD"] = self.connection["login_password"]
        env["PGSSLMODE"] = self.connection.get("ssl_mode") or "prefer"
        if self.connection.get("ca_cert"):
            env["PGSSLROOTCERT"] = self.connection["ca_cert"]
        env["PGCONNECT_TIMEOUT"] = str(self.connection.get("connect_timeout") or 10)
        return env

    def _target(self, dbname):
        return ["-h", str(self.connection.get("login_host")), "-p", str(self.connection.get("login_port")),
                "-U", str(self.connection.get("login_user")), "-d", dbname]

    def dump(self, dbname, sink):
        """Stream ``pg_dump -Fc`` of dbname into sink(reader); return its result."""
        path, _version = self.check_client("pg_dump", self.server_version()[0], "the server")
        stderr = tempfile.TemporaryFile()
        process = subprocess.Popen([path, "-Fc", "--no-password"] + self._target(dbname),
                                   stdout=subprocess.PIPE, stderr=stderr, env=self._env())
        validator = _Validator(process.stdout, "pg_dump")
        try:
            result = sink(validator)
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            process.stdout.close()
        returncode = process.wait()
        message = _read_tail(stderr)
        if returncode != 0 or "error:" in message:
            raise PostgresError("pg_dump of %s failed (rc=%d): %s" % (dbname, returncode, message or "no output"))
        validator.check_complete()
        return result

    def validate(self, stream, minimum_major=None):
        """Read a whole dump through pg_restore; raise when it is damaged."""
        path, _version = self.check_client("pg_restore", minimum_major or 0, "the dump's pg_dump")
        self._feed([path, "-f", os.devnull], stream, "pg_restore (validate)")

    def restore(self, dbname, stream, size, dump_major, dump_file=None, jobs=1):
        """pg_restore into dbname, from stream or, given dump_file, from that file.

        Only a file (pg_restore cannot seek in a pipe) lets pg_restore load
        tables and build indexes with several jobs.
        """
        path, _version = self.check_client("pg_restore", dump_major, "the dump's pg_dump")
        command = [path, "--exit-on-error", "--no-password"]
        if dump_file:
            command += ["--jobs", str(max(1, jobs))] if jobs > 1 else []
            self._run_file(command + self._target(dbname) + [dump_file], "pg_restore into %s" % dbname)
            return
        self._feed(command + self._target(dbname), stream, "pg_restore into %s" % dbname)

    def _run_file(self, command, what):
        stderr = tempfile.TemporaryFile()
        returncode = subprocess.call(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=stderr, env=self._env())
        if returncode != 0:
            raise PostgresError("%s failed (rc=%d): %s" % (what, returncode, _read_tail(stderr) or "no output"))

    def _feed(self, command, stream, what):
        stderr = tempfile.TemporaryFile()
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=stderr, env=self._env())
        try:
            while True:
                chunk = stream.read(CHUNK_SIZE)
                if not chunk:
                    break
                process.stdin.write(chunk)
            process.stdin.close()
        except (BrokenPipeError, IOError):
            pass  # the program stopped reading: its exit code says why
        returncode = process.wait()
        if returncode != 0:
            raise PostgresError("%s failed (rc=%d): %s" % (what, returncode, _read_tail(stderr) or "no output"))


def _read_tail(handle, limit=STDERR_LIMIT):
    handle.seek(0, os.SEEK_END)
    size = handle.tell()
    handle.seek(max(0, size - limit))
    text = handle.read().decode("utf-8", "replace").strip()
    handle.close()
    return " ".join(text.split())


# --- client programs inside the pod -----------------------------------------

class ExecSession(object):
    """Byte-exact access to one exec call's websocket channels.

    ``ws`` is the kubernetes WSClient returned with ``_preload_content=False``
    (only its ``sock``, a websocket-client WebSocket, is used): frames are
    read and written raw so binary data is never decoded as text.
    """

    def __init__(self, ws):
        self._ws = ws
        self._sock = ws.sock
        self._buffer = b""
        self._stdout_done = False
        self.stderr = b""
        self.error = b""

    def _next_frame(self):
        """(channel, bytes) of the next data frame, or (None, None) at close."""
        while True:
            opcode, frame = self._sock.recv_data_frame(True)
            if opcode == OPCODE_CLOSE:
                return None, None
            if opcode not in (OPCODE_TEXT, OPCODE_BINARY):
                continue
            data = frame.data
            if not isinstance(data, bytes):
                data = data.encode("latin-1")
            if not data:
                continue
            return data[0], data[1:]

    def _route(self, channel, data):
        if channel == STDERR:
            self.stderr = (self.stderr + data)[-STDERR_LIMIT:]
        elif channel == ERROR:
            self.error += data

    def read(self, size=-1):
        """Stdout as a file-like read(); other channels are set aside."""
        chunks = [self._buffer]
        have = len(self._buffer)
        while not self._stdout_done and (size is None or size < 0 or have < size):
            channel, data = self._next_frame()
            if channel is None:
                self._stdout_done = True
                break
            if channel == STDOUT:
                chunks.append(data)
                have += len(data)
            else:
                self._route(channel, data)
        data = b"".join(chunks)
        if size is None or size < 0:
            self._buffer = b""
            return data
        self._buffer = data[size:]
        return data[:size]

    def write(self, data):
        if data:
            self._sock.send(bytes(bytearray([STDIN])) + data, opcode=OPCODE_BINARY)

    def drain(self):
        """Read to the end, keeping stdout only up to STDERR_LIMIT."""
        kept = b""
        # After the close frame the socket is gone: reading again would fail
        # with "Connection to remote host was lost".
        while not self._stdout_done:
            channel, data = self._next_frame()
            if channel is None:
                break
            if channel == STDOUT:
                kept = (kept + data)[-STDERR_LIMIT:] if len(kept) < STDERR_LIMIT else kept
            else:
                self._route(channel, data)
        self._stdout_done = True
        return kept

    def exit_code(self):
        """Exit code the error channel reported (0 when it reported success)."""
        if not self.error:
            return 0
        try:
            status = json.loads(self.error.decode("utf-8", "replace"))
        except ValueError:
            return -1
        if status.get("status") == "Success":
            return 0
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    return -1
        return -1

    def failure_reason(self):
        text = self.stderr.decode("utf-8", "replace").strip()
        if not text and self.error:
            try:
                text = json.loads(self.error.decode("utf-8", "replace")).get("message", "")
            except ValueError:
                text = self.error.decode("utf-8", "replace")
        return " ".join(text.split()) or "no output"

    def close(self):
        try:
            self._ws.close()
        except Exception:  # pylint: disable=broad-except
            pass


def kubernetes_client(kubeconfig=None, context=None):
    """An API client from a kubeconfig, or the in-cluster service account."""
    try:
        if not kubeconfig and not context and os.environ.get("KUBERNETES_SERVICE_HOST") \
                and not os.environ.get("KUBECONFIG"):
            k8s_config.load_incluster_config()
            return kubernetes.client.ApiClient()
        return k8s_config.new_client_from_config(config_file=kubeconfig, context=context)
    except Exception as error:  # pylint: disable=broad-except
        raise KubernetesError("cannot load Kubernetes configuration: %s" % " ".join(str(error).split()))


class PodPostgres(object):
    """psql, pg_dump and pg_restore run in the PostgreSQL pod through exec."""

    where = "pod"

    def __init__(self, connection, pod, namespace, container=None, api_client=None,
                 kubeconfig=None, context=None):
        self.connection = connection
        self.pod = pod
        self.namespace = namespace
        self.container = container
        self._api_client = api_client
        self._kubeconfig = kubeconfig
        self._context = context
        self._server = None

    def _api(self):
        if self._api_client is None:
            self._api_client = kubernetes_client(self._kubeconfig, self._context)
        return CoreV1Api(self._api_client)

    def _command(self, argv):
        password = self.connection.get("login_password")
        if not password:
            return argv, None
        # The password reaches the program as the first line of stdin, so it
        # never shows in the pod's process list or the API server's audit log.
        wrapper = 'IFS= read -r PGPASSWORD; export PGPASSWORD; exec "$@"'
        return ["sh", "-c", wrapper, "sh"] + argv, (password + "\n").encode("utf-8")

    def _target(self, dbname):
        args = []
        host = self.connection.get("login_host")
        # Inside the pod "localhost" means the server next door: use its
        # socket, which the image's own trust or peer rules usually allow.
        if host and host not in ("localhost", "127.0.0.1", "::1"):
            args += ["-h", host]
        if self.connection.get("login_port"):
            args += ["-p", str(self.connection["login_port"])]
        if self.connection.get("login_user"):
            args += ["-U", self.connection["login_user"]]
        return args + ["-d", dbname]

    def open(self, argv, stdin=False):
        command, preamble = self._command(argv)
        kwargs = dict(command=command, stderr=True, stdout=True, stdin=bool(stdin or preamble),
                      tty=False, _preload_content=False)
        if self.container:
            kwargs["container"] = self.container
        try:
            ws = k8s_stream(self._api().connect_get_namespaced_pod_exec, self.pod, self.namespace, **kwargs)
        except Exception as error:  # pylint: disable=broad-except
            reason = getattr(error, "reason", None) or str(error)
            raise KubernetesError("cannot exec in pod %s/%s: %s" % (self.namespace, self.pod, " ".join(str(reason).split())))
        session = ExecSession(ws)
        if preamble:
            session.write(preamble)
        return session

    def _run(self, argv, what):
        session = self.open(argv)
        try:
            output = session.drain()
        finally:
            session.close()
        if session.exit_code() != 0:
            raise PostgresError("%s failed in pod %s/%s: %s" % (what, self.namespace, self.pod, session.failure_reason()))
        return output.decode("utf-8", "replace")

    def query(self, sql, dbname=None):
        output = self._run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", FIELD_SEPARATOR]
                           + self._target(dbname or self.connection.get("login_db") or "postgres")
                           + ["-c", sql], "psql")
        return [tuple(line.split(FIELD_SEPARATOR)) for line in output.splitlines() if line]

    def execute(self, statements, dbname=None):
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
        if len(statements) > 1:
            argv.append("--single-transaction")
        for statement in statements:
            argv += ["-c", statement]
        self._run(argv + self._target(dbname or self.connection.get("login_db") or "postgres"), "psql")

    def server_version(self):
        if self._server is None:
            number = int(self.query("SHOW server_version_num")[0][0])
            self._server = (number // 10000, "%d.%d" % (number // 10000, number % 10000))
        return self._server

    def tool_version(self, name):
        output = self._run([name, "--version"], name)
        major = tool_major(output)
        if major is None:
            raise PostgresError("cannot tell the version of %s in pod %s from %r" % (name, self.pod, output.strip()))
        return name, major, output.strip().split()[-1]

    def check_client(self, name, minimum_major, why):
        path, major, version = self.tool_version(name)
        if major < minimum_major:
            raise PostgresError("%s %s in pod %s is older than %s %d" % (name, version, self.pod, why, minimum_major))
        return path, version

    def dump(self, dbname, sink):
        session = self.open(["pg_dump", "-Fc", "--no-password"] + self._target(dbname))
        validator = _Validator(session, "pg_dump in pod %s" % self.pod)
        try:
            result = sink(validator)
            session.drain()
        finally:
            session.close()
        if session.exit_code() != 0:
            raise PostgresError("pg_dump of %s failed in pod %s/%s: %s"
                                % (dbname, self.namespace, self.pod, session.failure_reason()))
        validator.check_complete()
        return result

    def validate(self, stream, minimum_major=None):
        """Dumps are checked locally when a pg_restore is at hand."""
        return None

    def restore(self, dbname, stream, size, dump_major, dump_file=None, jobs=1):
        """The dump always streams into the pod: dump_file and jobs do not apply."""
        self.check_client("pg_restore", dump_major, "the dump's pg_dump")
        # head -c ends pg_restore's stdin: the channel protocol cannot.
        session = self.open(["sh", "-c", 'head -c %d | exec pg_restore --exit-on-error --no-password "$@"' % size,
                             "sh"] + self._target(dbname), stdin=True)
        try:
            sent = 0
            while True:
                chunk = stream.read(CHUNK_SIZE)
                if not chunk:
                    break
                session.write(chunk)
                sent += len(chunk)
            session.drain()
        finally:
            session.close()
        if sent != size:
            raise PostgresError("sent %d bytes of a %d byte dump" % (sent, size))
        if session.exit_code() != 0:
            raise PostgresError("pg_restore into %s failed in pod %s/%s: %s"
                                % (dbname, self.namespace, self.pod, session.failure_reason()))


def postgres_access(params, api_client=None):
    """LocalPostgres or PodPostgres, as the module's options ask."""
    connection = pg_utils.postgres_connection(params)
    if params.get("pod"):
        return PodPostgres(connection, params["pod"], params.get("namespace") or "mlops",
                           params.get("container"), api_client=api_client,
                           kubeconfig=params.get("kubeconfig"), context=params.get("context"))
    return LocalPostgres(connection, bindir=params.get("pg_bindir"))

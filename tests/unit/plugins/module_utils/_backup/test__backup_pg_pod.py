"""Unit tests for pg_dump, pg_restore and psql run in the PostgreSQL pod."""

import hashlib
import io
import json
import os
import subprocess
from types import SimpleNamespace

import pytest
from ws_fakes import BINARY, EXIT_1, SUCCESS, FakeWSClient, Frame, frames_for

from ansible_collections.mlops.stack.plugins.module_utils import k8s
from ansible_collections.mlops.stack.plugins.module_utils._backup import pg_pod
from ansible_collections.mlops.stack.plugins.module_utils._backup import pod_exec_stream as stream
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError


class FakeApi:
    def connect_get_namespaced_pod_exec(self, *args, **kwargs):
        raise AssertionError("only called through the stream stub")

    def read_namespaced_pod(self, name, namespace):
        # The chart's pod with TLS: the server first, its reloader beside it.
        return SimpleNamespace(spec=SimpleNamespace(containers=[SimpleNamespace(name="postgresql"),
                                                                SimpleNamespace(name="tls-reload")]))


def pod(monkeypatch, sessions, password=None):
    calls = []

    def fake_stream(function, name, namespace, **kwargs):
        calls.append(dict(name=name, namespace=namespace, **kwargs))
        return FakeWSClient(sessions.pop(0))

    monkeypatch.setattr(k8s, "k8s_stream", fake_stream)
    monkeypatch.setattr(k8s, "CoreV1Api", lambda client: FakeApi())
    connection = dict(login_host="localhost", login_port=5432, login_user="postgres",
                      login_password=password)
    return pg_pod.PodPostgres(connection, "postgresql-0", "mlops", api_client=object()), calls


class TestPodPostgres:
    def test_dump_streams_exact_bytes_and_checks_exit(self, monkeypatch):
        runner, calls = pod(monkeypatch, [frames_for(BINARY, size=4096) + [
            (stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]])
        sink = io.BytesIO()

        def write(reader):
            while True:
                chunk = reader.read(1000)
                if not chunk:
                    return hashlib.sha256(sink.getvalue()).hexdigest()
                sink.write(chunk)

        digest = runner.dump("mlflow", write)
        assert sink.getvalue() == BINARY
        assert digest == hashlib.sha256(BINARY).hexdigest()
        assert calls[0]["command"] == ["pg_dump", "-Fc", "--no-password", "-p", "5432", "-U", "postgres",
                                       "-d", "mlflow"]
        assert calls[0]["_preload_content"] is False and calls[0]["tty"] is False

    def test_password_goes_on_stdin_not_the_command_line(self, monkeypatch):
        runner, calls = pod(monkeypatch, [frames_for(BINARY) + [
            (stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]], password="s3cr3t")
        runner.dump("mlflow", lambda reader: reader.read())
        assert "s3cr3t" not in json.dumps(calls[0]["command"])
        assert calls[0]["stdin"] is True

    def test_dump_failure_is_reported_even_with_output(self, monkeypatch):
        runner, _calls = pod(monkeypatch, [frames_for(BINARY[:20]) + [
            (stream.OPCODE_BINARY, Frame(b"\x02pg_dump: error: query failed\n")),
            (stream.OPCODE_BINARY, Frame(b"\x03" + EXIT_1))]])
        with pytest.raises(PostgresError, match="query failed"):
            runner.dump("mlflow", lambda reader: reader.read())

    def test_output_that_is_not_a_dump_is_refused(self, monkeypatch):
        runner, _calls = pod(monkeypatch, [frames_for(b"sh: pg_dump: not found\n") + [
            (stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]])
        with pytest.raises(PostgresError, match="custom-format"):
            runner.dump("mlflow", lambda reader: reader.read())

    def test_restore_sends_exact_bytes_behind_head(self, monkeypatch):
        version = frames_for(b"pg_restore (PostgreSQL) 15.10\n") + [(stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]
        runner, calls = pod(monkeypatch, [version, [(stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]])
        ws_holder = []
        original = stream.ExecSession

        class Recording(original):
            def __init__(self, ws):
                ws_holder.append(ws)
                original.__init__(self, ws)

        monkeypatch.setattr(stream, "ExecSession", Recording)
        runner.restore("mlflow__restore", io.BytesIO(BINARY), len(BINARY), 15)
        sent = b"".join(data[1:] for opcode, data in ws_holder[1].sock.sent)
        assert sent == BINARY
        assert all(opcode == stream.OPCODE_BINARY and data[:1] == b"\x00" for opcode, data in ws_holder[1].sock.sent)
        assert calls[1]["command"][:3] == ["sh", "-c", 'head -c %d | exec pg_restore --exit-on-error '
                                           '--no-password "$@"' % len(BINARY)]

    def test_old_pg_restore_in_pod_is_refused(self, monkeypatch):
        runner, _calls = pod(monkeypatch, [frames_for(b"pg_restore (PostgreSQL) 14.2\n")])
        with pytest.raises(PostgresError, match="older than"):
            runner.restore("x", io.BytesIO(b""), 0, 15)


class TestPodSql:
    def test_query_splits_rows_and_fields(self, monkeypatch):
        out = "15.10\x1fmlflow\nx\x1f\n".encode()
        runner, calls = pod(monkeypatch, [frames_for(out) + [(stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]])
        assert runner.query("SELECT 1", dbname="mlflow") == [("15.10", "mlflow"), ("x", "")]
        command = calls[0]["command"]
        assert command[0] == "psql" and command[-2:] == ["-c", "SELECT 1"]
        assert "-h" not in command  # localhost in the pod is its Unix socket

    def test_execute_runs_statements_in_one_transaction(self, monkeypatch):
        runner, calls = pod(monkeypatch, [[(stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]])
        runner.execute(["ALTER DATABASE a RENAME TO b", "ALTER DATABASE c RENAME TO a"])
        command = calls[0]["command"]
        assert "--single-transaction" in command
        assert command.count("-c") == 2

    def test_sql_failure_is_one_line(self, monkeypatch):
        runner, _calls = pod(monkeypatch, [[
            (stream.OPCODE_BINARY, Frame(b"\x02ERROR:  database \"x\" does not exist\nLINE 1\n")),
            (stream.OPCODE_BINARY, Frame(b"\x03" + EXIT_1))]])
        with pytest.raises(PostgresError) as caught:
            runner.query("SELECT 1")
        assert "\n" not in caught.value.message and 'database "x" does not exist' in caught.value.message

    def test_password_wrapper_reads_one_line(self, monkeypatch):
        runner, calls = pod(monkeypatch, [[(stream.OPCODE_BINARY, Frame(b"\x01ok\n")),
                                           (stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]], password="pw")
        runner.query("SELECT 1")
        assert calls[0]["command"][:4] == ["sh", "-c", pg_pod.PASSWORD_WRAPPER, "sh"]


class TestLoopbackTls:
    """A role logged in with a password goes over 127.0.0.1, which a TLS server admits by hostssl only."""

    def command(self, monkeypatch, ssl_mode):
        runner, calls = pod(monkeypatch, [[(stream.OPCODE_BINARY, Frame(b"\x01ok\n")),
                                           (stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]])
        runner.connection["ssl_mode"] = ssl_mode
        runner.login_as("restorer", "pw").query("SELECT 1")
        command = calls[0]["command"]
        assert command[:4] == ["sh", "-c", pg_pod.PASSWORD_WRAPPER, "sh"]
        assert command[6:8] == ["psql", "-X"] and command[command.index("-h") + 1] == "127.0.0.1"
        return command[4:6]

    @pytest.mark.parametrize("ssl_mode", ["require", "verify-ca", "verify-full"])
    def test_tls_is_required_when_the_connection_asks_for_it(self, monkeypatch, ssl_mode):
        # Required, not verified: the CA file is the controller's, and 127.0.0.1 is the pod itself.
        assert self.command(monkeypatch, ssl_mode) == ["env", "PGSSLMODE=require"]

    @pytest.mark.parametrize("ssl_mode", [None, "disable", "allow", "prefer"])
    def test_otherwise_tls_is_tried_first(self, monkeypatch, ssl_mode):
        # "prefer" logs in to a server with hostssl rules and to one without TLS alike.
        assert self.command(monkeypatch, ssl_mode) == ["env", "PGSSLMODE=prefer"]

    def test_the_socket_login_sets_nothing(self, monkeypatch):
        runner, calls = pod(monkeypatch, [[(stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]])
        runner.connection["ssl_mode"] = "verify-full"
        runner.query("SELECT 1")
        assert calls[0]["command"][0] == "psql"


class TestPasswordWrapper:
    """The wrapper itself, run by the local sh as the pod's sh runs it."""

    def run(self, tmp_path, program, password):
        return subprocess.run(["sh", "-c", pg_pod.PASSWORD_WRAPPER, "sh", "sh", "-c", program],
                              input=(password + "\nthe rest of stdin").encode("utf-8"),
                              capture_output=True, check=False, env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)})

    def test_the_password_is_a_0600_pgpass_file_never_the_environment(self, tmp_path):
        password = "pa:ss\\wo rd%$(x)`y`"
        done = self.run(tmp_path, 'stat -c %a "$PGPASSFILE"; cat "$PGPASSFILE"; echo "$PGPASSFILE";'
                                  ' env; echo ---; cat', password)
        assert done.returncode == 0, done.stderr
        mode, line, path, rest = done.stdout.decode().split("\n", 3)
        assert mode == "600"
        # libpq's escaping: ":" and "\" behind a backslash, any host/port/database/user.
        assert line == "*:*:*:*:pa\\:ss\\\\wo rd%$(x)`y`"
        environment, stdin = rest.split("---\n")
        assert password not in environment and "PGPASSWORD" not in environment
        # What follows the password line is the program's own stdin (restore's dump).
        assert stdin == "the rest of stdin"
        # Removed when the program ends.
        assert not os.path.exists(path)

    def test_the_program_s_exit_status_is_the_wrapper_s(self, tmp_path):
        assert self.run(tmp_path, "exit 3", "secret").returncode == 3


def test_without_a_container_the_pod_s_first_one_runs_the_command(monkeypatch):
    runner, calls = pod(monkeypatch, [frames_for(b"1\n") + [(stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))]])
    runner.query("SELECT 1")
    assert calls[0]["container"] == "postgresql"

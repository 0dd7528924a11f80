"""Unit tests for the pg_dump/pg_restore runners and the pod exec stream they read."""

import hashlib
import io
import json

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import k8s
from ansible_collections.mlops.stack.plugins.module_utils._backup import pg_pod
from ansible_collections.mlops.stack.plugins.module_utils._backup import pod_exec_stream as stream
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError

SUCCESS = json.dumps({"metadata": {}, "status": "Success"}).encode()
EXIT_1 = json.dumps({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                     "details": {"causes": [{"reason": "ExitCode", "message": "1"}]}}).encode()


class Frame:
    def __init__(self, data):
        self.data = data


class FakeSocket:
    """Stands in for websocket-client's WebSocket under the kubernetes WSClient."""

    def __init__(self, frames):
        self.frames = list(frames)
        self.sent = []
        self.closed = False

    def recv_data_frame(self, control_frame=False):
        if self.closed:
            # What websocket-client does when read again after the close frame.
            raise ConnectionError("Connection to remote host was lost.")
        if not self.frames:
            self.closed = True
            return stream.OPCODE_CLOSE, Frame(b"")
        return self.frames.pop(0)

    def send(self, data, opcode=stream.OPCODE_TEXT):
        self.sent.append((opcode, data))


class FakeWSClient:
    def __init__(self, frames):
        self.sock = FakeSocket(frames)
        self.closed = False

    def close(self):
        self.closed = True


def frames_for(payload, channel=stream.STDOUT, size=7, opcode=stream.OPCODE_BINARY):
    return [(opcode, Frame(bytes([channel]) + payload[i:i + size])) for i in range(0, len(payload), size)]


# Every byte value, bytes that are not UTF-8 and a custom-format header:
# any text decoding on the way would change the dump.
BINARY = b"PGDMP\x01\x0e\x00" + bytes(range(256)) * 3 + b"\xff\xfe\xc3\x28\x80\r\n\x00"


class TestExecSession:
    def test_stdout_is_byte_exact_across_frames(self):
        ws = FakeWSClient(frames_for(BINARY) + [(stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))])
        session = stream.ExecSession(ws)
        out = b""
        while True:
            chunk = session.read(10)
            if not chunk:
                break
            out += chunk
        assert out == BINARY
        assert session.exit_code() == 0

    def test_drain_after_reading_to_the_end_reads_no_more(self):
        ws = FakeWSClient(frames_for(BINARY) + [(stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS))])
        session = stream.ExecSession(ws)
        assert session.read() == BINARY
        assert session.drain() == b""
        assert session.exit_code() == 0

    def test_channels_are_separated(self):
        frames = []
        for i in range(0, len(BINARY), 50):
            frames += frames_for(BINARY[i:i + 50], size=50)
            frames.append((stream.OPCODE_BINARY, Frame(b"\x02warning\n")))
        frames.append((stream.OPCODE_BINARY, Frame(b"\x03" + SUCCESS)))
        session = stream.ExecSession(FakeWSClient(frames))
        assert session.read() == BINARY
        assert session.stderr.count(b"warning") == len(range(0, len(BINARY), 50))

    def test_text_frames_are_taken_as_bytes(self):
        session = stream.ExecSession(FakeWSClient(
            frames_for(b"abc\xc3\xa9", opcode=stream.OPCODE_TEXT)))
        assert session.read() == b"abc\xc3\xa9"

    def test_empty_and_control_frames_are_skipped(self):
        frames = [(0x9, Frame(b"")), (stream.OPCODE_BINARY, Frame(b"")),
                  (stream.OPCODE_BINARY, Frame(b"\x01"))] + frames_for(b"xyz")
        assert stream.ExecSession(FakeWSClient(frames)).read() == b"xyz"

    def test_exit_code_from_error_channel(self):
        session = stream.ExecSession(FakeWSClient(
            [(stream.OPCODE_BINARY, Frame(b"\x02pg_dump: error: connection refused\n")),
             (stream.OPCODE_BINARY, Frame(b"\x03" + EXIT_1))]))
        session.drain()
        assert session.exit_code() == 1
        assert session.failure_reason() == "pg_dump: error: connection refused"

    def test_stdin_is_sent_binary_on_channel_0(self):
        ws = FakeWSClient([])
        stream.ExecSession(ws).write(b"\x00\xff data")
        assert ws.sock.sent == [(stream.OPCODE_BINARY, b"\x00\x00\xff data")]


class FakeApi:
    def connect_get_namespaced_pod_exec(self, *args, **kwargs):
        raise AssertionError("only called through the stream stub")


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
        assert calls[0]["command"][:4] == ["sh", "-c", 'IFS= read -r PGPASSWORD; export PGPASSWORD; exec "$@"', "sh"]

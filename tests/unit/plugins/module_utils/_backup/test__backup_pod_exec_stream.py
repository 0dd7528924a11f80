"""Unit tests for the pod exec WebSocket channels, read and written byte-exact."""

from ws_fakes import BINARY, EXIT_1, SUCCESS, FakeWSClient, Frame, frames_for

from ansible_collections.mlops.stack.plugins.module_utils._backup import pod_exec_stream as stream


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

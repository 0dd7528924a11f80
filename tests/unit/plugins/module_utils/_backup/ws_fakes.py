"""Stand-ins for the kubernetes WSClient of a pod exec call and the frames it reads."""

import json

from ansible_collections.mlops.stack.plugins.module_utils._backup import pod_exec_stream as stream

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

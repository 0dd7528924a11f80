# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The channels of a Kubernetes pod exec WebSocket, read and written byte-exact.

The kubernetes client's WSClient decodes channel data as UTF-8 text unless
the installed version supports ``binary=True``; ExecSession reads the
WebSocket frames itself so a dump stays byte-exact with any client version.
Stdin has no end-of-file signal in the v4 channel protocol: callers that
need one send a known number of bytes behind ``head -c <size>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

STDIN, STDOUT, STDERR, ERROR = 0, 1, 2, 3
OPCODE_TEXT, OPCODE_BINARY, OPCODE_CLOSE = 0x1, 0x2, 0x8
STDERR_LIMIT = 64 * 1024


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

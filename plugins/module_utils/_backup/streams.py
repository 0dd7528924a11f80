# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading streams in chunks and hashing them on the way: nothing is held whole in memory."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

CHUNK_SIZE = 1024 * 1024


def read_chunks(stream, chunk_size=CHUNK_SIZE):
    """The chunks of stream, read until it ends."""
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            return
        yield chunk


class HashingReader(object):
    """A file-like reader that hashes and counts what passes through it."""

    def __init__(self, raw):
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size=-1):
        data = self._raw.read(size) if size is not None and size >= 0 else self._raw.read()
        if data:
            self.sha256.update(data)
            self.size += len(data)
        return data

    def hexdigest(self):
        return self.sha256.hexdigest()


def hash_stream(stream, chunk_size=CHUNK_SIZE):
    """(size, sha256) of everything stream yields."""
    reader = HashingReader(stream)
    for _chunk in read_chunks(reader, chunk_size):
        pass
    return reader.size, reader.hexdigest()

"""Unit tests for chunked reading and hashing of streams."""

import hashlib
import io

from ansible_collections.mlops.stack.plugins.module_utils._backup import streams


def test_chunks_cover_the_stream():
    assert list(streams.read_chunks(io.BytesIO(b"abcdefg"), 3)) == [b"abc", b"def", b"g"]
    assert list(streams.read_chunks(io.BytesIO(b""))) == []


def test_a_hashing_reader_counts_and_hashes_what_passes():
    reader = streams.HashingReader(io.BytesIO(b"hello world"))
    assert reader.read(5) == b"hello" and reader.read() == b" world" and reader.read(3) == b""
    assert reader.size == 11 and reader.hexdigest() == hashlib.sha256(b"hello world").hexdigest()


def test_hash_stream():
    data = bytes(range(256)) * 10
    assert streams.hash_stream(io.BytesIO(data), chunk_size=100) == (len(data), hashlib.sha256(data).hexdigest())

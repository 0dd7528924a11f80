"""Unit tests for the backup key: manifest signatures and streaming file encryption."""

import io
import os

import pytest
from conftest import KEY  # noqa: E402 - the unit tests' backup key

from ansible_collections.mlops.stack.plugins.module_utils._backup import seal, stores
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, ParameterError

PLACE = "20261126T061500Z/objects/mlflow/a~"


@pytest.fixture(autouse=True)
def small_segments(monkeypatch):
    """16-byte segments, so a few bytes make several segments."""
    monkeypatch.setattr(seal, "SEGMENT", 16)


def encrypt(data, place=PLACE, key=KEY):
    return seal.EncryptingReader(io.BytesIO(data), key, place).read()


def decrypt(data, place=PLACE, key=KEY, piece=-1):
    reader = seal.DecryptingReader(io.BytesIO(data), key, place)
    if piece < 0:
        return reader.read()
    parts = []
    while True:
        chunk = reader.read(piece)
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def segments(sealed):
    body = sealed[seal.HEADER_SIZE:]
    size = seal.SEGMENT + seal.TAG_SIZE
    return sealed[:seal.HEADER_SIZE], [body[i:i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 32, 100])
def test_round_trip_in_any_read_sizes(size):
    data = os.urandom(size)
    sealed = encrypt(data)
    # A short plaintext turns up in random ciphertext by chance (one byte: about
    # one run in five); from 16 bytes on, finding it would mean it was not encrypted.
    assert data not in sealed or size < 16
    assert len(sealed) == seal.HEADER_SIZE + size + seal.TAG_SIZE * max(1, -(-size // 16))
    assert decrypt(sealed) == data
    assert decrypt(sealed, piece=7) == data


def test_each_file_has_its_own_key():
    assert encrypt(b"same") != encrypt(b"same")


@pytest.mark.parametrize("damage", ["flip", "drop_last", "drop_middle", "swap", "cut_tag", "header_only",
                                    "append"])
def test_any_change_fails_authentication(damage):
    header, parts = segments(encrypt(os.urandom(50)))
    if damage == "flip":
        parts[1] = bytes([parts[1][0] ^ 1]) + parts[1][1:]
    elif damage == "drop_last":
        parts = parts[:-1]
    elif damage == "drop_middle":
        parts = parts[:1] + parts[2:]
    elif damage == "swap":
        parts[0], parts[1] = parts[1], parts[0]
    elif damage == "cut_tag":
        parts[-1] = parts[-1][:-1]
    elif damage == "header_only":
        parts = []
    elif damage == "append":
        parts.append(parts[-1])
    with pytest.raises(BackupError, match="fails authentication"):
        decrypt(header + b"".join(parts))


def test_a_file_moved_to_another_place_or_read_with_another_key_fails():
    sealed = encrypt(b"model weights")
    with pytest.raises(BackupError, match="fails authentication"):
        decrypt(sealed, place="20261126T061500Z/objects/mlflow/b~")
    with pytest.raises(BackupError, match="fails authentication"):
        decrypt(sealed, key=seal.SetKey("another-stack-backup-key-0123456789"))


def test_a_plain_file_is_named():
    with pytest.raises(BackupError, match="objects/mlflow/a~ is not an encrypted file"):
        decrypt(b"PGDMP plain dump")


def test_short_keys_are_refused():
    with pytest.raises(ParameterError, match="at least 32"):
        seal.SetKey("short")


def test_sealed_store_writes_ciphertext_and_reports_the_plaintext(tmp_path):
    store = stores.DirectoryStore(str(tmp_path))
    store.claim("20261126T061500Z")
    sealed = seal.SealedStore(store, KEY)
    size, digest = sealed.write_stream("20261126T061500Z", "database/mlflow.dump", io.BytesIO(b"PGDMP-dump"))
    assert size == 10
    assert store.read_bytes("20261126T061500Z", "database/mlflow.dump")[:len(seal.MAGIC)] == seal.MAGIC
    assert sealed.local_path("20261126T061500Z", "database/mlflow.dump") is None
    assert stores.verify_files(sealed, "20261126T061500Z",
                               [dict(path="database/mlflow.dump", size=size, sha256=digest)]) == []
    mode = os.stat(str(tmp_path / "20261126T061500Z" / "database" / "mlflow.dump")).st_mode & 0o777
    assert mode == 0o600
    assert os.stat(str(tmp_path / "20261126T061500Z")).st_mode & 0o777 == 0o700


def test_reading_store_follows_the_manifest(tmp_path):
    store = stores.DirectoryStore(str(tmp_path))
    assert seal.reading_store(store, dict(encryption=None), KEY) is store
    assert seal.reading_store(store, dict(encryption=seal.encryption_record()), KEY).encrypted
    with pytest.raises(BackupError, match="cannot read"):
        seal.reading_store(store, dict(backup_id="x", encryption=dict(algorithm="rot13")), KEY)

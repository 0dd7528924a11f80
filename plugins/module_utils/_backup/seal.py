# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup key: it signs every manifest and encrypts every file of a set.

One secret (the text kept in the backup key Secret) gives, through HKDF-SHA256,
a key for HMAC-SHA256 over the manifest and a root key for file encryption.
The manifest lists every file's size and sha256, so its signature covers the
whole set: no file can be altered, added, dropped or moved without the key.

Files are encrypted with the STREAM construction (Hoang, Reyhanitabar,
Rogaway and Vizar, "Online authenticated-encryption and its nonce-reuse
misuse-resistance", 2015), the one age and Tink's streaming AEAD use, over
AES-256-GCM from ``cryptography``:

- each file gets its own key, derived from the root key with a random 32-byte
  salt stored in the file's header, so nonces never repeat across files;
- the plaintext is cut into fixed 1 MiB segments; the nonce of a segment is its
  index and a flag set only on the last one, and the associated data binds the
  header and the file's place (set id and path): segments cannot be reordered,
  dropped, cut short or moved to another file or set without failing
  authentication;
- nothing is ever held whole in memory, and a reader never returns a byte of
  a segment before its tag has been checked.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import os
import struct

from ansible_collections.mlops.stack.plugins.module_utils._backup.streams import HashingReader
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, ParameterError

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as error:  # pragma: no cover - reported by the module
    CRYPTOGRAPHY_IMPORT_ERROR = error

MAGIC = b"MLSSET1\n"
SALT_SIZE = 32
SEGMENT = 1024 * 1024
TAG_SIZE = 16
HEADER_SIZE = len(MAGIC) + SALT_SIZE
MIN_KEY_LENGTH = 32
ALGORITHM = "STREAM-AES-256-GCM-HKDF-SHA256"
SIGNATURE_PREFIX = "hmac-sha256:"


def _hkdf(key, info, salt=None):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


class SetKey(object):
    """The backup key: signs manifests and encrypts files. Never printed."""

    def __init__(self, text):
        if not isinstance(text, str) or len(text.strip()) < MIN_KEY_LENGTH:
            raise ParameterError("Invalid key: it must be at least %d characters (the backup role "
                                 "generates one into its Secret)" % MIN_KEY_LENGTH)
        secret = text.strip().encode("utf-8")
        self._mac = _hkdf(secret, b"mlops.stack backup set: manifest signature")
        self._files = _hkdf(secret, b"mlops.stack backup set: file encryption")
        # Names the key in manifests and messages without revealing it.
        self.key_id = hmac.new(self._mac, b"key id", hashlib.sha256).hexdigest()[:16]

    def sign(self, data):
        return SIGNATURE_PREFIX + hmac.new(self._mac, data, hashlib.sha256).hexdigest()

    def signed(self, data, signature):
        return isinstance(signature, str) and hmac.compare_digest(self.sign(data), signature)

    def file_cipher(self, salt, place):
        return AESGCM(_hkdf(self._files, b"mlops.stack backup set file " + place.encode("utf-8"), salt))


def _nonce(index, last):
    # 11 bytes of segment index and the last-segment flag: the STREAM nonce.
    return struct.pack(">xxxQ?", index, last)


def _read_exact(raw, size):
    parts = []
    wanted = size
    while wanted > 0:
        data = raw.read(wanted)
        if not data:
            break
        parts.append(data)
        wanted -= len(data)
    return b"".join(parts)


class _Buffered(object):
    """A reader that hands out, in any sizes asked, the pieces _next() makes."""

    def __init__(self, raw):
        self._raw = raw
        self._buffer = bytearray()
        self._done = False

    def read(self, size=-1):
        while not self._done and (size is None or size < 0 or len(self._buffer) < size):
            piece = self._next()
            if piece is None:
                self._done = True
            else:
                self._buffer += piece
        if size is None or size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def close(self):
        self._raw.close()


class EncryptingReader(_Buffered):
    """The encrypted form of a plaintext stream, read as a stream."""

    def __init__(self, raw, key, place):
        super(EncryptingReader, self).__init__(raw)
        salt = os.urandom(SALT_SIZE)
        self._header = MAGIC + salt
        self._aad = self._header + place.encode("utf-8")
        self._cipher = key.file_cipher(salt, place)
        self._index = 0
        self._ahead = None
        self._ended = False

    def _next(self):
        if self._ended:
            return None
        if self._ahead is None:
            self._ahead = _read_exact(self._raw, SEGMENT)
            return self._header
        segment, self._ahead = self._ahead, _read_exact(self._raw, SEGMENT)
        last = not self._ahead
        sealed = self._cipher.encrypt(_nonce(self._index, last), segment, self._aad)
        self._index += 1
        self._ended = last
        return sealed


class DecryptingReader(_Buffered):
    """The plaintext of an encrypted file, each segment checked before it is returned."""

    def __init__(self, raw, key, place):
        super(DecryptingReader, self).__init__(raw)
        self._key = key
        self._place = place
        self._cipher = None
        self._index = 0
        self._ahead = None
        self._ended = False

    def _broken(self, why):
        return BackupError("%s %s" % (self._place.split("/", 1)[-1], why))

    def _next(self):
        if self._ended:
            return None
        if self._cipher is None:
            header = _read_exact(self._raw, HEADER_SIZE)
            if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
                raise self._broken("is not an encrypted file of a backup set")
            self._aad = header + self._place.encode("utf-8")
            self._cipher = self._key.file_cipher(header[len(MAGIC):], self._place)
            self._ahead = _read_exact(self._raw, SEGMENT + TAG_SIZE)
        segment, self._ahead = self._ahead, _read_exact(self._raw, SEGMENT + TAG_SIZE)
        last = not self._ahead
        try:
            plain = self._cipher.decrypt(_nonce(self._index, last), segment, self._aad)
        except InvalidTag:
            raise self._broken("fails authentication: altered, cut short, moved or encrypted "
                               "with another key") from None
        self._index += 1
        self._ended = last
        return plain


def _place(backup_id, relative):
    return "%s/%s" % (backup_id, relative)


class SealedStore(object):
    """A store whose files are encrypted on write and decrypted on read.

    Sizes and sha256 digests are those of the plaintext, as the manifest
    records them. Everything else is the wrapped store's.
    """

    encrypted = True

    def __init__(self, store, key):
        self._store = store
        self._key = key

    def __getattr__(self, name):
        return getattr(self._store, name)

    def write_stream(self, backup_id, relative, stream, transfer_config=None):
        plain = HashingReader(stream)
        self._store.write_stream(backup_id, relative, EncryptingReader(plain, self._key, _place(backup_id, relative)),
                                 transfer_config=transfer_config)
        return plain.size, plain.hexdigest()

    def open_read(self, backup_id, relative):
        return DecryptingReader(self._store.open_read(backup_id, relative), self._key,
                                _place(backup_id, relative))

    def local_path(self, backup_id, relative):
        # The file on disk is not what a reader of the set sees.
        return None


def encryption_record():
    """What the manifest says of how its files are encrypted."""
    return dict(algorithm=ALGORITHM, segment_bytes=SEGMENT)


def reading_store(store, manifest, key):
    """The store to read a verified set's files through, as its manifest says."""
    encryption = manifest.get("encryption")
    if not encryption:
        return store
    if encryption.get("algorithm") != ALGORITHM or encryption.get("segment_bytes") != SEGMENT:
        raise BackupError("set %s is encrypted with %r, which this collection cannot read"
                          % (manifest.get("backup_id"), encryption))
    return SealedStore(store, key)

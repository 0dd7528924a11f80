# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The format of a backup set: ids, object paths, the manifest and retention.

A set lives under ``<location>/<id>/``: ``database/<name>.dump`` (pg_dump
custom format), ``objects/<bucket>/<encoded key>`` and ``manifest.json``.
The manifest is written last, so a set without one (or whose manifest does
not say ``complete``) is an interrupted run and never counts as a backup.
It lists every file's size and sha256 and is signed with the backup key
(seal.py); it records the stack that wrote it (namespace and id).
Nothing here reads or writes a store (stores.py does).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import re

from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    BackupError,
    ParameterError,
)

try:
    from urllib.parse import quote, unquote
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urllib import quote, unquote

MANIFEST = "manifest.json"
# Format 1: sets of 0.1.0, sealed with an unkeyed sha256 only. Format 2: signed.
UNSIGNED_FORMAT = 1
MANIFEST_FORMAT = 2
# A set dated further ahead than this (clock skew) is never the latest.
FUTURE_TOLERANCE = 300
ID_PATTERN = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
DURATION_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
DURATION_UNITS = dict(s=1, m=60, h=3600, d=86400, w=604800)
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


# --- ids and durations -------------------------------------------------------

def new_backup_id(now=None, sequence=0):
    """A sortable UTC id such as 20261126T061500Z (``-2``... on a clash)."""
    now = now or utcnow()
    base = now.strftime(ID_TIME_FORMAT)
    return base if sequence < 2 else "%s-%d" % (base, sequence)


def is_backup_id(name):
    return bool(ID_PATTERN.match(name or ""))


def id_sort_key(backup_id):
    match = ID_PATTERN.match(backup_id)
    if not match:
        raise ParameterError("Invalid backup id %r: expected e.g. 20261126T061500Z" % backup_id)
    return match.group(1), int(match.group(2) or 0)


def id_time(backup_id):
    stamp = id_sort_key(backup_id)[0]
    return datetime.datetime.strptime(stamp, ID_TIME_FORMAT).replace(tzinfo=UTC)


def sort_ids(ids):
    return sorted(ids, key=id_sort_key)


def parse_duration(text, option="keep_within"):
    """Seconds in a duration such as ``7d``, ``12h``, ``30m``, ``2w`` or ``90s``."""
    match = DURATION_PATTERN.match(str(text))
    if not match:
        raise ParameterError(
            "Invalid %s %r: use a number followed by s, m, h, d or w (e.g. 7d)"
            % (option, text)
        )
    return int(match.group(1)) * DURATION_UNITS[match.group(2)]


class _Utc(datetime.tzinfo):
    def utcoffset(self, dt):
        return datetime.timedelta(0)

    def tzname(self, dt):
        return "UTC"

    def dst(self, dt):
        return datetime.timedelta(0)


UTC = _Utc()


def utcnow():
    return datetime.datetime.now(UTC)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- object key encoding -----------------------------------------------------

# Keys become relative paths that any filesystem accepts: segments are
# percent-encoded (``~`` included), empty and dot segments are spelled out,
# and a leaf always ends in ``~`` so ``a`` and ``a/b`` (or ``a~/b``) never
# collide as a file and a directory of the same name. A segment longer than
# a file name may be is cut into pieces, each but the last ending in ``~+``,
# which no encoded segment otherwise contains.
_SAFE = "-_.=+@,"
_LEAF = "~"
_CONTINUED = "~+"
# Bytes of one piece: room for the markers within the 255 of most filesystems.
PIECE_BYTES = 240
# A store may limit the length of a path (S3 keys end at 1,024 bytes, the
# destination's prefix and the set's id included). A key whose encoding is
# longer (a long or non-ASCII artifact name grows up to nine times once
# percent-encoded) is then kept under the sha256 of its name, in a directory
# no encoded segment can spell (``~h``); the manifest entry, which is signed,
# names its bucket and key.
_HASHED = "~h"


def _encode_segment(segment):
    if segment == "":
        return "%"
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    return quote(segment, safe=_SAFE).replace("~", "%7E")


def _pieces(encoded):
    """encoded cut into pieces of at most PIECE_BYTES, never inside a %XX escape."""
    pieces = []
    while len(encoded) > PIECE_BYTES:
        cut = PIECE_BYTES
        escape = encoded.rfind("%", cut - 2, cut)
        if escape != -1:
            cut = escape
        pieces.append(encoded[:cut] + _CONTINUED)
        encoded = encoded[cut:]
    pieces.append(encoded)
    return pieces


def _hashed_path(bucket, key):
    return "objects/%s/%s/%s%s" % (bucket, _HASHED, hashlib.sha256(key.encode("utf-8")).hexdigest(), _LEAF)


def object_path(bucket, key, max_bytes=None):
    """Path of an object in a set, relative to the set, at most max_bytes long when given."""
    encoded = []
    segments = key.split("/")
    for position, segment in enumerate(segments):
        pieces = _pieces(_encode_segment(segment))
        if position == len(segments) - 1:
            pieces[-1] += _LEAF
        encoded.extend(pieces)
    path = "objects/%s/%s" % (bucket, "/".join(encoded))
    return path if max_bytes is None or len(path) <= max_bytes else _hashed_path(bucket, key)


def is_hashed_path(path):
    parts = path.split("/")
    return len(parts) == 4 and parts[0] == "objects" and parts[2] == _HASHED


def entry_key(entry):
    """(bucket, key) of an object entry of a manifest.

    A path named by the sha256 of its key takes the key from the entry, which
    must hash to that path; any other path is decoded (key_from_path).
    """
    path = entry["path"]
    if not is_hashed_path(path):
        return key_from_path(path)
    bucket, key = entry.get("bucket"), entry.get("key")
    if not isinstance(bucket, str) or not isinstance(key, str) or _hashed_path(bucket, key) != path:
        raise BackupError("Invalid object entry %r in manifest: its key does not match its path" % path)
    return bucket, key


def key_from_path(path):
    """Inverse of object_path for a path that encodes its key: (bucket, key)."""
    parts = path.split("/")
    if (len(parts) < 3 or parts[0] != "objects" or not parts[-1].endswith(_LEAF) or parts[-1].endswith(_CONTINUED)
            or is_hashed_path(path)):
        raise BackupError("Invalid object path %r in manifest" % path)
    segments, current = [], ""
    for part in parts[2:-1]:
        if part.endswith(_CONTINUED):
            current += part[:-len(_CONTINUED)]
        else:
            segments.append(current + part)
            current = ""
    segments.append(current + parts[-1][:-len(_LEAF)])
    return parts[1], "/".join("" if s == "%" else unquote(s) for s in segments)


# --- manifest ----------------------------------------------------------------

def _canonical(body):
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def build_manifest(backup_id, started, finished, versions, database, buckets, files, durations,
                   key, stack, encryption=None, skipped=()):
    """The manifest of a complete set, signed with ``key`` (a seal.SetKey).

    ``files`` is a list of dicts with ``path``, ``size`` and ``sha256``
    (objects also carry ``bucket`` and ``key``); ``stack`` is dict(namespace,
    id); ``encryption`` says how the files are encrypted (None: they are not);
    ``skipped`` lists the objects that vanished while the set was written.
    """
    object_files = [f for f in files if f["path"].startswith("objects/")]
    body = dict(
        format=MANIFEST_FORMAT,
        backup_id=backup_id,
        status="complete",
        started=iso(started),
        finished=iso(finished),
        versions=versions,
        database=database,
        buckets=buckets,
        files=sorted(files, key=lambda f: f["path"]),
        skipped=sorted(skipped, key=lambda s: (s["bucket"], s["key"])),
        totals=dict(
            files=len(files),
            bytes=sum(f["size"] for f in files),
            objects=len(object_files),
            object_bytes=sum(f["size"] for f in object_files),
            database_bytes=sum(f["size"] for f in files if f["path"].startswith("database/")),
            skipped_objects=len(skipped),
        ),
        durations=durations,
        stack=dict(namespace=stack.get("namespace"), id=stack.get("id")),
        encryption=encryption,
        key_id=key.key_id,
    )
    body["signature"] = key.sign(_canonical(body))
    return body


def serialize_manifest(manifest):
    return (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode("utf-8")


class UnsignedSet(BackupError):
    """A set with no signature: of 0.1.0, or planted."""


class Trust(object):
    """What a reader accepts: the key to check signatures with, and unsigned sets or not.

    Without a key (backup_info only lists) a signature is read but not checked.
    """

    def __init__(self, key=None, trust_unsigned=False):
        self.key = key
        self.trust_unsigned = trust_unsigned


def parse_manifest(data, backup_id=None, trust=None):
    """Parse and authenticate a manifest; raise BackupError naming what is wrong.

    The signature is checked before anything else of the manifest is read.
    """
    trust = trust or Trust()
    where = "manifest of backup %s" % backup_id if backup_id else "manifest"
    try:
        manifest = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except ValueError as error:
        raise BackupError("%s is not valid JSON (%s)" % (where, error)) from error
    if not isinstance(manifest, dict):
        raise BackupError("%s is not a JSON object" % where)
    _authenticate(manifest, where, trust)
    if backup_id and manifest.get("backup_id") != backup_id:
        raise BackupError("%s names another backup id %r" % (where, manifest.get("backup_id")))
    if manifest.get("status") != "complete":
        raise BackupError("%s has status %r, not complete" % (where, manifest.get("status")))
    _check_files(manifest, where)
    return manifest


def _authenticate(manifest, where, trust):
    """Check a manifest's signature (or, for a trusted unsigned set, its checksum) before reading it."""
    body = dict(manifest)
    if manifest.get("format") == UNSIGNED_FORMAT and "signature" not in manifest:
        checksum = body.pop("checksum", None)
        if checksum != "sha256:" + hashlib.sha256(_canonical(body)).hexdigest():
            raise BackupError("%s does not match its checksum (it was altered)" % where)
        if not trust.trust_unsigned:
            raise UnsignedSet("%s is unsigned (a set of 0.1.0, or planted): refused; set "
                              "trust_unsigned=true only for a set you know is yours" % where)
        return
    signature = body.pop("signature", None)
    if signature is None:
        raise BackupError("%s is not signed: refused" % where)
    if trust.key is not None and not trust.key.signed(_canonical(body), signature):
        raise BackupError("%s does not match its signature: altered, or signed with another key "
                          "(the set names key %s, this key is %s)"
                          % (where, str(manifest.get("key_id"))[:16], trust.key.key_id))
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError("%s has unsupported format %r" % (where, manifest.get("format")))


def _check_files(manifest, where):
    """Every file entry well formed, inside the set, listed once; the dump among them."""
    files = manifest.get("files")
    if not isinstance(files, list):
        raise BackupError("%s lists no files" % where)
    seen = set()
    for entry in files:
        path = entry.get("path") if isinstance(entry, dict) else None
        if (not path or path in seen or path.startswith("/") or ".." in path.split("/")
                or not isinstance(entry.get("size"), int)
                or not SHA256_PATTERN.match(str(entry.get("sha256")))):
            raise BackupError("%s has an invalid file entry %r" % (where, entry))
        if is_hashed_path(path):
            entry_key(entry)
        seen.add(path)
    if manifest.get("database", {}).get("file") not in seen:
        raise BackupError("%s does not list its database dump" % where)


def is_signed(manifest):
    return "signature" in manifest


def stack_of(manifest):
    """dict(namespace, id) of the stack that wrote a set; empty for unsigned sets."""
    stack = manifest.get("stack")
    return stack if isinstance(stack, dict) else {}


def belongs_to(manifest, stack):
    """Whether a set was written by ``stack`` (dict(namespace, id); a None id: any of the namespace)."""
    recorded = stack_of(manifest)
    if recorded.get("namespace") != stack.get("namespace"):
        return False
    return stack.get("id") is None or recorded.get("id") == stack.get("id")


def is_future(backup_id, now=None):
    """Whether a set is dated ahead of now (beyond clock skew)."""
    return (id_time(backup_id) - (now or utcnow())).total_seconds() > FUTURE_TOLERANCE


# --- retention ---------------------------------------------------------------

def select_for_deletion(sets, keep_last=None, keep_within=None, incomplete_grace=None, now=None):
    """Ids retention removes from ``sets`` (a list of (id, complete) pairs).

    A complete set is kept when it is one of the ``keep_last`` newest complete
    sets or younger than ``keep_within`` seconds; with neither limit every
    complete set is kept, and the newest complete set is always kept.
    Incomplete sets never count towards the limits; they are removed only
    when older than ``incomplete_grace`` seconds (a run may still be writing
    a younger one).
    """
    now = now or utcnow()
    complete = sort_ids([i for i, done in sets if done])
    incomplete = sort_ids([i for i, done in sets if not done])
    doomed = []
    if complete and (keep_last is not None or keep_within is not None):
        newest_first = list(reversed(complete))
        for position, backup_id in enumerate(newest_first):
            if position == 0:
                continue
            kept_by_count = keep_last is not None and position < keep_last
            kept_by_age = keep_within is not None and (
                now - id_time(backup_id)).total_seconds() <= keep_within
            if not (kept_by_count or kept_by_age):
                doomed.append(backup_id)
    if incomplete_grace is not None:
        doomed.extend(
            i for i in incomplete if (now - id_time(i)).total_seconds() > incomplete_grace
        )
    return sort_ids(doomed)

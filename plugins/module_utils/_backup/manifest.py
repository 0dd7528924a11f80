# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The format of a backup set: ids, object paths, the manifest and retention.

A set lives under ``<location>/<id>/``: ``database/<name>.dump`` (pg_dump
custom format), ``objects/<bucket>/<encoded key>`` and ``manifest.json``.
The manifest is written last, so a set without one (or whose manifest does
not say ``complete``) is an interrupted run and never counts as a backup.
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
MANIFEST_FORMAT = 1
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
# and a leaf always ends in ``~`` so ``a`` and ``a/b`` never collide as a
# file and a directory of the same name.
_SAFE = "-_.=+@,"


def _encode_segment(segment):
    if segment == "":
        return "%"
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    return quote(segment, safe=_SAFE)


def object_path(bucket, key):
    """Path of an object in a set, relative to the set."""
    segments = key.split("/")
    encoded = [_encode_segment(segment) for segment in segments]
    encoded[-1] += "~"
    return "objects/%s/%s" % (bucket, "/".join(encoded))


def key_from_path(path):
    """Inverse of object_path: (bucket, key)."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "objects" or not parts[-1].endswith("~"):
        raise BackupError("Invalid object path %r in manifest" % path)
    segments = parts[2:]
    segments[-1] = segments[-1][:-1]
    return parts[1], "/".join("" if s == "%" else unquote(s) for s in segments)


# --- manifest ----------------------------------------------------------------

def _canonical(body):
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def build_manifest(backup_id, started, finished, versions, database, buckets, files, durations):
    """The manifest of a complete set, sealed with a checksum of its own body.

    ``files`` is a list of dicts with ``path``, ``size`` and ``sha256``
    (objects also carry ``bucket`` and ``key``).
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
        totals=dict(
            files=len(files),
            bytes=sum(f["size"] for f in files),
            objects=len(object_files),
            object_bytes=sum(f["size"] for f in object_files),
            database_bytes=sum(f["size"] for f in files if f["path"].startswith("database/")),
        ),
        durations=durations,
    )
    body["checksum"] = "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()
    return body


def serialize_manifest(manifest):
    return (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode("utf-8")


def parse_manifest(data, backup_id=None):
    """Parse and verify a manifest; raise BackupError naming what is wrong."""
    where = "manifest of backup %s" % backup_id if backup_id else "manifest"
    try:
        manifest = json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)
    except ValueError as error:
        raise BackupError("%s is not valid JSON (%s)" % (where, error)) from error
    if not isinstance(manifest, dict):
        raise BackupError("%s is not a JSON object" % where)
    body = dict(manifest)
    checksum = body.pop("checksum", None)
    expected = "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()
    if checksum != expected:
        raise BackupError("%s does not match its checksum (it was altered)" % where)
    if manifest.get("format") != MANIFEST_FORMAT:
        raise BackupError("%s has unsupported format %r" % (where, manifest.get("format")))
    if backup_id and manifest.get("backup_id") != backup_id:
        raise BackupError("%s names another backup id %r" % (where, manifest.get("backup_id")))
    if manifest.get("status") != "complete":
        raise BackupError("%s has status %r, not complete" % (where, manifest.get("status")))
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
        seen.add(path)
    if manifest.get("database", {}).get("file") not in seen:
        raise BackupError("%s does not list its database dump" % where)
    return manifest


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

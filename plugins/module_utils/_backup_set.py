# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup sets: ids, manifests, retention and the place they are kept.

A set lives under ``<location>/<id>/``: ``database/<name>.dump`` (pg_dump
custom format), ``objects/<bucket>/<encoded key>`` and ``manifest.json``.
The manifest is written last, so a set without one (or whose manifest does
not say ``complete``) is an interrupted run and never counts as a backup.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import hashlib
import json
import os
import re
import shutil

from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    BackupError,
    ParameterError,
)
from ansible_collections.mlops.stack.plugins.module_utils import s3 as s3_utils

try:
    from urllib.parse import quote, unquote
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urllib import quote, unquote

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
CHUNK_SIZE = 1024 * 1024
ID_PATTERN = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
DURATION_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
DURATION_UNITS = dict(s=1, m=60, h=3600, d=86400, w=604800)
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")


# --- options -----------------------------------------------------------------

def location_argument_spec(prefix):
    """Options naming where sets are kept: a directory or an S3 URL.

    ``prefix`` is ``destination`` for backup and backup_info and ``source``
    for restore. The S3 options default to the module's own S3 connection.
    """
    spec = {prefix: dict(type="str", required=True)}
    for key, value in s3_utils.s3_argument_spec().items():
        value = dict(value)
        value.pop("aliases", None)
        value.pop("fallback", None)
        value.pop("default", None)
        if key in ("access_key", "secret_key"):
            value["no_log"] = key == "secret_key"
        spec["%s_%s" % (prefix, key)] = value
    return spec


def location_connection(params, prefix):
    """The S3 connection of a location, each unset option taken from the module's."""
    own = s3_utils.s3_connection(params, prefix + "_")
    fallback = s3_utils.s3_connection(params)
    return dict(
        (key, own[key] if own[key] is not None else fallback.get(key)) for key in own
    )


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


# --- hashing -----------------------------------------------------------------

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
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


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
        raise BackupError("%s is not valid JSON (%s)" % (where, error))
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


# --- where sets are kept -----------------------------------------------------

def parse_location(text, option="destination"):
    """('s3', bucket, prefix) for s3://bucket/prefix, else ('dir', path, None)."""
    if not text or not str(text).strip():
        raise ParameterError("Invalid %s: it must be an s3:// URL or a directory" % option)
    text = str(text).strip()
    if "://" in text:
        scheme, rest = text.split("://", 1)
        if scheme.lower() != "s3":
            raise ParameterError(
                "Invalid %s %r: only s3:// URLs and directories are supported" % (option, text)
            )
        bucket, _sep, prefix = rest.partition("/")
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
            raise ParameterError("Invalid %s %r: %r is not a valid bucket name" % (option, text, bucket))
        prefix = "/".join(p for p in prefix.split("/") if p)
        return "s3", bucket, prefix
    if not os.path.isabs(text):
        raise ParameterError("Invalid %s %r: a directory must be an absolute path" % (option, text))
    return "dir", os.path.normpath(text), None


def open_store(location, connection=None, option="destination", client_factory=None):
    kind, where, prefix = parse_location(location, option)
    if kind == "dir":
        return DirectoryStore(where)
    client = (client_factory or s3_utils.s3_client)(connection or {})
    return S3Store(client, where, prefix, connection or {})


class DirectoryStore(object):
    """Sets kept as directories under a local (or mounted) path."""

    kind = "dir"

    def __init__(self, root):
        self.root = root
        self.url = root

    def _path(self, backup_id, relative=""):
        return os.path.join(self.root, backup_id, *relative.split("/")) if relative else \
            os.path.join(self.root, backup_id)

    def location_of(self, backup_id):
        return self._path(backup_id)

    def check_reachable(self, create=False):
        if os.path.isdir(self.root):
            if create and not os.access(self.root, os.W_OK):
                raise BackupError("directory %s is not writable" % self.root)
            return True
        if os.path.exists(self.root):
            raise BackupError("%s exists and is not a directory" % self.root)
        return False

    def ensure(self):
        try:
            os.makedirs(self.root)
        except OSError as error:
            if error.errno != errno.EEXIST:
                raise BackupError("cannot create directory %s: %s" % (self.root, error.strerror))
        self.check_reachable(create=True)

    def list_ids(self):
        if not os.path.isdir(self.root):
            return []
        return sort_ids(n for n in os.listdir(self.root)
                        if is_backup_id(n) and os.path.isdir(self._path(n)))

    def claim(self, backup_id):
        """Create the set's directory; False when another run holds that id."""
        try:
            os.mkdir(self._path(backup_id))
            return True
        except OSError as error:
            if error.errno == errno.EEXIST:
                return False
            raise BackupError("cannot create %s: %s" % (self._path(backup_id), error.strerror))

    def write_stream(self, backup_id, relative, stream):
        """Write stream to the set; return (size, sha256) of what was written."""
        path = self._path(backup_id, relative)
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            try:
                os.makedirs(parent)
            except OSError as error:
                if error.errno != errno.EEXIST:
                    raise
        reader = HashingReader(stream)
        with open(path, "wb") as handle:
            while True:
                chunk = reader.read(CHUNK_SIZE)
                if not chunk:
                    break
                handle.write(chunk)
        return reader.size, reader.hexdigest()

    def write_bytes(self, backup_id, relative, data):
        path = self._path(backup_id, relative)
        temporary = path + ".partial"
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # A reader sees either no manifest or the whole of it.
        os.rename(temporary, path)

    def open_read(self, backup_id, relative):
        try:
            return open(self._path(backup_id, relative), "rb")
        except (IOError, OSError) as error:
            raise BackupError("cannot read %s of backup %s: %s"
                              % (relative, backup_id, error.strerror))

    def local_path(self, backup_id, relative):
        return self._path(backup_id, relative)

    def read_bytes(self, backup_id, relative):
        """The file's content, or None when it does not exist."""
        path = self._path(backup_id, relative)
        if not os.path.exists(path):
            return None
        with open(path, "rb") as handle:
            return handle.read()

    def delete_set(self, backup_id):
        # The manifest goes first: a half-deleted set then reads as incomplete.
        manifest = self._path(backup_id, MANIFEST)
        if os.path.exists(manifest):
            os.unlink(manifest)
        shutil.rmtree(self._path(backup_id), ignore_errors=True)


class S3Store(object):
    """Sets kept under s3://bucket/prefix on any S3 endpoint."""

    kind = "s3"

    def __init__(self, client, bucket, prefix, connection):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.connection = connection
        self.url = "s3://%s/%s" % (bucket, prefix) if prefix else "s3://%s" % bucket

    def key(self, backup_id, relative=""):
        parts = [p for p in (self.prefix, backup_id, relative) if p]
        return "/".join(parts)

    def location_of(self, backup_id):
        return "s3://%s/%s" % (self.bucket, self.key(backup_id))

    def _fail(self, what, error):
        return BackupError("%s %s: %s" % (what, self.url, s3_utils.describe_client_error(error)))

    def check_reachable(self, create=False):
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return True
        except Exception as error:  # pylint: disable=broad-except
            if s3_utils.error_code(error) in ("404", "NoSuchBucket", "NotFound"):
                return False
            if s3_utils.is_s3_error(error):
                raise self._fail("cannot reach", error)
            raise

    def ensure(self):
        if not self.check_reachable():
            raise BackupError("bucket %s of %s does not exist" % (self.bucket, self.url))

    def list_ids(self):
        prefix = self.key("") + "/" if self.prefix else ""
        ids = set()
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                for common in page.get("CommonPrefixes", []):
                    name = common["Prefix"][len(prefix):].rstrip("/")
                    if is_backup_id(name):
                        ids.add(name)
        except Exception as error:  # pylint: disable=broad-except
            if s3_utils.is_s3_error(error):
                if s3_utils.error_code(error) == "NoSuchBucket":
                    return []
                raise self._fail("cannot list", error)
            raise
        return sort_ids(ids)

    def claim(self, backup_id):
        """Reserve the id with a conditional put; False when it is taken."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(backup_id, ".claim"),
                                   Body=b"", IfNoneMatch="*")
            return True
        except Exception as error:  # pylint: disable=broad-except
            code = s3_utils.error_code(error)
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            if code == "NotImplemented":
                # Endpoints without conditional writes: ids stay unique unless
                # two runs start within the same second.
                if self.read_bytes(backup_id, ".claim") is not None:
                    return False
                self.write_bytes(backup_id, ".claim", b"")
                return True
            if s3_utils.is_s3_error(error):
                raise self._fail("cannot write to", error)
            raise

    def write_stream(self, backup_id, relative, stream, transfer_config=None):
        reader = HashingReader(stream)
        try:
            # upload_fileobj switches to multipart past the threshold and
            # never holds more than a few parts of the stream in memory.
            self.client.upload_fileobj(reader, self.bucket, self.key(backup_id, relative),
                                       Config=transfer_config)
        except Exception as error:  # pylint: disable=broad-except
            if s3_utils.is_s3_error(error):
                raise self._fail("cannot write %s to" % relative, error)
            raise
        return reader.size, reader.hexdigest()

    def write_bytes(self, backup_id, relative, data):
        try:
            self.client.put_object(Bucket=self.bucket, Key=self.key(backup_id, relative), Body=data)
        except Exception as error:  # pylint: disable=broad-except
            if s3_utils.is_s3_error(error):
                raise self._fail("cannot write %s to" % relative, error)
            raise

    def open_read(self, backup_id, relative):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(backup_id, relative))["Body"]
        except Exception as error:  # pylint: disable=broad-except
            if s3_utils.is_s3_error(error):
                raise BackupError("cannot read %s of backup %s: %s" % (
                    relative, backup_id, s3_utils.describe_client_error(error)))
            raise

    def local_path(self, backup_id, relative):
        return None

    def read_bytes(self, backup_id, relative):
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(backup_id, relative))["Body"]
            return body.read()
        except Exception as error:  # pylint: disable=broad-except
            if s3_utils.error_code(error) in ("NoSuchKey", "404"):
                return None
            if s3_utils.is_s3_error(error):
                raise self._fail("cannot read", error)
            raise

    def delete_set(self, backup_id):
        self.client.delete_object(Bucket=self.bucket, Key=self.key(backup_id, MANIFEST))
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(backup_id) + "/"):
            keys = [dict(Key=item["Key"]) for item in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete=dict(Objects=keys, Quiet=True))


# --- reading sets ------------------------------------------------------------

def describe_set(store, backup_id):
    """What backup_info reports of one set; never raises for a damaged set."""
    info = dict(id=backup_id, location=store.location_of(backup_id),
                time=iso(id_time(backup_id)), status="incomplete")
    data = store.read_bytes(backup_id, MANIFEST)
    if data is None:
        info["reason"] = "no manifest (interrupted or still running)"
        return info, None
    try:
        manifest = parse_manifest(data, backup_id)
    except BackupError as error:
        info.update(status="invalid", reason=error.message)
        return info, None
    totals = manifest["totals"]
    info.update(
        status="complete", started=manifest["started"], finished=manifest["finished"],
        database=manifest["database"].get("name"),
        database_bytes=totals["database_bytes"], objects=totals["objects"],
        object_bytes=totals["object_bytes"], total_bytes=totals["bytes"],
        buckets=[b["name"] for b in manifest.get("buckets", [])],
        versions=manifest.get("versions", {}), durations=manifest.get("durations", {}),
    )
    return info, manifest


def list_sets(store):
    return [describe_set(store, backup_id) for backup_id in store.list_ids()]


def resolve_set(store, wanted):
    """(id, manifest) of ``wanted`` (an id or ``latest``), verified."""
    if wanted == "latest":
        described = list_sets(store)
        complete = [(info, m) for info, m in described if info["status"] == "complete"]
        if not complete:
            raise BackupError("no complete backup set at %s" % store.url)
        info, manifest = complete[-1]
        return info["id"], manifest
    id_sort_key(wanted)
    if wanted not in store.list_ids():
        raise BackupError("backup %s does not exist at %s" % (wanted, store.url))
    data = store.read_bytes(wanted, MANIFEST)
    if data is None:
        raise BackupError("backup %s is incomplete (no manifest)" % wanted)
    return wanted, parse_manifest(data, wanted)


def verify_files(store, backup_id, files, workers=4):
    """Check size and sha256 of every file; return the list of problems."""
    from concurrent.futures import ThreadPoolExecutor

    def check(entry):
        stream = store.open_read(backup_id, entry["path"])
        try:
            size, digest = hash_stream(stream)
        finally:
            stream.close()
        if size != entry["size"]:
            return "%s has %d bytes, manifest says %d" % (entry["path"], size, entry["size"])
        if digest != entry["sha256"]:
            return "%s does not match its sha256" % entry["path"]
        return None

    problems = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for problem in pool.map(_catching(check), files):
            if problem:
                problems.append(problem)
    return problems


def _catching(function):
    def wrapper(entry):
        try:
            return function(entry)
        except BackupError as error:
            return error.message
    return wrapper

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where backup sets are kept: a directory or s3://bucket/prefix, and reading sets back.

Both stores offer the same small interface (claim, write_stream, write_bytes,
open_read, read_bytes, list_ids, delete_set), so backup, restore and
backup_info never care where a set lives. Every S3 call runs under the
collection's S3 error handling (s3.s3_errors).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mlops.stack.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup.manifest import (
    MANIFEST,
    Trust,
    UnsignedSet,
    belongs_to,
    id_sort_key,
    id_time,
    is_backup_id,
    is_future,
    is_signed,
    iso,
    object_path,
    parse_manifest,
    sort_ids,
    stack_of,
)
from ansible_collections.mlops.stack.plugins.module_utils._backup.streams import (
    HashingReader,
    hash_stream,
    read_chunks,
)
from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    BackupError,
    ParameterError,
    S3Error,
    StackError,
)

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# The longest an S3 key may be, and the longest set id (manifest.new_backup_id).
S3_KEY_BYTES = 1024
LONGEST_ID = "20261126T061500Z-99"
# Answers of a conditional put whose key another run already wrote.
_CLAIMED = ("PreconditionFailed", "412", "ConditionalRequestConflict")


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
        if not BUCKET_NAME.match(bucket):
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


# Sets hold the database and every artifact: readable by their owner only.
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def _make_private_directories(path):
    """os.makedirs, every directory it creates 0700 (makedirs gives the mode to the last only)."""
    if os.path.isdir(path):
        return
    _make_private_directories(os.path.dirname(path))
    try:
        os.mkdir(path, DIRECTORY_MODE)
    except OSError as error:
        if error.errno != errno.EEXIST:
            raise


def _fsync_directory(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class DirectoryStore(object):
    """Sets kept as directories under a local (or mounted) path, 0700 and 0600."""

    kind = "dir"
    encrypted = False

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
            os.makedirs(self.root, DIRECTORY_MODE)
        except OSError as error:
            if error.errno != errno.EEXIST:
                raise BackupError("cannot create directory %s: %s" % (self.root, error.strerror)) from error
        self.check_reachable(create=True)

    def list_ids(self):
        if not os.path.isdir(self.root):
            return []
        return sort_ids(n for n in os.listdir(self.root)
                        if is_backup_id(n) and os.path.isdir(self._path(n)))

    def claim(self, backup_id):
        """Create the set's directory; False when another run holds that id."""
        try:
            os.mkdir(self._path(backup_id), DIRECTORY_MODE)
            return True
        except OSError as error:
            if error.errno == errno.EEXIST:
                return False
            raise BackupError("cannot create %s: %s" % (self._path(backup_id), error.strerror)) from error

    def write_stream(self, backup_id, relative, stream, transfer_config=None):
        """Write stream to the set; return (size, sha256) of what was written."""
        path = self._path(backup_id, relative)
        _make_private_directories(os.path.dirname(path))
        reader = HashingReader(stream)
        with self._create(path) as handle:
            for chunk in read_chunks(reader):
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        return reader.size, reader.hexdigest()

    @staticmethod
    def _create(path):
        return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb")

    def sync(self, backup_id):
        """Flush the set's directories to disk: its files were flushed as written."""
        for directory, _subdirectories, _files in os.walk(self._path(backup_id), topdown=False):
            _fsync_directory(directory)

    def write_bytes(self, backup_id, relative, data):
        path = self._path(backup_id, relative)
        temporary = path + ".partial"
        with self._create(temporary) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # A reader sees either no manifest or the whole of it.
        os.rename(temporary, path)
        _fsync_directory(os.path.dirname(path))

    def open_read(self, backup_id, relative):
        try:
            return open(self._path(backup_id, relative), "rb")
        except (IOError, OSError) as error:
            raise BackupError(error.strerror, action="read %s of backup %s" % (relative, backup_id)) from error

    def local_path(self, backup_id, relative):
        return self._path(backup_id, relative)

    @staticmethod
    def object_path(bucket, key):
        """Where a set keeps an object: its key encoded, segments cut to fit file names."""
        return object_path(bucket, key)

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
    encrypted = False

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

    def check_reachable(self, create=False):
        return s3_utils.s3_call("reach %s" % self.url, self.client.head_bucket, missing=False,
                                Bucket=self.bucket) is not False

    def ensure(self):
        if not self.check_reachable():
            raise BackupError("bucket %s of %s does not exist" % (self.bucket, self.url))

    def list_ids(self):
        prefix = self.key("") + "/" if self.prefix else ""
        ids = set()
        try:
            with s3_utils.s3_errors("list %s" % self.url):
                paginator = self.client.get_paginator("list_objects_v2")
                for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
                    for common in page.get("CommonPrefixes", []):
                        name = common["Prefix"][len(prefix):].rstrip("/")
                        if is_backup_id(name):
                            ids.add(name)
        except S3Error as error:
            if not s3_utils.is_not_found(error):
                raise
            return []
        return sort_ids(ids)

    def claim(self, backup_id):
        """Reserve the id with a conditional put; False when it is taken."""
        try:
            with s3_utils.s3_errors("write to %s" % self.url):
                self.client.put_object(Bucket=self.bucket, Key=self.key(backup_id, ".claim"),
                                       Body=b"", IfNoneMatch="*")
            return True
        except S3Error as error:
            if error.code in _CLAIMED:
                return False
            if error.code != "NotImplemented":
                raise
        # Endpoints without conditional writes: ids stay unique unless two
        # runs start within the same second.
        if self.read_bytes(backup_id, ".claim") is not None:
            return False
        self.write_bytes(backup_id, ".claim", b"")
        return True

    def write_stream(self, backup_id, relative, stream, transfer_config=None):
        """Write stream to the set; return (size, sha256) of what was written."""
        reader = HashingReader(stream)
        with s3_utils.s3_errors("write %s to %s" % (relative, self.url)):
            # upload_fileobj switches to multipart past the threshold and
            # never holds more than a few parts of the stream in memory.
            self.client.upload_fileobj(reader, self.bucket, self.key(backup_id, relative),
                                       Config=transfer_config)
        return reader.size, reader.hexdigest()

    def sync(self, backup_id):
        """An object is durable once its PUT is answered."""

    def write_bytes(self, backup_id, relative, data):
        s3_utils.s3_call("write %s to %s" % (relative, self.url), self.client.put_object,
                         Bucket=self.bucket, Key=self.key(backup_id, relative), Body=data)

    def open_read(self, backup_id, relative):
        return s3_utils.s3_call("read %s of backup %s" % (relative, backup_id), self.client.get_object,
                                Bucket=self.bucket, Key=self.key(backup_id, relative))["Body"]

    def local_path(self, backup_id, relative):
        return None

    def object_path(self, bucket, key):
        """Where a set keeps an object: its key encoded while the whole S3 key fits in 1,024 bytes."""
        room = S3_KEY_BYTES - len(self.key(LONGEST_ID, "x").encode("utf-8")) + 1
        return object_path(bucket, key, max_bytes=room)

    def read_bytes(self, backup_id, relative):
        """The file's content, or None when it does not exist."""
        action = "read %s of backup %s" % (relative, backup_id)
        with s3_utils.s3_errors(action):
            answer = s3_utils.s3_call(action, self.client.get_object, missing=None,
                                      Bucket=self.bucket, Key=self.key(backup_id, relative))
            return None if answer is None else answer["Body"].read()

    def delete_set(self, backup_id):
        with s3_utils.s3_errors("delete backup %s from %s" % (backup_id, self.url)):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(backup_id, MANIFEST))
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.key(backup_id) + "/"):
                keys = [dict(Key=item["Key"]) for item in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete=dict(Objects=keys, Quiet=True))


# --- reading sets ------------------------------------------------------------

class Selection(object):
    """Which sets a reader trusts (manifest.Trust) and considers its own.

    ``stack`` is dict(namespace, id) (a None id: any set of the namespace);
    None considers the sets of every stack.
    """

    def __init__(self, trust=None, stack=None, now=None):
        self.trust = trust or Trust()
        self.stack = stack
        self.now = now

    def mine(self, manifest):
        return self.stack is None or belongs_to(manifest, self.stack)


def describe_set(store, backup_id, selection=None):
    """What backup_info reports of one set, and its manifest when it is this stack's and trusted.

    Never raises for a damaged set. Its status is one of ``complete``,
    ``incomplete`` (no manifest), ``invalid`` (altered, wrongly signed or
    malformed), ``unsigned`` (no signature), ``foreign`` (another stack's)
    or ``future`` (dated ahead of now: never the latest).
    """
    selection = selection or Selection()
    info = dict(id=backup_id, location=store.location_of(backup_id),
                time=iso(id_time(backup_id)), status="incomplete")
    data = store.read_bytes(backup_id, MANIFEST)
    if data is None:
        info["reason"] = "no manifest (interrupted or still running)"
        return info, None
    try:
        manifest = parse_manifest(data, backup_id, selection.trust)
    except UnsignedSet as error:
        info.update(status="unsigned", reason=error.reason)
        return info, None
    except BackupError as error:
        info.update(status="invalid", reason=error.reason)
        return info, None
    totals = manifest["totals"]
    info.update(
        status="complete", started=manifest["started"], finished=manifest["finished"],
        database=manifest["database"].get("name"),
        database_bytes=totals["database_bytes"], objects=totals["objects"],
        object_bytes=totals["object_bytes"], total_bytes=totals["bytes"],
        skipped_objects=totals.get("skipped_objects", 0),
        buckets=[b["name"] for b in manifest.get("buckets", [])],
        versions=manifest.get("versions", {}), durations=manifest.get("durations", {}),
        stack=stack_of(manifest), encrypted=bool(manifest.get("encryption")),
        signature=("unchecked" if selection.trust.key is None else "valid") if is_signed(manifest) else "none",
    )
    if is_signed(manifest) and not selection.mine(manifest):
        info.update(status="foreign", reason="written by stack %s" % _stack_name(stack_of(manifest)))
        return info, None
    if is_future(backup_id, selection.now):
        info.update(status="future", reason="dated in the future: never the latest, never pruned")
    return info, manifest


def _stack_name(stack):
    return "%s/%s" % (stack.get("namespace") or "?", stack.get("id") or "?")


def list_sets(store, selection=None):
    return [describe_set(store, backup_id, selection) for backup_id in store.list_ids()]


def latest_of(described):
    """The newest complete, signed set of a list_sets answer: (info, manifest) or None."""
    candidates = [(info, m) for info, m in described if info["status"] == "complete" and is_signed(m)]
    return candidates[-1] if candidates else None


def resolve_set(store, wanted, selection=None):
    """(id, manifest) of ``wanted`` (an id or ``latest``), authenticated.

    ``latest`` is the newest complete, signed set of this stack not dated in
    the future; a set named by id must pass the same checks but the date.
    """
    selection = selection or Selection()
    if wanted == "latest":
        described = list_sets(store, selection)
        newest = latest_of(described)
        if newest is None:
            refused = [info for info, _m in described if info["status"] in ("invalid", "unsigned")]
            raise BackupError("no complete backup set of this stack at %s%s" % (store.url, (
                " (%d set(s) refused, e.g. %s: %s)" % (len(refused), refused[-1]["id"], refused[-1]["reason"])
                if refused else "")))
        return newest[0]["id"], newest[1]
    id_sort_key(wanted)
    if wanted not in store.list_ids():
        raise BackupError("backup %s does not exist at %s" % (wanted, store.url))
    data = store.read_bytes(wanted, MANIFEST)
    if data is None:
        raise BackupError("backup %s is incomplete (no manifest)" % wanted)
    manifest = parse_manifest(data, wanted, selection.trust)
    if is_signed(manifest) and not selection.mine(manifest):
        raise BackupError("backup %s was written by stack %s, not this one (set all_stacks=true to restore it)"
                          % (wanted, _stack_name(stack_of(manifest))))
    return wanted, manifest


def verify_files(store, backup_id, files, workers=4):
    """Check size and sha256 of every file; return the list of problems."""
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
        except StackError as error:
            return "%s: %s" % (entry["path"], error.reason)
    return wrapper

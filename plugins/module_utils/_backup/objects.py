# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy artifact buckets into a backup set and back, with sha256 per object.

When the set lives on the same endpoint (and account) as the buckets the
copy is server-side: the server computes the copy's sha256 (CopyObject with
ChecksumAlgorithm=SHA256), and only an endpoint that cannot has the copy
read back and hashed here. Otherwise objects stream through the controller in
parallel, hashed on the way, without ever being held whole in memory.

A restore from a directory sends each object with its manifest sha256 in the
signed x-amz-checksum-sha256 header: the server refuses a body that does not
match, so the object is checked as it is written without hashing it twice here.
An endpoint that does not confirm the checksum in its answer has the object read
back and hashed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mlops.stack.plugins.module_utils._backup.manifest import entry_key
from ansible_collections.mlops.stack.plugins.module_utils._backup.streams import HashingReader, hash_stream
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3 import s3_call, s3_errors

try:
    from boto3.s3.transfer import TransferConfig
except ImportError:  # pragma: no cover - reported by the module
    TransferConfig = None

MB = 1024 * 1024
# Largest object a single CopyObject or PutObject may carry.
MAX_COPY_OBJECT = 5 * 1024 * MB
# Codes of a body refused for not matching its checksum header.
CHECKSUM_MISMATCH = ("XAmzContentChecksumMismatch", "BadDigest", "InvalidDigest")
# The code of an object deleted between the listing and its copy (MLflow's gc does that).
VANISHED = "NoSuchKey"
DELETE_BATCH = 1000


def transfer_config(multipart_threshold_mb=64, multipart_chunk_mb=16):
    # Each transfer holds at most max_concurrency chunks of a stream.
    return TransferConfig(multipart_threshold=multipart_threshold_mb * MB,
                          multipart_chunksize=multipart_chunk_mb * MB,
                          max_concurrency=2, use_threads=True)


def checksum_header(hex_digest):
    """The base64 value of an x-amz-checksum-sha256 header for a hex sha256."""
    return base64.b64encode(binascii.unhexlify(hex_digest)).decode("ascii")


def hex_from_checksum(value):
    """Hex sha256 of a full-object ChecksumSHA256, or None (absent or composite)."""
    if not value or "-" in value:
        return None
    try:
        raw = base64.b64decode(value)
    except (TypeError, ValueError, binascii.Error):
        return None
    return binascii.hexlify(raw).decode("ascii") if len(raw) == 32 else None


def _unsigned_when_checksummed(request, **kwargs):
    """Skip hashing the body for the signature when the server checks a sha256.

    Over http botocore hashes every body to sign it. A request that carries
    x-amz-checksum-sha256 (itself a signed header) is checked by the server
    against that value, which protects the body as payload signing would.
    """
    if "x-amz-checksum-sha256" in request.headers:
        config = request.context.get("client_config")
        if config is not None:
            s3_config = dict(getattr(config, "s3", None) or {}, payload_signing_enabled=False)
            request.context["client_config"] = config.merge(type(config)(s3=s3_config))


def sign_checksummed_bodies_once(client):
    """Register _unsigned_when_checksummed on a client (idempotent)."""
    client.meta.events.register("before-sign.s3", _unsigned_when_checksummed,
                                unique_id="mlops-stack-unsigned-when-checksummed")
    return client


def same_account(first, second):
    """True when two S3 connections reach the same endpoint as the same user."""
    def normal(url):
        return (url or "").rstrip("/").lower()
    return (normal(first.get("endpoint_url")) == normal(second.get("endpoint_url"))
            and (first.get("access_key") or "") == (second.get("access_key") or ""))


def bucket_exists(client, bucket):
    return s3_call("read bucket %s" % bucket, client.head_bucket, missing=None, Bucket=bucket) is not None


def list_objects(client, bucket):
    """Every object of bucket as dicts with Key and Size."""
    objects = []
    with s3_errors("list bucket %s" % bucket):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            objects.extend(dict(Key=o["Key"], Size=o["Size"]) for o in page.get("Contents", []))
    return objects


def bucket_holds_data(client, bucket):
    page = s3_call("list bucket %s" % bucket, client.list_objects_v2, missing=None, Bucket=bucket, MaxKeys=1)
    return bool(page) and page.get("KeyCount", 0) > 0


def list_buckets(client, buckets):
    """[(bucket, objects)] of buckets, each of which must exist."""
    listing = []
    for bucket in buckets:
        if not bucket_exists(client, bucket):
            raise BackupError("artifact bucket %s does not exist" % bucket)
        listing.append((bucket, list_objects(client, bucket)))
    return listing


def _run_parallel(function, items, workers):
    """Apply function to items on a thread pool; the first error wins."""
    results = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = [pool.submit(function, item) for item in items]
        try:
            for future in futures:
                results.append(future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results


def backup_objects(source_client, buckets, store, backup_id, server_side, workers, config, listing=None,
                   reader=None):
    """Copy every object of buckets into the set; return (files, bucket summaries, skipped).

    ``listing`` is the [(bucket, objects)] the caller already listed, if any;
    ``reader`` an object_reader.ObjectReader that objects streamed through the
    controller are read with (None: botocore's get_object).
    An object deleted after the listing is not an error: it is left out and
    named in ``skipped`` (dicts of bucket and key).
    """
    if listing is None:
        listing = list_buckets(source_client, buckets)
    tasks = []
    for bucket, objects in listing:
        tasks.extend((bucket, o) for o in objects)
    # Big objects first: the pool does not end waiting on one late big transfer.
    tasks.sort(key=lambda task: -task[1]["Size"])

    def copy_one(task):
        bucket, obj = task
        path = store.object_path(bucket, obj["Key"])
        try:
            with s3_errors("copy s3://%s/%s" % (bucket, obj["Key"])):
                if server_side:
                    size, digest = _copy_and_hash(source_client, bucket, obj, store, backup_id, path, config)
                elif reader is not None:
                    with reader.open(bucket, obj["Key"]) as body:
                        size, digest = store.write_stream(backup_id, path, body, transfer_config=config)
                else:
                    body = source_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
                    try:
                        size, digest = store.write_stream(backup_id, path, body, transfer_config=config)
                    finally:
                        body.close()
        except S3Error as error:
            if error.code == VANISHED:
                return dict(bucket=bucket, key=obj["Key"], vanished=True)
            raise
        if size != obj["Size"]:
            raise BackupError("s3://%s/%s changed while it was copied (%d bytes, listed %d)"
                              % (bucket, obj["Key"], size, obj["Size"]))
        return dict(path=path, size=size, sha256=digest, bucket=bucket, key=obj["Key"])

    copied = _run_parallel(copy_one, tasks, workers)
    files = sorted((f for f in copied if not f.get("vanished")), key=lambda f: f["path"])
    skipped = [dict(bucket=f["bucket"], key=f["key"]) for f in copied if f.get("vanished")]
    summaries = []
    for bucket, _objects in listing:
        held = [f for f in files if f["bucket"] == bucket]
        summaries.append(dict(name=bucket, objects=len(held), bytes=sum(f["size"] for f in held)))
    return files, summaries, skipped


def _copied(client, bucket, key, response=None):
    """(size, hex sha256 the server computed or None) of a copy just written."""
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    digest = hex_from_checksum(((response or {}).get("CopyObjectResult") or {}).get("ChecksumSHA256"))
    return head["ContentLength"], digest or hex_from_checksum(head.get("ChecksumSHA256"))


def _hash_object(client, bucket, key):
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        return hash_stream(body)
    finally:
        body.close()


def _copy_and_hash(source_client, bucket, obj, store, backup_id, path, config):
    """Server-side copy into the set; (size, sha256) of what the set holds."""
    destination_key = store.key(backup_id, path)
    if obj["Size"] < MAX_COPY_OBJECT:
        response = source_client.copy_object(
            CopySource=dict(Bucket=bucket, Key=obj["Key"]), Bucket=store.bucket,
            Key=destination_key, ChecksumAlgorithm="SHA256")
        size, digest = _copied(store.client, store.bucket, destination_key, response)
        if digest is not None:
            return size, digest
    else:
        source_client.copy(dict(Bucket=bucket, Key=obj["Key"]), store.bucket, destination_key, Config=config)
    # The endpoint computed no full-object sha256: hash the copy the set holds.
    return _hash_object(store.client, store.bucket, destination_key)


def restore_objects(store, backup_id, entries, target_client, bucket_map, server_side, workers, config):
    """Copy the set's objects into their (mapped) buckets, checking each sha256.

    Server-side copies are checked against the sha256 the server computes for
    the copy; objects sent from a directory carry their manifest sha256, which
    the server checks before it stores them; objects streamed from another
    endpoint are hashed on the way.
    """
    sign_checksummed_bodies_once(target_client)
    # Big objects first: the pool does not end waiting on one late big transfer.
    ordered = sorted(entries, key=lambda entry: -entry["size"])

    def restore_one(entry):
        bucket, key = entry_key(entry)
        target = bucket_map.get(bucket, bucket)
        try:
            with s3_errors("restore s3://%s/%s" % (target, key)):
                if server_side:
                    _restore_copy(store, backup_id, entry, target_client, target, key, config)
                elif store.local_path(backup_id, entry["path"]) is not None and entry["size"] < MAX_COPY_OBJECT:
                    _restore_put(store, backup_id, entry, target_client, target, key)
                else:
                    _restore_stream(store, backup_id, entry, target_client, target, key, config)
        except S3Error as error:
            if error.code in CHECKSUM_MISMATCH:
                raise _changed(entry) from error
            raise
        return target, key

    return _run_parallel(restore_one, ordered, workers)


def _changed(entry):
    return BackupError("%s changed while it was restored (sha256 mismatch)" % entry["path"])


def _restore_put(store, backup_id, entry, target_client, target, key):
    """One streamed PUT from the set's file, checked whole by the server.

    botocore seeks back on a retry; no part is hashed here to sign it.
    """
    header = checksum_header(entry["sha256"])
    stream = store.open_read(backup_id, entry["path"])
    try:
        response = target_client.put_object(Bucket=target, Key=key, Body=stream, ChecksumSHA256=header)
    finally:
        stream.close()
    # An endpoint that did not confirm it checked the sha256: check what it stored.
    if response.get("ChecksumSHA256") != header:
        if _hash_object(target_client, target, key) != (entry["size"], entry["sha256"]):
            raise _changed(entry)


def _restore_stream(store, backup_id, entry, target_client, target, key, config):
    """Stream an object of the set to the target, hashing it on the way."""
    stream = store.open_read(backup_id, entry["path"])
    reader = HashingReader(stream)
    try:
        target_client.upload_fileobj(reader, target, key, Config=config)
    finally:
        stream.close()
    if reader.size != entry["size"] or reader.hexdigest() != entry["sha256"]:
        raise _changed(entry)


def _restore_copy(store, backup_id, entry, target_client, target, key, config):
    """Server-side copy of a set's object, checked against the manifest."""
    source = dict(Bucket=store.bucket, Key=store.key(backup_id, entry["path"]))
    response = None
    if entry["size"] < MAX_COPY_OBJECT:
        response = target_client.copy_object(CopySource=source, Bucket=target, Key=key,
                                             ChecksumAlgorithm="SHA256")
    else:
        target_client.copy(source, target, key, Config=config)
    size, digest = _copied(target_client, target, key, response)
    if size != entry["size"]:
        raise BackupError("s3://%s/%s has %d bytes after the copy, the set %d"
                          % (target, key, size, entry["size"]))
    if digest is not None and digest != entry["sha256"]:
        raise _changed(entry)


def delete_extra_objects(client, bucket, keep_keys):
    """Delete the objects of bucket not in keep_keys; return how many went."""
    extra = [o["Key"] for o in list_objects(client, bucket) if o["Key"] not in keep_keys]
    with s3_errors("delete extra objects of %s" % bucket):
        for start in range(0, len(extra), DELETE_BATCH):
            batch = [dict(Key=k) for k in extra[start:start + DELETE_BATCH]]
            client.delete_objects(Bucket=bucket, Delete=dict(Objects=batch, Quiet=True))
    return len(extra)


def create_bucket(client, bucket):
    try:
        s3_call("create bucket %s" % bucket, client.create_bucket, Bucket=bucket)
    except S3Error as error:
        if error.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Copy artifact buckets into a backup set and back, with sha256 per object.

When the set lives on the same endpoint (and account) as the buckets the
copy is server-side, and the copy is then read back to hash what the set
really holds. Otherwise objects stream through the controller in parallel,
hashed on the way, without ever being held whole in memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError
from ansible_collections.mlops.stack.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup_set import (
    HashingReader,
    hash_stream,
    key_from_path,
    object_path,
)

try:
    from boto3.s3.transfer import TransferConfig
except ImportError:  # pragma: no cover - reported by the module
    TransferConfig = None

MB = 1024 * 1024


def transfer_config(multipart_threshold_mb=64, multipart_chunk_mb=16):
    # Each transfer holds at most max_concurrency chunks of a stream.
    return TransferConfig(multipart_threshold=multipart_threshold_mb * MB,
                          multipart_chunksize=multipart_chunk_mb * MB,
                          max_concurrency=2, use_threads=True)


def same_account(first, second):
    """True when two S3 connections reach the same endpoint as the same user."""
    def normal(url):
        return (url or "").rstrip("/").lower()
    return (normal(first.get("endpoint_url")) == normal(second.get("endpoint_url"))
            and (first.get("access_key") or "") == (second.get("access_key") or ""))


def _s3_failure(what, error):
    if s3_utils.is_s3_error(error):
        return BackupError("%s: %s" % (what, s3_utils.describe_client_error(error)))
    return None


def bucket_exists(client, bucket):
    try:
        client.head_bucket(Bucket=bucket)
        return True
    except Exception as error:  # pylint: disable=broad-except
        if s3_utils.error_code(error) in ("404", "NoSuchBucket", "NotFound"):
            return False
        failure = _s3_failure("cannot reach bucket %s" % bucket, error)
        if failure:
            raise failure
        raise


def list_objects(client, bucket):
    """Every object of bucket as dicts with Key and Size."""
    try:
        paginator = client.get_paginator("list_objects_v2")
        objects = []
        for page in paginator.paginate(Bucket=bucket):
            objects.extend(dict(Key=o["Key"], Size=o["Size"]) for o in page.get("Contents", []))
        return objects
    except Exception as error:  # pylint: disable=broad-except
        failure = _s3_failure("cannot list bucket %s" % bucket, error)
        if failure:
            raise failure
        raise


def bucket_holds_data(client, bucket):
    try:
        page = client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        return page.get("KeyCount", 0) > 0
    except Exception as error:  # pylint: disable=broad-except
        if s3_utils.error_code(error) == "NoSuchBucket":
            return False
        failure = _s3_failure("cannot list bucket %s" % bucket, error)
        if failure:
            raise failure
        raise


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


def backup_objects(source_client, buckets, store, backup_id, server_side, workers, config):
    """Copy every object of buckets into the set; return (files, bucket summaries)."""
    tasks = []
    summaries = []
    for bucket in buckets:
        if not bucket_exists(source_client, bucket):
            raise BackupError("artifact bucket %s does not exist" % bucket)
        objects = list_objects(source_client, bucket)
        summaries.append(dict(name=bucket, objects=len(objects), bytes=sum(o["Size"] for o in objects)))
        tasks.extend((bucket, o) for o in objects)

    def copy_one(task):
        bucket, obj = task
        path = object_path(bucket, obj["Key"])
        try:
            if server_side:
                destination_key = store.key(backup_id, path)
                source_client.copy(dict(Bucket=bucket, Key=obj["Key"]), store.bucket, destination_key,
                                   Config=config)
                # Hash the copy the set holds, not the source it came from.
                body = store.client.get_object(Bucket=store.bucket, Key=destination_key)["Body"]
                try:
                    size, digest = hash_stream(body)
                finally:
                    body.close()
            else:
                body = source_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"]
                try:
                    if store.kind == "s3":
                        size, digest = store.write_stream(backup_id, path, body, transfer_config=config)
                    else:
                        size, digest = store.write_stream(backup_id, path, body)
                finally:
                    body.close()
        except Exception as error:  # pylint: disable=broad-except
            failure = _s3_failure("cannot copy s3://%s/%s" % (bucket, obj["Key"]), error)
            if failure:
                raise failure
            raise
        if size != obj["Size"]:
            raise BackupError("s3://%s/%s changed while it was copied (%d bytes, listed %d)"
                              % (bucket, obj["Key"], size, obj["Size"]))
        return dict(path=path, size=size, sha256=digest, bucket=bucket, key=obj["Key"])

    return _run_parallel(copy_one, tasks, workers), summaries


def restore_objects(store, backup_id, entries, target_client, bucket_map, server_side, workers, config):
    """Copy the set's objects into their (mapped) buckets, checking each sha256."""

    def restore_one(entry):
        bucket, key = key_from_path(entry["path"])
        target = bucket_map.get(bucket, bucket)
        try:
            if server_side:
                target_client.copy(dict(Bucket=store.bucket, Key=store.key(backup_id, entry["path"])),
                                   target, key, Config=config)
                size = target_client.head_object(Bucket=target, Key=key)["ContentLength"]
                if size != entry["size"]:
                    raise BackupError("s3://%s/%s has %d bytes after the copy, the set %d"
                                      % (target, key, size, entry["size"]))
            else:
                stream = store.open_read(backup_id, entry["path"])
                reader = HashingReader(stream)
                try:
                    target_client.upload_fileobj(reader, target, key, Config=config)
                finally:
                    stream.close()
                if reader.size != entry["size"] or reader.hexdigest() != entry["sha256"]:
                    raise BackupError("%s changed while it was restored (sha256 mismatch)" % entry["path"])
        except Exception as error:  # pylint: disable=broad-except
            failure = _s3_failure("cannot restore s3://%s/%s" % (target, key), error)
            if failure:
                raise failure
            raise
        return target, key

    return _run_parallel(restore_one, entries, workers)


def delete_extra_objects(client, bucket, keep_keys):
    """Delete the objects of bucket not in keep_keys; return how many went."""
    extra = [o["Key"] for o in list_objects(client, bucket) if o["Key"] not in keep_keys]
    try:
        for start in range(0, len(extra), 1000):
            batch = [dict(Key=k) for k in extra[start:start + 1000]]
            client.delete_objects(Bucket=bucket, Delete=dict(Objects=batch, Quiet=True))
    except Exception as error:  # pylint: disable=broad-except
        failure = _s3_failure("cannot delete extra objects of %s" % bucket, error)
        if failure:
            raise failure
        raise
    return len(extra)


def create_bucket(client, bucket):
    try:
        client.create_bucket(Bucket=bucket)
    except Exception as error:  # pylint: disable=broad-except
        if s3_utils.error_code(error) in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            return
        failure = _s3_failure("cannot create bucket %s" % bucket, error)
        if failure:
            raise failure
        raise

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads and writes a bucket's configuration over the S3 API.

Every botocore error becomes an S3Error whose message is the collection's
one line ("Failed to <verb> <object>: <reason>").
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.mlops.stack.plugins.module_utils import _bucket
from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    S3Error,
    failed_to,
)
from ansible_collections.mlops.stack.plugins.module_utils.s3 import (
    describe_client_error,
    error_code,
    is_s3_error,
)

# Error codes meaning "this bucket has no such configuration".
_NO_LIFECYCLE = ("NoSuchLifecycleConfiguration",)
_NO_POLICY = ("NoSuchBucketPolicy",)
_NO_TAGS = ("NoSuchTagSet", "NoSuchTagSetError")
_NO_OBJECT_LOCK = ("ObjectLockConfigurationNotFoundError",)
_NOT_FOUND = ("404", "NoSuchBucket", "NotFound")
# HEAD answers carry no body; ask again with GET to learn why access failed.
_HEAD_REFUSED = ("400", "403", "301")

DELETE_BATCH = 1000


class BucketService(object):
    """Bucket-level operations of one S3 client."""

    def __init__(self, client):
        self.client = client

    def _call(self, what, method, missing=(), **kwargs):
        """Call the client; None when the error code is one of missing."""
        try:
            return getattr(self.client, method)(**kwargs)
        except Exception as error:  # pylint: disable=broad-except
            if not is_s3_error(error):
                raise
            if error_code(error) in missing:
                return None
            raise S3Error(failed_to(what, describe_client_error(error)))

    def exists(self, name):
        try:
            self.client.head_bucket(Bucket=name)
            return True
        except Exception as error:  # pylint: disable=broad-except
            if not is_s3_error(error):
                raise
            code = error_code(error)
            if code in _NOT_FOUND:
                return False
            if code in _HEAD_REFUSED:
                # Raises with the real reason (bad key, bad signature, denied).
                self._call("read bucket %s" % name, "get_bucket_location", Bucket=name)
                raise S3Error(failed_to("read bucket %s" % name, "access denied"))
            raise S3Error(failed_to("read bucket %s" % name, describe_client_error(error)))

    def read(self, name):
        """The bucket's configuration in the shape of _bucket.absent_bucket()."""
        bucket = _bucket.absent_bucket(name)
        if not self.exists(name):
            return bucket
        bucket["exists"] = True
        what = "read %%s of bucket %s" % name

        versioning = self._call(what % "versioning", "get_bucket_versioning", Bucket=name)
        bucket["versioning"] = (versioning.get("Status") or "disabled").lower()

        lock = self._call(
            what % "object lock", "get_object_lock_configuration",
            missing=_NO_OBJECT_LOCK, Bucket=name,
        )
        bucket["object_lock"] = bool(
            lock
            and lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
            == "Enabled"
        )

        lifecycle = self._call(
            what % "lifecycle", "get_bucket_lifecycle_configuration",
            missing=_NO_LIFECYCLE, Bucket=name,
        )
        bucket["lifecycle"] = [
            _bucket.rule_from_s3(rule) for rule in (lifecycle or {}).get("Rules", [])
        ]

        policy = self._call(
            what % "policy", "get_bucket_policy", missing=_NO_POLICY, Bucket=name
        )
        document = json.loads(policy["Policy"]) if policy and policy.get("Policy") else None
        bucket["policy_document"] = document
        bucket["policy"] = _bucket.anonymous_access_of(document, name)

        tagging = self._call(
            what % "tags", "get_bucket_tagging", missing=_NO_TAGS, Bucket=name
        )
        bucket["tags"] = dict(
            (tag["Key"], tag["Value"]) for tag in (tagging or {}).get("TagSet", [])
        )
        return bucket

    def apply(self, current, after):
        """Make the bucket match after, touching only what differs."""
        name = after["name"]
        what = "set %%s of bucket %s" % name
        if not current["exists"]:
            kwargs = dict(Bucket=name)
            if after["object_lock"]:
                kwargs["ObjectLockEnabledForBucket"] = True
            self._call("create bucket %s" % name, "create_bucket", **kwargs)

        if after["versioning"] != current["versioning"]:
            self._call(
                what % "versioning", "put_bucket_versioning", Bucket=name,
                VersioningConfiguration=dict(Status=after["versioning"].capitalize()),
            )

        if [_bucket.public_rule(r) for r in after["lifecycle"]] != [
            _bucket.public_rule(r) for r in current["lifecycle"]
        ]:
            if after["lifecycle"]:
                self._call(
                    what % "lifecycle", "put_bucket_lifecycle_configuration",
                    Bucket=name,
                    LifecycleConfiguration=dict(
                        Rules=[_bucket.rule_to_s3(rule) for rule in after["lifecycle"]]
                    ),
                )
            else:
                self._call(what % "lifecycle", "delete_bucket_lifecycle", Bucket=name)

        if after["policy"] != current["policy"]:
            if after["policy_document"]:
                self._call(
                    what % "anonymous access", "put_bucket_policy", Bucket=name,
                    Policy=json.dumps(after["policy_document"]),
                )
            else:
                self._call(what % "anonymous access", "delete_bucket_policy", Bucket=name)

        if after["tags"] != current["tags"]:
            if after["tags"]:
                self._call(
                    what % "tags", "put_bucket_tagging", Bucket=name,
                    Tagging=dict(
                        TagSet=[
                            dict(Key=key, Value=value)
                            for key, value in sorted(after["tags"].items())
                        ]
                    ),
                )
            else:
                self._call(what % "tags", "delete_bucket_tagging", Bucket=name)

    def is_empty(self, name):
        listing = self._call(
            "list objects of bucket %s" % name, "list_object_versions",
            Bucket=name, MaxKeys=1,
        )
        return not (listing.get("Versions") or listing.get("DeleteMarkers"))

    def empty(self, name, bypass_governance=False):
        """Delete every object version, delete marker and upload; return the count."""
        deleted = 0
        what = "empty bucket %s" % name
        try:
            for page in self.client.get_paginator("list_object_versions").paginate(
                Bucket=name
            ):
                keys = [
                    dict(Key=item["Key"], VersionId=item["VersionId"])
                    for item in page.get("Versions", []) + page.get("DeleteMarkers", [])
                ]
                for start in range(0, len(keys), DELETE_BATCH):
                    deleted += self._delete_batch(
                        name, keys[start:start + DELETE_BATCH], bypass_governance
                    )
            for page in self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=name
            ):
                for upload in page.get("Uploads", []):
                    self.client.abort_multipart_upload(
                        Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
        except Exception as error:  # pylint: disable=broad-except
            if not is_s3_error(error):
                raise
            raise S3Error(failed_to(what, describe_client_error(error)))
        return deleted

    def _delete_batch(self, name, keys, bypass_governance):
        kwargs = dict(Bucket=name, Delete=dict(Objects=keys, Quiet=True))
        if bypass_governance:
            kwargs["BypassGovernanceRetention"] = True
        answer = self.client.delete_objects(**kwargs)
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise S3Error(
                failed_to(
                    "empty bucket %s" % name,
                    "%d objects could not be deleted, first %s: %s %s"
                    % (len(errors), first.get("Key"), first.get("Code"),
                       first.get("Message", "")),
                )
            )
        return len(keys)

    def delete(self, name):
        self._call("delete bucket %s" % name, "delete_bucket", Bucket=name)

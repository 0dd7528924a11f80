# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reads and writes a bucket's configuration over the S3 API.

Every call runs under the collection's S3 error handling (s3.s3_call), so a
failure is one S3Error: "Failed to <verb> <object>: <reason>".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.mlops.stack.plugins.module_utils import _bucket
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError, S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3 import (
    is_not_found,
    s3_call,
    s3_client,
    s3_connection,
    s3_errors,
)

# HEAD answers carry no body; ask again with GET to learn why access failed.
_HEAD_REFUSED = ("400", "403", "301")

DELETE_BATCH = 1000


class BucketService(object):
    """Bucket-level operations of one S3 client."""

    def __init__(self, client):
        self.client = client

    def _call(self, action, method, optional=False, **kwargs):
        """One client call; for an optional setting a not-found answer returns None."""
        function = getattr(self.client, method)
        if optional:
            return s3_call(action, function, missing=None, **kwargs)
        return s3_call(action, function, **kwargs)

    def exists(self, name):
        action = "read bucket %s" % name
        try:
            s3_call(action, self.client.head_bucket, Bucket=name)
            return True
        except S3Error as error:
            if is_not_found(error):
                return False
            if error.code not in _HEAD_REFUSED:
                raise
        # Raises with the real reason (bad key, bad signature, denied).
        s3_call(action, self.client.get_bucket_location, Bucket=name)
        raise S3Error("access denied", action=action)

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
            optional=True, Bucket=name,
        )
        bucket["object_lock"] = bool(
            lock
            and lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
            == "Enabled"
        )

        lifecycle = self._call(
            what % "lifecycle", "get_bucket_lifecycle_configuration",
            optional=True, Bucket=name,
        )
        bucket["lifecycle"] = [
            _bucket.rule_from_s3(rule) for rule in (lifecycle or {}).get("Rules", [])
        ]

        policy = self._call(
            what % "policy", "get_bucket_policy", optional=True, Bucket=name
        )
        document = json.loads(policy["Policy"]) if policy and policy.get("Policy") else None
        bucket["policy_document"] = document
        bucket["policy"] = _bucket.anonymous_access_of(document, name)

        tagging = self._call(
            what % "tags", "get_bucket_tagging", optional=True, Bucket=name
        )
        bucket["tags"] = dict(
            (tag["Key"], tag["Value"]) for tag in (tagging or {}).get("TagSet", [])
        )
        return bucket

    def apply(self, current, after):
        """Make the bucket match after, touching only what differs."""
        name = after["name"]
        if not current["exists"]:
            kwargs = dict(Bucket=name)
            if after["object_lock"]:
                kwargs["ObjectLockEnabledForBucket"] = True
            self._call("create bucket %s" % name, "create_bucket", **kwargs)
        if after["versioning"] != current["versioning"]:
            self._set(name, "versioning", ("put_bucket_versioning", None), "VersioningConfiguration",
                      dict(Status=after["versioning"].capitalize()))
        if _rules(after) != _rules(current):
            rules = [_bucket.rule_to_s3(rule) for rule in after["lifecycle"]]
            self._set(name, "lifecycle", ("put_bucket_lifecycle_configuration", "delete_bucket_lifecycle"),
                      "LifecycleConfiguration", dict(Rules=rules) if rules else None)
        if after["policy"] != current["policy"]:
            document = after["policy_document"]
            self._set(name, "anonymous access", ("put_bucket_policy", "delete_bucket_policy"),
                      "Policy", json.dumps(document) if document else None)
        if after["tags"] != current["tags"]:
            tags = [dict(Key=key, Value=value) for key, value in sorted(after["tags"].items())]
            self._set(name, "tags", ("put_bucket_tagging", "delete_bucket_tagging"),
                      "Tagging", dict(TagSet=tags) if tags else None)

    def _set(self, name, setting, methods, key, value):
        """Put one setting of the bucket, or delete it when value is None."""
        put, delete = methods
        action = "set %s of bucket %s" % (setting, name)
        if value is None:
            self._call(action, delete, Bucket=name)
        else:
            self._call(action, put, Bucket=name, **{key: value})

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
        with s3_errors(what):
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
                "%d objects could not be deleted, first %s: %s %s"
                % (len(errors), first.get("Key"), first.get("Code"), first.get("Message", "")),
                action="empty bucket %s" % name,
            )
        return len(keys)

    def delete(self, name):
        self._call("delete bucket %s" % name, "delete_bucket", Bucket=name)


def _rules(bucket):
    """The lifecycle rules of a bucket as compared: what the module reports of them."""
    return [_bucket.public_rule(rule) for rule in bucket["lifecycle"]]


def remove_bucket(module, service, current):
    name = current["name"]
    if not current["exists"]:
        return current, []
    changes = []
    if not service.is_empty(name):
        if not module.params["force"]:
            raise ParameterError(
                "the bucket is not empty; set force=true to delete it with "
                "every object version in it",
                action="delete bucket %s" % name
            )
        changes.append("delete every object version")
    changes.append("delete bucket")
    if not module.check_mode:
        if len(changes) > 1:
            service.empty(name, bypass_governance=current["object_lock"])
        service.delete(name)
    return _bucket.absent_bucket(name), changes


def ensure_bucket(module, service, current, settings):
    after, changes = _bucket.plan_bucket(current, module.params, settings)
    if changes and not module.check_mode:
        service.apply(current, after)
    return after, changes


def manage_bucket(module):
    """What the minio_bucket module does: read the bucket, then change only what differs."""
    params = module.params
    settings = _bucket.validate_settings(params)
    service = BucketService(s3_client(s3_connection(params)))
    current = service.read(params["name"])
    if params["state"] == "absent":
        after, changes = remove_bucket(module, service, current)
    else:
        after, changes = ensure_bucket(module, service, current, settings)
    result = dict(
        changed=bool(changes), changes=changes, bucket=_bucket.public_view(after)
    )
    if module.diff_mode:
        result["diff"] = dict(
            before=_bucket.public_view(current), after=_bucket.public_view(after)
        )
    return result

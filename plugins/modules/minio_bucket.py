#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: minio_bucket
short_description: Manage a bucket on MinIO or any S3 endpoint
version_added: 0.1.0
description:
  - Creates, configures and deletes a bucket on MinIO or another S3 compatible endpoint.
  - Manages versioning, object lock at creation, lifecycle expiration rules per prefix,
    anonymous access (the canned bucket policies of C(mc anonymous)) and tags.
  - Reads the bucket first and changes only what differs, so a second run reports no change.
  - Every setting left out of the task is left as it is on the bucket.
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.s3_connection
  - mlops.stack.attributes
options:
  name:
    description:
      - Name of the bucket.
      - Must follow the S3 bucket naming rules, 3 to 63 lowercase letters, digits, dots and hyphens,
        beginning and ending with a letter or digit, and not shaped like an IP address.
    type: str
    required: true
  state:
    description:
      - V(present) creates the bucket if needed and applies the settings of the task.
      - V(absent) deletes the bucket. A bucket that still holds objects is only deleted with O(force=true).
    type: str
    choices: [present, absent]
    default: present
  versioning:
    description:
      - Versioning state of the bucket.
      - Leave unset to keep the bucket's current versioning.
      - A bucket with object lock always has versioning V(enabled).
    type: str
    choices: [enabled, suspended]
  object_lock:
    description:
      - Create the bucket with S3 object lock, which also enables versioning.
      - Object lock can only be chosen when the bucket is created. Asking for a value that differs
        from an existing bucket's fails without changing anything.
      - Leave unset to accept whatever an existing bucket has (and no object lock for a new bucket).
    type: bool
  lifecycle:
    description:
      - Expiration rules, one per prefix.
      - With O(purge_lifecycle=true) the bucket's rules become exactly these rules
        (an empty list removes every rule). With O(purge_lifecycle=false) these rules are added,
        or replace the rules with the same O(lifecycle[].id), and the bucket's other rules are kept.
      - Leave unset to keep the bucket's lifecycle configuration as it is.
    type: list
    elements: dict
    suboptions:
      id:
        description:
          - Identifier of the rule, unique in the bucket.
          - Defaults to C(expire-<prefix>), or C(expire-all) for the empty prefix.
        type: str
      prefix:
        description:
          - Key prefix the rule applies to. The empty string applies the rule to every object.
        type: str
        required: true
      expiration_days:
        description:
          - Days after creation when current object versions expire. At least 1.
          - At least one of O(lifecycle[].expiration_days) and
            O(lifecycle[].noncurrent_expiration_days) is required.
        type: int
      noncurrent_expiration_days:
        description:
          - Days after an object version became noncurrent when it is deleted. At least 1.
          - Only meaningful on a bucket with versioning.
        type: int
  purge_lifecycle:
    description:
      - Whether lifecycle rules of the bucket that are not in O(lifecycle) are removed.
      - Has no effect when O(lifecycle) is unset.
    type: bool
    default: true
  anonymous_access:
    description:
      - Access granted to anonymous (unauthenticated) clients, through the bucket policy
        that C(mc anonymous set) writes.
      - V(none) removes the bucket policy, V(download) allows listing and reading objects,
        V(upload) allows writing and deleting objects, V(public) allows both.
      - The bucket's policy is compared by meaning, not by text, so an equivalent policy
        written by another tool counts as unchanged.
      - Any other (custom) policy on the bucket is replaced.
      - Leave unset to keep the bucket's policy as it is.
    type: str
    choices: [none, download, upload, public]
  tags:
    description:
      - Tags of the bucket, a dictionary of key and value strings.
      - Leave unset to keep the bucket's tags as they are.
    type: dict
  purge_tags:
    description:
      - Whether tags of the bucket that are not in O(tags) are removed.
      - Has no effect when O(tags) is unset.
    type: bool
    default: true
  force:
    description:
      - With O(state=absent), delete a bucket that still holds objects, after deleting every
        object version, delete marker and unfinished multipart upload in it.
      - Without it a bucket that is not empty is kept and the task fails.
    type: bool
    default: false
notes:
  - Buckets are addressed by path, as MinIO serves them.
seealso:
  - name: mc anonymous
    description: The MinIO client command whose canned policies O(anonymous_access) writes.
    link: https://min.io/docs/minio/linux/reference/minio-mc/mc-anonymous-set.html
"""

EXAMPLES = r"""
- name: Create the bucket MLflow stores its artifacts in
  mlops.stack.minio_bucket:
    endpoint_url: http://minio.mlops.svc.cluster.local:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: mlflow
    versioning: enabled
    lifecycle:
      - prefix: tmp/
        expiration_days: 7
      - id: old-versions
        prefix: ""
        noncurrent_expiration_days: 30
    tags:
      app: mlflow

- name: Let anyone download the public datasets, keeping other tags
  mlops.stack.minio_bucket:
    name: datasets
    anonymous_access: download
    tags:
      visibility: public
    purge_tags: false

- name: Add one expiration rule and keep the bucket's other rules
  mlops.stack.minio_bucket:
    name: datasets
    lifecycle:
      - prefix: scratch/
        expiration_days: 1
    purge_lifecycle: false

- name: Create a bucket whose objects can be locked (only possible at creation)
  mlops.stack.minio_bucket:
    name: audit-logs
    object_lock: true

- name: Delete a scratch bucket with everything in it
  mlops.stack.minio_bucket:
    name: scratch
    state: absent
    force: true
"""

RETURN = r"""
bucket:
  description:
    - Configuration of the bucket after the task (what it would be, in check mode).
    - An empty dictionary when the bucket is absent.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the bucket.
      type: str
      returned: when the bucket exists
      sample: mlflow
    versioning:
      description: Versioning state, V(disabled) for a bucket that never had versioning.
      type: str
      returned: when the bucket exists
      sample: enabled
    object_lock:
      description: Whether the bucket has object lock.
      type: bool
      returned: when the bucket exists
      sample: false
    lifecycle:
      description: Lifecycle rules of the bucket.
      type: list
      elements: dict
      returned: when the bucket exists
      contains:
        id:
          description: Identifier of the rule.
          type: str
          sample: expire-tmp/
        prefix:
          description: Key prefix the rule applies to.
          type: str
          sample: tmp/
        expiration_days:
          description: Days after which current versions expire, or null.
          type: int
          sample: 7
        noncurrent_expiration_days:
          description: Days after which noncurrent versions are deleted, or null.
          type: int
          sample: 30
        enabled:
          description: Whether the rule is enabled.
          type: bool
          sample: true
        managed:
          description:
            - Whether the rule only uses what this module manages.
            - Rules with transitions, tag filters or dates are V(false) and kept
              verbatim unless purged.
          type: bool
          sample: true
    policy:
      description:
        - Anonymous access the bucket policy amounts to, V(none), V(download), V(upload)
          or V(public), or V(custom) for any other policy.
      type: str
      returned: when the bucket exists
      sample: download
    policy_document:
      description: The bucket policy, or null without one.
      type: dict
      returned: when the bucket exists
      sample:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: ["*"]
            Action: ["s3:GetBucketLocation", "s3:ListBucket"]
            Resource: ["arn:aws:s3:::datasets"]
          - Effect: Allow
            Principal:
              AWS: ["*"]
            Action: ["s3:GetObject"]
            Resource: ["arn:aws:s3:::datasets/*"]
    tags:
      description: Tags of the bucket.
      type: dict
      returned: when the bucket exists
      sample:
        app: mlflow
changes:
  description: What the task changed (or would change, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample:
    - create bucket
    - set versioning to enabled
    - add lifecycle rule expire-tmp/
    - set anonymous access to download
    - add tag app
diff:
  description: The bucket before and after the task, as in RV(bucket).
  returned: when diff mode is enabled
  type: dict
  contains:
    before:
      description: The bucket before the task, empty when it did not exist.
      type: dict
    after:
      description: The bucket after the task, empty when it is deleted.
      type: dict
"""

from ansible_collections.mlops.stack.plugins.module_utils._bucket import ANONYMOUS_ACCESS
from ansible_collections.mlops.stack.plugins.module_utils._bucket_service import manage_bucket
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration

OPTIONS = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    versioning=dict(type="str", choices=["enabled", "suspended"]),
    object_lock=dict(type="bool"),
    purge_lifecycle=dict(type="bool", default=True),
    anonymous_access=dict(type="str", choices=list(ANONYMOUS_ACCESS)),
    tags=dict(type="dict"),
    purge_tags=dict(type="bool", default=True),
    force=dict(type="bool", default=False),
    lifecycle=dict(
        type="list",
        elements="dict",
        options=dict(
            id=dict(type="str"),
            prefix=dict(type="str", required=True),
            expiration_days=dict(type="int"),
            noncurrent_expiration_days=dict(type="int"),
        ),
    ),
)
MODULE = ModuleDeclaration(manage_bucket, "manage the bucket", OPTIONS, groups=("s3_connection",))
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

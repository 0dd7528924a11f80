#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: minio_policy
short_description: Manage a MinIO IAM policy
version_added: 0.2.0
description:
  - Creates, updates and deletes a named (canned) IAM policy on a MinIO server through its admin API,
    with the MinIO Python SDK.
  - The stored document is compared with O(policy) by meaning (order of statements, actions and
    resources does not count), so a second run reports no change.
  - Attach the policy to users with M(mlops.stack.minio_user).
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.s3_connection
  - mlops.stack.attributes
options:
  name:
    description:
      - Name of the policy, without spaces, commas or slashes.
    type: str
    required: true
  policy:
    description:
      - The IAM policy document, a dictionary with C(Statement) (and optionally C(Version)).
      - Required with O(state=present).
    type: dict
  state:
    description:
      - V(present) creates or updates the policy, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
notes:
  - The connection must be a MinIO admin login (the root user or a user with C(admin:*) rights).
requirements:
  - minio >= 7.2
"""

EXAMPLES = r"""
- name: Let MLflow use the objects of its bucket, and nothing else
  mlops.stack.minio_policy:
    endpoint_url: http://minio.mlops.svc.cluster.local:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: mlflow-artifacts
    policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"]
          Resource: ["arn:aws:s3:::mlflow"]
        - Effect: Allow
          Action: ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                   "s3:ListMultipartUploadParts"]
          Resource: ["arn:aws:s3:::mlflow/*"]
"""

RETURN = r"""
policy:
  description: The policy document after the task (canonical order), empty when absent.
  returned: always
  type: dict
users:
  description:
    - Names of the users the policy is attached to (before the task; none for a new policy).
    - The C(mlops.stack.minio) role finds the login it made for MLflow this way when its Secret is lost.
  returned: always
  type: list
  elements: str
  sample: [mlflow-k3v9q2]
changes:
  description: What the task changed (or would change, in check mode).
  returned: always
  type: list
  elements: str
  sample: [create policy]
diff:
  description: The stored document before and after the task.
  returned: when diff mode is enabled
  type: dict
"""

from ansible_collections.mlops.stack.plugins.module_utils._minio_admin import manage_policy
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration

OPTIONS = dict(
    name=dict(type="str", required=True),
    policy=dict(type="dict"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)

MODULE = ModuleDeclaration(manage_policy, "manage the MinIO policy", OPTIONS, groups=("s3_connection",))
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

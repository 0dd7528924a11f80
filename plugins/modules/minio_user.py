#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: minio_user
short_description: Manage a MinIO user and the policies attached to it
version_added: 0.2.0
description:
  - Creates, updates and deletes a user of MinIO's built-in identity store through its admin API,
    with the MinIO Python SDK, and attaches named policies to it
    (see M(mlops.stack.minio_policy)).
  - MinIO never tells a user's secret key. With O(update_password=always) the module signs one
    S3 request with O(name) and O(password) to learn whether the stored key is the given one, and
    sets it only when it is not; so a second run reports no change.
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.s3_connection
  - mlops.stack.attributes
options:
  name:
    description:
      - The user's access key (its name), 3 to 128 characters without spaces, C(=), C(,) or slashes.
    type: str
    required: true
  password:
    description:
      - The user's secret key, 8 to 40 characters. Never logged.
      - Required to create the user.
    type: str
  update_password:
    description:
      - V(always) sets O(password) when the stored one differs, V(on_create) only when the user is created.
    type: str
    choices: [always, on_create]
    default: always
  policies:
    description:
      - Names of the policies the user has.
      - Leave unset to keep the user's policies as they are.
    type: list
    elements: str
  purge_policies:
    description:
      - Whether policies attached to the user that are not in O(policies) are detached.
      - Has no effect when O(policies) is unset.
    type: bool
    default: true
  state:
    description:
      - V(present) creates the user (enabled) or brings it in line with the task, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
notes:
  - The connection must be a MinIO admin login (the root user or a user with C(admin:*) rights).
  - A policy must exist before it is attached.
requirements:
  - minio >= 7.2
"""

EXAMPLES = r"""
- name: MLflow's own login, allowed only what the mlflow-artifacts policy grants
  mlops.stack.minio_user:
    endpoint_url: http://minio.mlops.svc.cluster.local:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    name: mlflow-k3v9q2
    password: "{{ mlflow_s3_secret_key }}"
    policies: [mlflow-artifacts]

- name: Remove a login after its key pair was replaced
  mlops.stack.minio_user:
    name: mlflow-old123
    state: absent
"""

RETURN = r"""
user:
  description: The user after the task, empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: The access key.
      type: str
      sample: mlflow-k3v9q2
    status:
      description: V(enabled) or V(disabled).
      type: str
      sample: enabled
    policies:
      description: Names of the attached policies.
      type: list
      elements: str
      sample: [mlflow-artifacts]
changes:
  description: What the task changed (or would change, in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: [create user, attach policy mlflow-artifacts]
diff:
  description: The user before and after the task, as in RV(user).
  returned: when diff mode is enabled
  type: dict
"""

from ansible_collections.mlops.stack.plugins.module_utils._minio_admin import manage_user
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration

OPTIONS = dict(
    name=dict(type="str", required=True),
    password=dict(type="str", no_log=True),
    update_password=dict(type="str", choices=["always", "on_create"], default="always", no_log=False),
    policies=dict(type="list", elements="str"),
    purge_policies=dict(type="bool", default=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)

MODULE = ModuleDeclaration(manage_user, "manage the MinIO user", OPTIONS, groups=("s3_connection",))
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

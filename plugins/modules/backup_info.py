#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: backup_info
short_description: List the backup sets of the MLflow stack at a destination
version_added: 0.1.0
description:
  - Lists the sets M(mlops.stack.backup) wrote to a directory or an S3 URL, oldest first,
    with their id, time, status, sizes and counts.
  - A set is V(complete) only when its manifest is present, intact and says so. A set
    without a manifest (an interrupted or running backup) is V(incomplete), one whose
    manifest is damaged or wrongly signed is V(invalid), one without a signature
    V(unsigned), another stack's V(foreign), one dated in the future V(future), and with
    O(verify=true) one whose files do not match the manifest is V(damaged).
  - With O(key) every signature is checked; without it signatures are not checked and each
    set says so (RV(backups[].signature)). O(verify=true) needs O(key).
  - RV(latest) is the newest complete, signed set of this stack, never one dated in the future.
  - Never changes anything.
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.s3_connection
  - mlops.stack.backup_location.destination
  - mlops.stack.backup_key
attributes:
  check_mode:
    description: The module never changes anything, in check mode or not.
    support: full
  diff_mode:
    description: Nothing changes, so there is nothing to compare.
    support: none
options:
  backup_id:
    description:
      - Describe only this set, or V(latest) for the newest complete set.
    type: str
  verify:
    description:
      - Also read every file of each complete set and check its size and sha256.
    type: bool
    default: false
  namespace:
    description:
      - Namespace of the stack whose sets are considered (with O(stack_id)).
    type: str
    default: mlops
  trust_unsigned:
    description:
      - List unsigned sets (of 0.1.0) as V(complete) rather than V(unsigned); never RV(latest).
    type: bool
    default: false
  all_stacks:
    description:
      - Consider the sets of every stack, not only this stack's.
    type: bool
    default: false
  workers:
    description:
      - Files verified in parallel.
    type: int
    default: 8
seealso:
  - module: mlops.stack.backup
  - module: mlops.stack.restore
"""

EXAMPLES = r"""
- name: List the sets in a bucket
  mlops.stack.backup_info:
    destination: s3://stack-backups/mlops
    destination_endpoint_url: https://s3.backup.example.com
    destination_access_key: "{{ backup_access_key }}"
    destination_secret_key: "{{ backup_secret_key }}"
  register: sets

- name: Check the newest set end to end
  mlops.stack.backup_info:
    destination: /srv/backups/mlops
    backup_id: latest
    verify: true
  register: newest

- name: Fail when it is damaged
  ansible.builtin.assert:
    that: newest.backups[0].status == "complete"
"""

RETURN = r"""
location:
  description: The destination listed.
  returned: always
  type: str
  sample: s3://stack-backups/mlops
latest:
  description: Id of the newest complete set, or none.
  returned: always
  type: str
  sample: 20261126T061500Z
complete_count:
  description: Number of complete sets listed.
  returned: always
  type: int
  sample: 3
backups:
  description: The sets, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Backup id (UTC start time).
      type: str
      sample: 20261126T061500Z
    time:
      description: Start time from the id, ISO 8601.
      type: str
      sample: "2026-11-26T06:15:00Z"
    status:
      description: V(complete), V(incomplete), V(invalid), V(unsigned), V(foreign), V(future) or V(damaged).
      type: str
      sample: complete
    signature:
      description: V(valid) (checked with O(key)), V(unchecked) (no O(key) given) or V(none) (an unsigned set).
      type: str
      returned: when the manifest could be read
      sample: valid
    stack:
      description: The stack that wrote the set (namespace and id).
      type: dict
      returned: when the manifest could be read
      sample: {"namespace": "mlops", "id": "k3x9q2m7p4w8z1v6"}
    encrypted:
      description: Whether the set's files are encrypted.
      type: bool
      returned: when the manifest could be read
      sample: true
    reason:
      description: Why a set is not complete.
      type: str
      returned: when status is not complete
      sample: no manifest (interrupted or still running)
    location:
      description: Where the set is.
      type: str
      sample: s3://stack-backups/mlops/20261126T061500Z
    finished:
      description: When the backup finished.
      type: str
      returned: when complete
      sample: "2026-11-26T06:16:02Z"
    database:
      description: Name of the backed up database.
      type: str
      returned: when complete
      sample: mlflow
    database_bytes:
      description: Size of the database dump.
      type: int
      returned: when complete
      sample: 1048576
    objects:
      description: Number of artifact objects.
      type: int
      returned: when complete
      sample: 1200
    object_bytes:
      description: Bytes of artifact objects.
      type: int
      returned: when complete
      sample: 1073741824
    total_bytes:
      description: Bytes of every file of the set except the manifest.
      type: int
      returned: when complete
      sample: 1074790400
    buckets:
      description: Artifact buckets in the set.
      type: list
      elements: str
      returned: when complete
      sample: [mlflow]
    versions:
      description: Versions recorded in the manifest.
      type: dict
      returned: when complete
      sample: {"collection": "0.1.0", "postgresql_server": "15.10", "pg_dump": "15.10", "mlflow_schema": "1b5f0d9ad7c1"}
    durations:
      description: Seconds the backup spent on the database, the objects and in total.
      type: dict
      returned: when complete
      sample: {"database": 1.2, "objects": 30.5, "total": 32.1}
    verified:
      description: Whether every file matched the manifest.
      type: bool
      returned: when O(verify=true) and the manifest is intact
      sample: true
"""

from ansible_collections.mlops.stack.plugins.module_utils._backup.info import run_backup_info
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration

OPTIONS = dict(
    backup_id=dict(type="str"),
    workers=dict(type="int", default=8),
    verify=dict(type="bool", default=False),
    namespace=dict(type="str", default="mlops"),
    trust_unsigned=dict(type="bool", default=False),
    all_stacks=dict(type="bool", default=False),
)
MODULE = ModuleDeclaration(run_backup_info, "list backup sets", OPTIONS, groups=(
    "s3_connection", "backup_location.destination", "backup_key"))
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: restore
short_description: Restore the MLflow stack from a backup set
version_added: 0.1.0
description:
  - Restores a backup set written by M(mlops.stack.backup), chosen by id or V(latest).
  - Before it trusts anything of a set it checks its manifest's signature with O(key);
    an unsigned or wrongly signed set is refused by name and nothing changes. It then
    verifies the size and sha256 of every file of the set (decrypting an encrypted set),
    and it refuses to replace a database or a bucket that holds data unless O(force=true).
  - V(latest) is the newest complete, signed set of this stack (O(namespace), O(stack_id))
    that is not dated in the future.
  - The database is restored into a new staging database which then takes the place of
    the old one by renaming, so a restore that fails midway leaves the previous database
    as it was. Open connections to the old database are ended at the swap.
  - Objects are restored with their sha256 checked on the way (or their size after a
    server-side copy, once the set was verified). With O(force=true) each bucket becomes
    an exact mirror of the set; objects the set does not hold are deleted.
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.backup_location.source
  - mlops.stack.s3_connection
  - mlops.stack.postgres_connection
  - mlops.stack.postgres_client
  - mlops.stack.s3_transfer
  - mlops.stack.backup_key
  - mlops.stack.lock
attributes:
  check_mode:
    description: Verifies the set and the targets and reports what would be restored, changing nothing.
    support: full
  diff_mode:
    description: RV(replaced) lists what a restore replaces; there is no diff.
    support: none
options:
  backup_id:
    description:
      - Id of the set to restore, or V(latest) for the newest complete set.
    type: str
    default: latest
  database:
    description:
      - Name of the database to restore into. Defaults to the name in the set.
      - Its owner is the owner recorded in the set; that role must exist.
    type: str
  bucket_map:
    description:
      - Restore buckets of the set into buckets of other names, a dictionary of
        names in the set and names to restore into, for example C(mlflow) to
        C(mlflow-restored). Buckets not named keep their name.
    type: dict
  trust_unsigned:
    description:
      - Accept an unsigned set (sets written by 0.1.0 are unsigned), named by O(backup_id);
        it is never V(latest). Use it only for a set you know is yours. O(key) is then
        not required.
    type: bool
    default: false
  all_stacks:
    description:
      - Consider the sets of every stack at O(source), not only this stack's.
    type: bool
    default: false
  force:
    description:
      - Replace a database or bucket that already holds data; buckets then become
        exact mirrors of the set.
    type: bool
    default: false
  workers:
    description:
      - Files verified and objects transferred in parallel.
    type: int
    default: 8
notes:
  - Restart the MLflow server after a restore so no pooled connection refers to the
    replaced database.
seealso:
  - module: mlops.stack.backup
  - module: mlops.stack.backup_info
"""

EXAMPLES = r"""
- name: Restore the newest complete set into an empty stack
  mlops.stack.restore:
    endpoint_url: http://minio.mlops.svc.cluster.local:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    pod: postgresql-0
    login_password: "{{ postgres_password }}"
    source: s3://stack-backups/mlops
    source_endpoint_url: https://s3.backup.example.com
    source_access_key: "{{ backup_access_key }}"
    source_secret_key: "{{ backup_secret_key }}"

- name: Verify a set without restoring it
  mlops.stack.restore:
    source: /srv/backups/mlops
    backup_id: 20261126T061500Z
  check_mode: true

- name: Roll the stack back to a set, replacing what is there
  mlops.stack.restore:
    source: /srv/backups/mlops
    backup_id: 20261126T061500Z
    force: true
"""

RETURN = r"""
backup_id:
  description: Id of the restored set.
  returned: success
  type: str
  sample: 20261126T061500Z
location:
  description: Where the set was read from.
  returned: success
  type: str
  sample: /srv/backups/mlops/20261126T061500Z
database:
  description: Database restored into.
  returned: success
  type: str
  sample: mlflow
buckets:
  description: Buckets restored into.
  returned: success
  type: list
  elements: str
  sample: [mlflow]
object_count:
  description: Objects restored.
  returned: success
  type: int
  sample: 1200
object_bytes:
  description: Bytes of objects restored.
  returned: success
  type: int
  sample: 1073741824
database_bytes:
  description: Size of the database dump restored.
  returned: success
  type: int
  sample: 1048576
verified_files:
  description: Files of the set whose size and sha256 were verified.
  returned: success
  type: int
  sample: 1201
replaced:
  description: Targets that held data and were replaced (or would be in check mode).
  returned: success
  type: list
  elements: str
  sample: ["database mlflow", "bucket mlflow"]
deleted_objects:
  description: Objects deleted because the set does not hold them (O(force=true) only).
  returned: success and not check mode
  type: int
  sample: 0
server_side_copy:
  description: Whether objects were copied server-side.
  returned: success and not check mode
  type: bool
  sample: false
durations:
  description: Seconds spent verifying, on the database, on the objects, and in total.
  returned: success and not check mode
  type: dict
  sample: {"verify": 3.1, "database": 1.5, "objects": 20.2, "total": 24.8}
throughput_mb_s:
  description: MiB per second in total and for the objects.
  returned: success and not check mode
  type: dict
  sample: {"total": 41.3, "objects": 50.7}
versions:
  description: Versions recorded in the set's manifest.
  returned: success
  type: dict
  sample: {"collection": "0.1.0", "postgresql_server": "15.10", "pg_dump": "15.10", "mlflow_schema": "1b5f0d9ad7c1"}
"""

from ansible_collections.mlops.stack.plugins.module_utils._backup.restore import run_restore
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration

OPTIONS = dict(
    backup_id=dict(type="str", default="latest"),
    database=dict(type="str"),
    force=dict(type="bool", default=False),
    workers=dict(type="int", default=8),
    bucket_map=dict(type="dict"),
    trust_unsigned=dict(type="bool", default=False),
    all_stacks=dict(type="bool", default=False),
)
MODULE = ModuleDeclaration(run_restore, "restore the stack", OPTIONS, groups=(
    "backup_location.source", "s3_connection", "postgres_connection", "postgres_client", "s3_transfer",
    "backup_key", "lock"))
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

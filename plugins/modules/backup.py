#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: backup
short_description: Back up the MLflow database and artifact buckets as one consistent set
version_added: 0.1.0
description:
  - Writes one backup set of the stack to a directory or to an S3 URL on any endpoint.
  - A set holds the MLflow database, dumped in custom format by a C(pg_dump) of the
    server's own major version and streamed to the destination, every object of the
    artifact buckets with its sha256, and C(manifest.json).
  - The manifest is written last, once every file is on disk, and signed with O(key); it
    records the stack (O(namespace), O(stack_id)). A set without one (an interrupted run)
    never counts as a backup, and concurrent runs never share a set because each claims a
    unique id before writing.
  - The dump and the objects are encrypted with O(key) unless O(encrypt=false).
  - Unencrypted objects are copied server-side when the destination shares the endpoint and
    the credentials of the artifact buckets; otherwise they stream in parallel through the
    controller, with multipart transfers for big objects. An object deleted while the set is
    written is left out and counted in RV(skipped_objects).
  - Objects that stream through the controller are read with the C(minio) library when it is
    installed and O(endpoint_url), O(access_key) and O(secret_key) are set (its requests cost
    a fraction of botocore's CPU), otherwise with boto3.
  - In a directory, sets are created 0700 and their files 0600.
  - After a successful backup, retention (O(keep_last), O(keep_within)) removes older
    complete sets of this stack whose signature is valid; the newest complete set is never
    removed. Sets it cannot trust (invalid, unsigned, another stack's, dated in the future)
    are reported in RV(retention_skipped), never deleted.
  - With O(apply_retention=false) nothing is deleted, so the destination's login needs no
    right to delete; M(mlops.stack.backup_retention) then applies retention with a login that may.
author:
  - mlops.stack contributors (@mlops-stack)
requirements:
  - minio >= 7.2 (optional, faster reads of many objects)
extends_documentation_fragment:
  - mlops.stack.s3_connection
  - mlops.stack.postgres_connection
  - mlops.stack.postgres_client
  - mlops.stack.s3_transfer
  - mlops.stack.backup_location.destination
  - mlops.stack.backup_key
  - mlops.stack.backup_retention
  - mlops.stack.lock
attributes:
  check_mode:
    description: Reports what would be backed up and which sets retention would remove, without writing anything.
    support: full
  diff_mode:
    description: A backup adds a set; there is no before and after to show.
    support: none
options:
  database:
    description:
      - Name of the MLflow database to dump.
    type: str
    default: mlflow
  buckets:
    description:
      - Artifact buckets to back up, reached with the S3 connection options.
    type: list
    elements: str
    default: [mlflow]
  encrypt:
    description:
      - Encrypt the dump and every object with O(key). V(false) only signs the set (its files
        can then be read by anyone who can read the destination).
    type: bool
    default: true
  apply_retention:
    description:
      - Apply retention (O(keep_last), O(keep_within), O(incomplete_grace)) after the set is written.
      - V(false) leaves it to M(mlops.stack.backup_retention), run with another login; the limits are
        still checked.
    type: bool
    default: true
  workers:
    description:
      - Objects transferred in parallel.
    type: int
    default: 8
  validate_dump:
    description:
      - Read the written dump back through the local C(pg_restore) to prove it is whole,
        which catches a C(pg_dump) that fails yet exits 0.
      - Without it, and always with O(pod), the dump is checked by its exit status and
        its custom-format header.
    type: bool
    default: true
notes:
  - The backup id is the UTC start time, for example C(20261126T061500Z); a second set
    started within the same second gets C(-2), C(-3) and so on.
seealso:
  - module: mlops.stack.restore
  - module: mlops.stack.backup_info
  - module: mlops.stack.backup_retention
"""

EXAMPLES = r"""
- name: Back up the stack into a bucket of another S3 endpoint, keeping a week
  mlops.stack.backup:
    endpoint_url: http://minio.mlops.svc.cluster.local:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    pod: postgresql-0
    namespace: mlops
    login_user: postgres
    login_password: "{{ postgres_password }}"
    destination: s3://stack-backups/mlops
    destination_endpoint_url: https://s3.backup.example.com
    destination_access_key: "{{ backup_access_key }}"
    destination_secret_key: "{{ backup_secret_key }}"
    keep_within: 7d
    keep_last: 3
  register: stack_backup

- name: Back up an external database with the local pg_dump into a directory
  mlops.stack.backup:
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ minio_root_user }}"
    secret_key: "{{ minio_root_password }}"
    login_host: db.example.com
    login_user: postgres
    login_password: "{{ postgres_password }}"
    destination: /srv/backups/mlops
    keep_last: 10

- name: Write a set with a login that cannot delete, then apply retention with one that can
  mlops.stack.backup:
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ backup_user_access_key }}"
    secret_key: "{{ backup_user_secret_key }}"
    pod: postgresql-0
    namespace: mlops
    login_user: postgres
    login_password: "{{ postgres_password }}"
    destination: s3://mlflow-backups/mlops
    key: "{{ backup_key }}"
    apply_retention: false
  register: stack_backup

- name: Show what a backup would hold
  mlops.stack.backup:
    destination: /srv/backups/mlops
  check_mode: true
"""

RETURN = r"""
backup_id:
  description: Id of the new set (none in check mode).
  returned: always
  type: str
  sample: 20261126T061500Z
location:
  description: Where the set was written (the destination in check mode).
  returned: always
  type: str
  sample: s3://stack-backups/mlops/20261126T061500Z
status:
  description: V(complete) once the manifest is written.
  returned: success and not check mode
  type: str
  sample: complete
database_bytes:
  description: Size of the database dump.
  returned: success and not check mode
  type: int
  sample: 1048576
object_count:
  description: Number of artifact objects in the set.
  returned: success and not check mode
  type: int
  sample: 1200
object_bytes:
  description: Bytes of artifact objects in the set.
  returned: success and not check mode
  type: int
  sample: 1073741824
total_bytes:
  description: Bytes of every file in the set except the manifest.
  returned: success and not check mode
  type: int
  sample: 1074790400
durations:
  description: Seconds spent on the database, on the objects, and in total.
  returned: success and not check mode
  type: dict
  sample: {"database": 1.2, "objects": 30.5, "total": 32.1}
throughput_mb_s:
  description: MiB per second in total, for the database dump and for the objects.
  returned: success and not check mode
  type: dict
  sample: {"total": 33.4, "database": 0.8, "objects": 33.6}
server_side_copy:
  description: Whether objects were copied server-side.
  returned: success and not check mode
  type: bool
  sample: false
versions:
  description: Collection, PostgreSQL server, pg_dump and MLflow schema (alembic) versions.
  returned: success and not check mode
  type: dict
  sample: {"collection": "0.1.0", "postgresql_server": "15.10", "pg_dump": "15.10", "mlflow_schema": "1b5f0d9ad7c1"}
skipped_objects:
  description: Objects listed but deleted before they were copied (MLflow's gc), left out of the set.
  returned: success and not check mode
  type: int
  sample: 0
skipped:
  description: Bucket and key of each object left out (see RV(skipped_objects)).
  returned: success and not check mode
  type: list
  elements: dict
  sample: [{"bucket": "mlflow", "key": "1/abc/artifacts/tmp.txt"}]
encrypted:
  description: Whether the set's files are encrypted.
  returned: success and not check mode
  type: bool
  sample: true
stack:
  description: The stack recorded in the manifest.
  returned: success and not check mode
  type: dict
  sample: {"namespace": "mlops", "id": "k3x9q2m7p4w8z1v6"}
key_id:
  description: A fingerprint of the key the set is signed with (not the key).
  returned: success and not check mode
  type: str
  sample: 3f2a9c1b7d4e6f80
retention_skipped:
  description: Sets retention left alone because it cannot trust them, with their status and why.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "20991231T000000Z", "status": "invalid", "reason": "manifest ... does not match its signature"}]
plan:
  description: What the backup holds (or would hold in check mode).
  returned: always
  type: dict
  sample: {"database": "mlflow", "database_size": 8000000, "object_count": 12, "object_bytes": 4096,
           "buckets": ["mlflow"], "server_side_copy": false}
deleted:
  description: Ids of the sets retention removed (or would remove in check mode).
  returned: always
  type: list
  elements: str
  sample: ["20261119T061500Z"]
"""

from ansible_collections.mlops.stack.plugins.module_utils._backup.backup import run_backup
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration

OPTIONS = dict(
    database=dict(type="str", default="mlflow"),
    apply_retention=dict(type="bool", default=True),
    workers=dict(type="int", default=8),
    validate_dump=dict(type="bool", default=True),
    encrypt=dict(type="bool", default=True),
    buckets=dict(type="list", elements="str", default=["mlflow"]),
)
MODULE = ModuleDeclaration(run_backup, "back up the stack", OPTIONS, groups=(
    "s3_connection", "postgres_connection", "postgres_client", "s3_transfer", "backup_location.destination",
    "backup_key", "backup_retention", "lock"))
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

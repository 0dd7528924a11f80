#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: backup_retention
short_description: Remove the backup sets of the MLflow stack that retention no longer keeps
version_added: 0.2.0
description:
  - Applies the retention M(mlops.stack.backup) applies after a set, as a step of its own, so
    that the login which writes sets (O(mlops.stack.backup#module:apply_retention=false)) never
    needs the right to delete them.
  - Removes complete sets of this stack (O(namespace), O(stack_id)) whose signature is valid
    beyond O(keep_last) and O(keep_within), and sets without a manifest (interrupted runs)
    older than O(incomplete_grace). The newest complete set is never removed.
  - Sets it cannot trust (invalid, unsigned, another stack's, dated in the future) are reported
    in RV(retention_skipped), never deleted.
  - Reads nothing but the sets' list and their manifests, so its login needs to list the
    destination, read C(manifest.json) files and delete under the sets' prefix, and nothing else.
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.s3_connection
  - mlops.stack.backup_location.destination
  - mlops.stack.backup_key
  - mlops.stack.backup_retention
attributes:
  check_mode:
    description: Reports the sets it would remove without removing any.
    support: full
  diff_mode:
    description: Removed sets are listed in RV(deleted); there is no before and after to show.
    support: none
options:
  namespace:
    description:
      - Namespace of the stack whose sets are considered (with O(stack_id)).
    type: str
    default: mlops
notes:
  - O(key) is required, as a set is removed only when its signature proves it is this stack's.
seealso:
  - module: mlops.stack.backup
  - module: mlops.stack.backup_info
"""

EXAMPLES = r"""
- name: Keep the last seven sets, with the login that may delete them
  mlops.stack.backup_retention:
    endpoint_url: http://127.0.0.1:9000
    access_key: "{{ retention_access_key }}"
    secret_key: "{{ retention_secret_key }}"
    destination: s3://mlflow-backups/mlops
    key: "{{ backup_key }}"
    stack_id: "{{ stack_id }}"
    namespace: mlops
    keep_last: 7

- name: Show what retention would remove from a directory
  mlops.stack.backup_retention:
    destination: /srv/backups/mlops
    key: "{{ backup_key }}"
    keep_within: 14d
  check_mode: true
"""

RETURN = r"""
location:
  description: The destination, as an URL or a directory.
  returned: always
  type: str
  sample: s3://mlflow-backups/mlops
deleted:
  description: Ids of the sets removed (or that would be in check mode).
  returned: always
  type: list
  elements: str
  sample: ["20261119T061500Z"]
retention_skipped:
  description: Sets left alone because they cannot be trusted, with their status and why.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "20991231T000000Z", "status": "future", "reason": "dated in the future"}]
"""

from ansible_collections.mlops.stack.plugins.module_utils._backup.retention import run_backup_retention
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration

OPTIONS = dict(
    namespace=dict(type="str", default="mlops"),
)
MODULE = ModuleDeclaration(run_backup_retention, "apply retention", OPTIONS, groups=(
    "s3_connection", "backup_location.destination", "backup_key", "backup_retention"))
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

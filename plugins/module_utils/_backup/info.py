# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the backup_info module does: list the sets of a location, optionally verified."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mlops.stack.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup.params import check_workers
from ansible_collections.mlops.stack.plugins.module_utils._backup.stores import (
    list_sets,
    open_store,
    parse_location,
    verify_files,
)
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, failure_of


def run_backup_info(module):
    params = module.params
    validate(params)
    destination = s3_utils.location_connection(params, "destination")
    module.hide(destination.get("secret_key"))
    with failure_of("list backup sets at %s" % params["destination"]):
        store = open_store(params["destination"], destination)
        described = list_sets(store) if store.check_reachable() else []
    complete = [info["id"] for info, _m in described if info["status"] == "complete"]
    latest = complete[-1] if complete else None
    if params.get("backup_id"):
        wanted = latest if params["backup_id"] == "latest" else params["backup_id"]
        described = [(info, m) for info, m in described if info["id"] == wanted]
        if not described:
            raise BackupError("no such set at %s" % store.url, action="describe backup set %s" % params["backup_id"])
    backups = [verified(store, info, manifest, params) for info, manifest in described]
    return dict(changed=False, location=store.url, backups=backups, latest=latest,
                complete_count=len([b for b in backups if b["status"] == "complete"]))


def validate(params):
    parse_location(params["destination"])
    check_workers(params)
    if params.get("backup_id") and params["backup_id"] != "latest":
        sets.id_sort_key(params["backup_id"])


def verified(store, info, manifest, params):
    """info of one set, checked file by file when the options ask for it."""
    if params["verify"] and manifest is not None:
        problems = verify_files(store, info["id"], manifest["files"], params["workers"])
        info["verified"] = not problems
        if problems:
            info.update(status="damaged", reason="; ".join(problems[:3]))
    return info

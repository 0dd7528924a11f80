# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the backup_info module does: list the sets of a location, optionally verified.

With the key every manifest's signature is checked before anything it says
is reported; without it (a plain listing) signatures are read but not
checked, and each set says so. verify needs the key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mlops.stack.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup import seal
from ansible_collections.mlops.stack.plugins.module_utils._backup.params import check_workers, selection, set_key
from ansible_collections.mlops.stack.plugins.module_utils._backup.stores import (
    latest_of,
    list_sets,
    open_store,
    parse_location,
    verify_files,
)
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, ParameterError, failure_of


def run_backup_info(module):
    params = module.params
    key = validate(params)
    destination = s3_utils.location_connection(params, "destination")
    module.hide(destination.get("secret_key"))
    with failure_of("list backup sets at %s" % params["destination"]):
        store = open_store(params["destination"], destination)
        described = list_sets(store, selection(params, key)) if store.check_reachable() else []
    newest = latest_of(described)
    latest = newest[0]["id"] if newest else None
    if params.get("backup_id"):
        wanted = latest if params["backup_id"] == "latest" else params["backup_id"]
        described = [(info, m) for info, m in described if info["id"] == wanted]
        if not described:
            raise BackupError("no such set at %s" % store.url, action="describe backup set %s" % params["backup_id"])
    backups = [verified(store, info, manifest, params, key) for info, manifest in described]
    return dict(changed=False, location=store.url, backups=backups, latest=latest,
                complete_count=len([b for b in backups if b["status"] == "complete"]))


def validate(params):
    """The seal.SetKey of the options (None without one)."""
    parse_location(params["destination"])
    check_workers(params)
    if params.get("backup_id") and params["backup_id"] != "latest":
        sets.id_sort_key(params["backup_id"])
    if params["verify"] and not params.get("key"):
        raise ParameterError("verify needs key: a set's signature is checked before its files")
    return set_key(params, required=False)


def verified(store, info, manifest, params, key):
    """info of one set, checked file by file when the options ask for it."""
    if params["verify"] and manifest is not None:
        problems = verify_files(seal.reading_store(store, manifest, key), info["id"], manifest["files"],
                                params["workers"])
        info["verified"] = not problems
        if problems:
            info.update(status="damaged", reason="; ".join(problems[:3]))
    return info

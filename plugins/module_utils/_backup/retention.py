# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retention of backup sets: what the backup module applies after a set, or
the backup_retention module applies on its own, with a login that may delete.

It removes only what it can trust: this stack's signed sets beyond the
limits, and sets without a manifest older than the grace. Invalid, unsigned,
foreign and future-dated sets are reported, never deleted. It reads only the
sets' manifests (and, for a set without one, nothing but its id), so the
login it runs with needs to read no artifact.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.mlops.stack.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup.params import selection, set_key
from ansible_collections.mlops.stack.plugins.module_utils._backup.stores import list_sets, open_store, parse_location
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError, failure_of


class Retention(object):
    """Which sets retention removes."""

    def __init__(self, keep_last=None, keep_within=None, incomplete_grace=None):
        self.keep_last = keep_last
        self.keep_within = keep_within
        self.incomplete_grace = incomplete_grace

    def review(self, store, new_id, chosen):
        """(ids to delete, sets left alone) of store.

        ``new_id`` (or None) counts as its newest complete set: the set a backup
        is writing, which it may not list yet. ``chosen`` is the
        stores.Selection of this stack's trusted sets. Only its complete sets
        count; a set without a manifest may go after the grace. Invalid,
        unsigned, foreign and future-dated sets are never deleted: they are
        returned, as dict(id, status, reason), to be reported.
        """
        listed, left = ([(new_id, True)] if new_id else []), []
        for info, _manifest in list_sets(store, chosen):
            if info["id"] == new_id:
                continue
            if info["status"] in ("complete", "incomplete"):
                listed.append((info["id"], info["status"] == "complete"))
            else:
                left.append(dict(id=info["id"], status=info["status"], reason=info.get("reason")))
        if self.keep_last is None and self.keep_within is None and self.incomplete_grace is None:
            return [], left
        return sets.select_for_deletion(listed, self.keep_last, self.keep_within, self.incomplete_grace), left


def retention_argument_spec():
    """The options of doc fragment backup_retention."""
    return dict(keep_last=dict(type="int"), keep_within=dict(type="str"),
                incomplete_grace=dict(type="str", default="1d"))


def retention_of(params):
    """The Retention of keep_last, keep_within and incomplete_grace; ParameterError when they are wrong."""
    if params.get("keep_last") is not None and params["keep_last"] < 1:
        raise ParameterError("Invalid keep_last %r: it must be at least 1 (the newest "
                             "complete set is always kept)" % params["keep_last"])
    keep_within = sets.parse_duration(params["keep_within"]) if params.get("keep_within") else None
    grace = sets.parse_duration(params["incomplete_grace"], "incomplete_grace")
    return Retention(params.get("keep_last"), keep_within, grace)


def apply_retention(module, retention, store, new_id, chosen):
    """Delete what retention removes from store; (deleted ids, sets left alone), each left one warned of."""
    with failure_of("apply retention at %s" % store.url):
        deleted, left = retention.review(store, new_id, chosen)
        for doomed in deleted:
            store.delete_set(doomed)
    for skipped in left:
        module.warn("Retention left set %s alone (%s: %s)" % (skipped["id"], skipped["status"], skipped["reason"]))
    return deleted, left


def run_backup_retention(module):
    params = module.params
    parse_location(params["destination"])
    retention = retention_of(params)
    chosen = selection(dict(params, all_stacks=False), set_key(params))
    destination = s3_utils.location_connection(params, "destination")
    module.hide(destination.get("secret_key"))
    with failure_of("open backup destination"):
        store = open_store(params["destination"], destination)
        reachable = store.check_reachable()
    if not reachable:
        return dict(changed=False, location=store.url, deleted=[], retention_skipped=[])
    if module.check_mode:
        with failure_of("apply retention at %s" % store.url):
            deleted, left = retention.review(store, None, chosen)
        return dict(changed=bool(deleted), location=store.url, deleted=deleted, retention_skipped=left)
    deleted, left = apply_retention(module, retention, store, None, chosen)
    return dict(changed=bool(deleted), location=store.url, deleted=deleted, retention_skipped=left)

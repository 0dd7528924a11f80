# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the restore module does: validate, plan, run, report.

Validation raises before anything is read; the plan reads the set, checks
its manifest's signature with the backup key before trusting anything of it,
verifies every file of it (decrypting an encrypted set) and checks the
targets, changing nothing (check mode stops there); the run restores the database (swapped in by renaming) and then the
objects, each checked against its sha256.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.mlops.stack.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup import database as db
from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup import objects, seal
from ansible_collections.mlops.stack.plugins.module_utils._backup.params import (
    check_database_access,
    rate,
    rounded,
    selection,
    set_key,
)
from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_client import tool_major
from ansible_collections.mlops.stack.plugins.module_utils._backup.stores import (
    open_store,
    parse_location,
    resolve_set,
    verify_files,
)
from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    BackupError,
    ParameterError,
    PostgresError,
    StackError,
    failure_of,
)

# pg_restore jobs for a dump kept in a directory (bounded by workers).
RESTORE_JOBS = 4


class RestorePlan(object):
    """The verified set and what restoring it replaces, read before anything changes."""

    def __init__(self, params, store, target_client, backup_id, manifest):
        self.params = params
        self.store = store
        self.target_client = target_client
        self.backup_id = backup_id
        self.manifest = manifest
        self.bucket_map = dict(params.get("bucket_map") or {})
        self.buckets = [b["name"] for b in manifest.get("buckets", [])]
        self.database = dict(name=params.get("database") or manifest["database"]["name"],
                             exists=False, dump_major=None)
        self.pg = None
        self.occupied = []
        self.server_side = False
        self.seconds = dict(verify=0.0)

    def target_bucket(self, bucket):
        return self.bucket_map.get(bucket, bucket)

    def summary(self):
        totals = self.manifest["totals"]
        return dict(backup_id=self.backup_id, location=self.store.location_of(self.backup_id),
                    stack=sets.stack_of(self.manifest), signed=sets.is_signed(self.manifest),
                    database=self.database["name"], buckets=[self.target_bucket(b) for b in self.buckets],
                    object_count=totals["objects"], object_bytes=totals["object_bytes"],
                    database_bytes=totals["database_bytes"], verified_files=len(self.manifest["files"]),
                    replaced=self.occupied, versions=self.manifest.get("versions", {}))


def run_restore(module):
    validate(module.params)
    plan = make_plan(module)
    result = plan.summary()
    if module.check_mode:
        result.update(changed=True, msg="Backup set %s verified; would restore %s"
                      % (plan.backup_id, plan.database["name"]))
        return result
    deleted = run(plan)
    result.update(report(plan, deleted))
    return result


# --- validate ----------------------------------------------------------------

def validate(params):
    """ParameterError before anything is read."""
    check_database_access(params, database_optional=True)
    set_key(params, required=not params.get("trust_unsigned"))
    if params["backup_id"] != "latest":
        sets.id_sort_key(params["backup_id"])
    parse_location(params["source"], "source")


# --- plan --------------------------------------------------------------------

def make_plan(module):
    """Read and verify the set and check the targets; change nothing."""
    params = module.params
    plan = read_set(module)
    verify(plan)
    unknown = sorted(set(plan.bucket_map) - set(plan.buckets))
    if unknown:
        raise ParameterError("bucket_map names buckets the set does not hold: %s" % ", ".join(unknown),
                             action="restore backup set %s" % plan.backup_id)
    pg = db.postgres_access(params)
    with failure_of("restore backup set %s" % plan.backup_id):
        check_targets(plan, pg)
    if plan.occupied and not params["force"]:
        raise BackupError("%s already hold(s) data; set force=true to replace it" % " and ".join(plan.occupied),
                          action="restore backup set %s" % plan.backup_id)
    plan.pg = pg
    return plan


def read_set(module):
    params = module.params
    wanted = params["backup_id"]
    source = s3_utils.location_connection(params, "source")
    module.hide(source.get("secret_key"))
    with failure_of("read backup set %s from %s" % (wanted, params["source"])):
        store = open_store(params["source"], source, option="source")
        target_client = s3_utils.s3_client(s3_utils.s3_connection(params),
                                           max_pool_connections=params["workers"] + 4)
        if not store.check_reachable():
            raise BackupError("%s does not exist" % store.url)
        key = set_key(params, required=False)
        backup_id, manifest = resolve_set(store, wanted, selection(params, key))
        if manifest.get("encryption") and key is None:
            raise BackupError("set %s is encrypted: give its key" % backup_id)
        store = seal.reading_store(store, manifest, key)
    plan = RestorePlan(params, store, target_client, backup_id, manifest)
    plan.server_side = (store.kind == "s3" and not store.encrypted
                        and objects.same_account(source, s3_utils.s3_connection(params)))
    return plan


def verify(plan):
    """Check the size and sha256 of every file of the set."""
    clock = time.time()
    problems = verify_files(plan.store, plan.backup_id, plan.manifest["files"], plan.params["workers"])
    if problems:
        raise BackupError("%d file(s) damaged, nothing was changed: %s" % (len(problems), "; ".join(problems[:3])),
                          action="verify backup set %s" % plan.backup_id)
    plan.seconds["verify"] = time.time() - clock


def check_targets(plan, pg):
    """Whether the database and the buckets hold data, and the dump's client can restore it."""
    manifest, database = plan.manifest, plan.database
    database["dump_major"] = manifest["database"].get("pg_dump_major") or tool_major(
        "(PostgreSQL) %s" % manifest.get("versions", {}).get("pg_dump", "0"))
    if pg.where == "local":
        pg.check_client("pg_restore", database["dump_major"], "the dump's pg_dump")
    database["exists"] = db.database_exists(pg, database["name"])
    if database["exists"] and db.holds_tables(pg, database["name"]):
        plan.occupied.append("database %s" % database["name"])
    owner = manifest["database"].get("owner")
    if owner and not db.role_exists(pg, owner):
        raise PostgresError("role %s, owner of the backed up database, does not exist" % owner)
    for bucket in plan.buckets:
        if objects.bucket_holds_data(plan.target_client, plan.target_bucket(bucket)):
            plan.occupied.append("bucket %s" % plan.target_bucket(bucket))


# --- run ---------------------------------------------------------------------

def run(plan):
    """Restore the database, then the objects; return how many extra objects went.

    The previous database is kept until the objects are restored: when they
    fail, the swap is undone, so MLflow finds its database as it was.
    """
    clock = time.time()
    with failure_of("restore database %s from %s" % (plan.database["name"], plan.backup_id)):
        swap = db.restore_database(plan.pg, plan.store, plan.backup_id, plan.manifest, plan.database,
                                   jobs=min(RESTORE_JOBS, plan.params["workers"]))
    plan.seconds["database"] = time.time() - clock
    clock = time.time()
    action = "restore artifacts from %s" % plan.backup_id
    try:
        with failure_of(action):
            deleted = restore_artifacts(plan)
    except StackError as error:
        raise undo_swap(plan, swap, error, action) from error
    swap.commit()
    plan.seconds["objects"] = time.time() - clock
    return deleted


def undo_swap(plan, swap, error, action):
    """The error of the object step, saying whether the database was put back."""
    buckets = ", ".join(plan.target_bucket(b) for b in plan.buckets)
    try:
        swap.undo()
    except StackError as undo_error:
        return BackupError("%s; undoing the database swap failed too (%s): the database as it was before "
                           "the restore is %s; buckets %s may hold part of the set's objects"
                           % (error.reason, undo_error.reason, swap.kept(), buckets), action=action)
    return BackupError("%s; the database swap was undone (%s is as it was before the restore); buckets %s "
                       "may hold part of the set's objects: restore again once the cause is fixed"
                       % (error.reason, plan.database["name"], buckets), action=error.action or action)


def restore_artifacts(plan):
    params = plan.params
    entries = [f for f in plan.manifest["files"] if f["path"].startswith("objects/")]
    for bucket in plan.buckets:
        objects.create_bucket(plan.target_client, plan.target_bucket(bucket))
    config = objects.transfer_config(params["multipart_threshold_mb"], params["multipart_chunk_mb"])
    objects.restore_objects(plan.store, plan.backup_id, entries, plan.target_client, plan.bucket_map,
                            plan.server_side, params["workers"], config)
    deleted = 0
    if params["force"]:
        for bucket in plan.buckets:
            keep = set(key for b, key in map(sets.entry_key, entries) if b == bucket)
            deleted += objects.delete_extra_objects(plan.target_client, plan.target_bucket(bucket), keep)
    return deleted


# --- report ------------------------------------------------------------------

def report(plan, deleted):
    totals, seconds = plan.manifest["totals"], plan.seconds
    total = seconds["verify"] + seconds["database"] + seconds["objects"]
    return dict(
        changed=True, deleted_objects=deleted, server_side_copy=plan.server_side,
        durations=rounded(verify=seconds["verify"], database=seconds["database"],
                          objects=seconds["objects"], total=total),
        throughput_mb_s=dict(total=rate(totals["bytes"], total),
                             objects=rate(totals["object_bytes"], seconds["objects"])),
    )

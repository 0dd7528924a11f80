# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the backup module does: validate, plan, run, report.

Validation raises before anything is read; the plan reads the database,
the buckets and the destination and changes nothing (check mode stops
there); the run claims a backup id, writes the set (the dump and the object
copies side by side, encrypted unless encrypt=false), signs its manifest
with the backup key and applies retention (retention.py), unless another
step with a login of its own does (apply_retention=false).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mlops.stack.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.stack.plugins.module_utils._backup import database as db
from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup import objects, seal
from ansible_collections.mlops.stack.plugins.module_utils._backup.object_reader import object_reader
from ansible_collections.mlops.stack.plugins.module_utils._backup.params import (
    check_database_access,
    rate,
    rounded,
    selection,
    set_key,
    this_stack,
)
from ansible_collections.mlops.stack.plugins.module_utils._backup.retention import apply_retention, retention_of
from ansible_collections.mlops.stack.plugins.module_utils._backup.stores import (
    BUCKET_NAME,
    open_store,
    parse_location,
)
from ansible_collections.mlops.stack.plugins.module_utils.common import COLLECTION_VERSION
from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    BackupError,
    ParameterError,
    StackError,
    failure_of,
)


class BackupPlan(object):
    """Everything a backup run needs, read before anything is written."""

    def __init__(self, params, store, source_client, pg, key):
        self.params = params
        self.key = key
        self.store = seal.SealedStore(store, key) if params["encrypt"] else store
        self.source_client = source_client
        self.pg = pg
        self.database = None
        self.listing = []
        self.server_side = False
        self.reader = None
        self.versions = dict(collection=COLLECTION_VERSION)
        self.started = sets.utcnow()
        self.clock = time.time()
        self.config = objects.transfer_config(params["multipart_threshold_mb"], params["multipart_chunk_mb"])

    def summary(self):
        return dict(database=self.database["name"], database_size=self.database["size"],
                    object_count=sum(len(items) for _b, items in self.listing),
                    object_bytes=sum(o["Size"] for _b, items in self.listing for o in items),
                    buckets=self.params["buckets"], server_side_copy=self.server_side)


def run_backup(module):
    retention = validate(module.params)
    plan, reachable = make_plan(module)
    summary = plan.summary()
    chosen = selection(dict(module.params, all_stacks=False), plan.key)
    if module.check_mode:
        # Count the set this run would add, as the real run does.
        would_delete, left = retention.review(plan.store, sets.new_backup_id(), chosen) \
            if reachable and retention else ([], [])
        return dict(changed=True, backup_id=None, location=plan.store.url, plan=summary, deleted=would_delete,
                    retention_skipped=left,
                    msg="Would back up database %s (%d bytes) and %d objects (%d bytes)"
                    % (summary["database"], summary["database_size"], summary["object_count"],
                       summary["object_bytes"]))
    result = run(plan)
    deleted, left = apply_retention(module, retention, plan.store, result["backup_id"], chosen) \
        if retention else ([], [])
    result.update(changed=True, deleted=deleted, retention_skipped=left, plan=summary)
    return result


# --- validate ----------------------------------------------------------------

def validate(params):
    """The retention the options ask for (None: applied by another step); ParameterError before anything is read."""
    check_database_access(params)
    set_key(params)
    retention = retention_of(params)
    for bucket in params["buckets"]:
        if not BUCKET_NAME.match(bucket or ""):
            raise ParameterError("Invalid bucket name %r in buckets" % bucket)
    if len(set(params["buckets"])) != len(params["buckets"]):
        raise ParameterError("buckets lists a bucket twice")
    parse_location(params["destination"])
    return retention if params["apply_retention"] else None


# --- plan --------------------------------------------------------------------

def make_plan(module):
    """(BackupPlan, whether the destination exists yet); reads, never writes."""
    params = module.params
    source = s3_utils.s3_connection(params)
    destination = s3_utils.location_connection(params, "destination")
    module.hide(destination.get("secret_key"))
    with failure_of("open backup destination"):
        store = open_store(params["destination"], destination)
        source_client = s3_utils.s3_client(source, max_pool_connections=params["workers"] + 4)
    plan = BackupPlan(params, store, source_client, db.postgres_access(params), set_key(params))
    plan.reader = object_reader(source, params["workers"] + 4)
    with failure_of("back up database %s" % params["database"]):
        server_major, plan.versions["postgresql_server"] = plan.pg.server_version()
        if plan.pg.where == "local":
            plan.pg.check_client("pg_dump", server_major, "the server")
        plan.database = db.describe_database(plan.pg, params["database"])
    try:
        plan.versions["mlflow_schema"] = db.schema_revision(plan.pg, params["database"])
    except StackError:
        plan.versions["mlflow_schema"] = None
        module.warn("Database %s has no alembic_version table: is it an MLflow database?" % params["database"])
    with failure_of("back up artifacts"):
        plan.listing = objects.list_buckets(source_client, params["buckets"])
        reachable = store.check_reachable()
    # Encrypted objects pass through here: a server-side copy would store them in the clear.
    plan.server_side = store.kind == "s3" and not params["encrypt"] and objects.same_account(source, destination)
    return plan, reachable


# --- run ---------------------------------------------------------------------

def run(plan):
    """Claim an id and write the set; an interrupted set is removed again."""
    store = plan.store
    with failure_of("write backup to %s" % store.url):
        store.ensure()
        backup_id = claim(store)
    try:
        with failure_of("back up to %s" % store.location_of(backup_id)):
            return write_set(plan, backup_id)
    except BaseException:
        # An interrupted set has no manifest and never counts; remove it now.
        discard(store, backup_id)
        raise


def claim(store):
    now = sets.utcnow()
    for sequence in range(0, 100):
        backup_id = sets.new_backup_id(now, sequence)
        if sequence == 1:
            continue
        if store.claim(backup_id):
            return backup_id
    raise BackupError("no free backup id for %s" % sets.new_backup_id(now))


def discard(store, backup_id):
    try:
        store.delete_set(backup_id)
    except Exception:  # pylint: disable=broad-except
        pass  # left incomplete: never listed as complete, and retention cleans it


def write_set(plan, backup_id):
    """Dump the database and copy the objects side by side, then seal the set."""
    objects_clock = time.time()
    # pg_dump and pg_restore are other processes; boto3 waits on sockets.
    with ThreadPoolExecutor(max_workers=1) as pool:
        dumping = pool.submit(dump_database, plan, backup_id)
        try:
            files, buckets, skipped = objects.backup_objects(
                plan.source_client, plan.params["buckets"], plan.store, backup_id, plan.server_side,
                plan.params["workers"], plan.config, listing=plan.listing, reader=plan.reader)
        except BaseException:
            # Let the dump end before the set is discarded; its own error is secondary.
            try:
                dumping.result()
            except Exception:  # pylint: disable=broad-except
                pass
            raise
        objects_seconds = time.time() - objects_clock
        dump = dumping.result()
    files.append(dict(path=dump["path"], size=dump["size"], sha256=dump["sha256"]))
    seconds = dict(database=dump["seconds"], objects=objects_seconds, total=time.time() - plan.clock)
    durations = rounded(**seconds)
    database = dict(name=plan.database["name"], owner=plan.database["owner"], encoding=plan.database["encoding"],
                    file=dump["path"], format="custom", pg_dump_major=dump["major"])
    manifest = sets.build_manifest(backup_id, plan.started, sets.utcnow(), plan.versions, database,
                                   buckets, files, durations, plan.key, this_stack(plan.params),
                                   seal.encryption_record() if plan.params["encrypt"] else None, skipped)
    # Every file is on disk before the manifest says the set is complete.
    plan.store.sync(backup_id)
    plan.store.write_bytes(backup_id, sets.MANIFEST, sets.serialize_manifest(manifest))
    return report(plan, backup_id, manifest, seconds)


def dump_database(plan, backup_id):
    """Stream the dump into the set; dict(path, size, sha256, major, seconds)."""
    clock = time.time()
    path = "database/%s.dump" % plan.database["name"]
    size, digest = plan.pg.dump(plan.database["name"], lambda reader: plan.store.write_stream(
        backup_id, path, reader, transfer_config=plan.config))
    _program, major, plan.versions["pg_dump"] = plan.pg.tool_version("pg_dump")
    if plan.params["validate_dump"] and plan.pg.where == "local":
        stream = plan.store.open_read(backup_id, path)
        try:
            plan.pg.validate(stream)
        finally:
            stream.close()
    return dict(path=path, size=size, sha256=digest, major=major, seconds=time.time() - clock)


# --- report ------------------------------------------------------------------

def report(plan, backup_id, manifest, seconds):
    """The module's result for a complete set; seconds are the unrounded durations."""
    totals = manifest["totals"]
    return dict(
        backup_id=backup_id, location=plan.store.location_of(backup_id), status="complete",
        database_bytes=totals["database_bytes"], object_count=totals["objects"],
        object_bytes=totals["object_bytes"], total_bytes=totals["bytes"],
        durations=manifest["durations"], server_side_copy=plan.server_side, versions=plan.versions,
        skipped_objects=totals["skipped_objects"], skipped=manifest["skipped"],
        encrypted=bool(manifest["encryption"]), stack=manifest["stack"], key_id=manifest["key_id"],
        throughput_mb_s=dict(total=rate(totals["bytes"], seconds["total"]),
                             database=rate(totals["database_bytes"], seconds["database"]),
                             objects=rate(totals["object_bytes"], seconds["objects"])),
    )

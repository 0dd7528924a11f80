# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the backup, restore and backup_info modules do, step by step."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    BackupError,
    ParameterError,
    PostgresError,
    StackError,
    failed_to,
)
from ansible_collections.mlops.stack.plugins.module_utils import s3 as s3_utils
from ansible_collections.mlops.stack.plugins.module_utils import _backup_set as sets
from ansible_collections.mlops.stack.plugins.module_utils import _objects as objects
from ansible_collections.mlops.stack.plugins.module_utils._pgdump import (
    postgres_access,
    quote_ident,
    quote_literal,
    tool_major,
)

COLLECTION_VERSION = "0.2.0"
MB = 1024.0 * 1024.0
SWAP_ATTEMPTS = 20
# pg_restore jobs for a dump kept in a directory (bounded by workers).
RESTORE_JOBS = 4
DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")


def require(module, library, import_error):
    """Fail as missing_required_lib does when a library the options need is absent."""
    if import_error is not None:
        module.fail_json(msg=missing_required_lib(library), exception=str(import_error))


def run_as(verb_object, action, module):
    """Run action(module); every expected failure reads "Failed to <verb_object>: ..."."""
    try:
        return action(module)
    except StackError as error:
        raise _failure(verb_object, error)


def _failure(verb_object, error):
    """error as a "Failed to <verb_object>: ..." error, unless it already is one."""
    if error.message.startswith("Failed to "):
        return error
    return error.__class__(failed_to(verb_object, error.message))


def _check_common(params, database_optional=False):
    if database_optional and params.get("database") is None:
        pass  # restore takes the name recorded in the set
    elif not DATABASE_NAME.match(params.get("database") or ""):
        raise ParameterError("Invalid database %r: use up to 63 letters, digits, _ or -"
                             % params.get("database"))
    if not 1 <= params["workers"] <= 64:
        raise ParameterError("Invalid workers %r: it must be between 1 and 64" % params["workers"])
    if params.get("pod") and params.get("pg_bindir"):
        raise ParameterError("pg_bindir applies to local client programs and cannot be used with pod")


def _rate(size, seconds):
    return round(size / MB / seconds, 2) if seconds > 0 else None


# --- backup ------------------------------------------------------------------

def _check_backup_params(params):
    _check_common(params)
    if params.get("keep_last") is not None and params["keep_last"] < 1:
        raise ParameterError("Invalid keep_last %r: it must be at least 1 (the newest "
                             "complete set is always kept)" % params["keep_last"])
    keep_within = sets.parse_duration(params["keep_within"]) if params.get("keep_within") else None
    grace = sets.parse_duration(params["incomplete_grace"], "incomplete_grace")
    for bucket in params["buckets"]:
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket or ""):
            raise ParameterError("Invalid bucket name %r in buckets" % bucket)
    if len(set(params["buckets"])) != len(params["buckets"]):
        raise ParameterError("buckets lists a bucket twice")
    sets.parse_location(params["destination"])
    return keep_within, grace


def _retention(store, params, keep_within, grace, exclude):
    if params.get("keep_last") is None and keep_within is None and grace is None:
        return []
    listed = [(info["id"], info["status"] == "complete") for info, _m in sets.list_sets(store)
              if info["id"] != exclude]
    if exclude:
        listed.append((exclude, True))
    return sets.select_for_deletion(listed, params.get("keep_last"), keep_within, grace)


def run_backup(module):
    params = module.params
    keep_within, grace = _check_backup_params(params)
    database = params["database"]
    source = s3_utils.s3_connection(params)
    destination = sets.location_connection(params, "destination")
    module.hide(destination.get("secret_key"))
    try:
        store = sets.open_store(params["destination"], destination)
        source_client = s3_utils.s3_client(source, max_pool_connections=params["workers"] + 4)
    except StackError as error:
        raise _failure("open backup destination", error)
    pg = postgres_access(params)

    started = sets.utcnow()
    clock = time.time()
    try:
        server_major, server_version = pg.server_version()
        if pg.where == "local":
            pg.check_client("pg_dump", server_major, "the server")
        rows = pg.query("SELECT pg_catalog.pg_get_userbyid(datdba), pg_catalog.pg_encoding_to_char(encoding), "
                        "pg_catalog.pg_database_size(datname) FROM pg_catalog.pg_database WHERE datname = %s"
                        % quote_literal(database))
    except StackError as error:
        raise _failure("back up database %s" % database, error)
    if not rows:
        raise PostgresError(failed_to("back up database %s" % database, "it does not exist"))
    owner, encoding, database_size = rows[0][0], rows[0][1], int(rows[0][2])
    try:
        schema = pg.query("SELECT version_num FROM alembic_version", dbname=database)
        schema_revision = schema[0][0] if schema else None
    except StackError:
        schema_revision = None
        module.warn("Database %s has no alembic_version table: is it an MLflow database?" % database)

    try:
        listing = []
        for bucket in params["buckets"]:
            if not objects.bucket_exists(source_client, bucket):
                raise BackupError("artifact bucket %s does not exist" % bucket)
            listing.append((bucket, objects.list_objects(source_client, bucket)))
        reachable = store.check_reachable()
    except StackError as error:
        raise _failure("back up artifacts", error)
    object_count = sum(len(items) for _b, items in listing)
    object_bytes = sum(o["Size"] for _b, items in listing for o in items)
    server_side = store.kind == "s3" and objects.same_account(source, destination)
    plan = dict(database=database, database_size=database_size, object_count=object_count,
                object_bytes=object_bytes, buckets=params["buckets"], server_side_copy=server_side)

    if module.check_mode:
        # Count the set this run would add, as the real run does.
        would_delete = _retention(store, params, keep_within, grace, sets.new_backup_id()) if reachable else []
        return dict(changed=True, backup_id=None, location=store.url, plan=plan, deleted=would_delete,
                    msg="Would back up database %s (%d bytes) and %d objects (%d bytes)"
                    % (database, database_size, object_count, object_bytes))

    try:
        store.ensure()
        backup_id = _claim(store)
    except StackError as error:
        raise _failure("write backup to %s" % store.url, error)

    try:
        result = _write_set(module, store, backup_id, pg, database, params, source_client,
                            server_side, started, clock,
                            dict(name=database, owner=owner, encoding=encoding),
                            dict(collection=COLLECTION_VERSION, postgresql_server=server_version,
                                 mlflow_schema=schema_revision), listing=listing)
    except StackError as error:
        # An interrupted set has no manifest and never counts; remove it now.
        _discard(store, backup_id)
        raise _failure("back up to %s" % store.location_of(backup_id), error)
    except BaseException:
        _discard(store, backup_id)
        raise

    try:
        deleted = _retention(store, params, keep_within, grace, backup_id)
        for doomed in deleted:
            store.delete_set(doomed)
    except StackError as error:
        raise _failure("apply retention at %s" % store.url, error)
    except Exception as error:  # pylint: disable=broad-except
        failure = s3_utils.is_s3_error(error) and s3_utils.describe_client_error(error)
        if not failure:
            raise
        raise BackupError(failed_to("apply retention at %s" % store.url, failure))
    result.update(changed=True, deleted=deleted, plan=plan)
    return result


def _claim(store):
    now = sets.utcnow()
    for sequence in range(0, 100):
        backup_id = sets.new_backup_id(now, sequence)
        if sequence == 1:
            continue
        if store.claim(backup_id):
            return backup_id
    raise BackupError("no free backup id for %s" % sets.new_backup_id(now))


def _discard(store, backup_id):
    try:
        store.delete_set(backup_id)
    except Exception:  # pylint: disable=broad-except
        pass  # left incomplete: never listed as complete, and retention cleans it


def _write_set(module, store, backup_id, pg, database, params, source_client, server_side,
               started, clock, database_info, versions, listing=None):
    config = objects.transfer_config(params["multipart_threshold_mb"], params["multipart_chunk_mb"])
    dump_path = "database/%s.dump" % database

    def sink(reader):
        if store.kind == "s3":
            return store.write_stream(backup_id, dump_path, reader, transfer_config=config)
        return store.write_stream(backup_id, dump_path, reader)

    def dump_database():
        dump_clock = time.time()
        dump_size, dump_sha = pg.dump(database, sink)
        _path, dump_major, dump_version = pg.tool_version("pg_dump")
        if params["validate_dump"] and pg.where == "local":
            stream = store.open_read(backup_id, dump_path)
            try:
                pg.validate(stream)
            finally:
                stream.close()
        return dump_size, dump_sha, dump_major, dump_version, time.time() - dump_clock

    # The dump and the object copies are independent: run them side by side
    # (pg_dump and pg_restore are other processes; boto3 waits on sockets).
    objects_clock = time.time()
    with ThreadPoolExecutor(max_workers=1) as pool:
        dumping = pool.submit(dump_database)
        try:
            files, buckets = objects.backup_objects(source_client, params["buckets"], store, backup_id,
                                                    server_side, params["workers"], config, listing=listing)
        except BaseException:
            # Let the dump end before the set is discarded; its own error is secondary.
            try:
                dumping.result()
            except Exception:  # pylint: disable=broad-except
                pass
            raise
        objects_seconds = time.time() - objects_clock
        dump_size, dump_sha, dump_major, dump_version, dump_seconds = dumping.result()
    versions["pg_dump"] = dump_version
    database_info.update(file=dump_path, format="custom", pg_dump_major=dump_major)
    files.append(dict(path=dump_path, size=dump_size, sha256=dump_sha))

    finished = sets.utcnow()
    total_seconds = time.time() - clock
    durations = dict(database=round(dump_seconds, 3), objects=round(objects_seconds, 3),
                     total=round(total_seconds, 3))
    manifest = sets.build_manifest(backup_id, started, finished, versions, database_info,
                                   buckets, files, durations)
    store.write_bytes(backup_id, sets.MANIFEST, sets.serialize_manifest(manifest))
    totals = manifest["totals"]
    return dict(
        backup_id=backup_id, location=store.location_of(backup_id), status="complete",
        database_bytes=totals["database_bytes"], object_count=totals["objects"],
        object_bytes=totals["object_bytes"], total_bytes=totals["bytes"],
        durations=durations, server_side_copy=server_side, versions=versions,
        throughput_mb_s=dict(total=_rate(totals["bytes"], total_seconds),
                             database=_rate(totals["database_bytes"], dump_seconds),
                             objects=_rate(totals["object_bytes"], objects_seconds)),
    )


# --- restore -----------------------------------------------------------------

def run_restore(module):
    params = module.params
    _check_common(params, database_optional=True)
    wanted = params["backup_id"]
    if wanted != "latest":
        sets.id_sort_key(wanted)
    sets.parse_location(params["source"], "source")
    target = s3_utils.s3_connection(params)
    source = sets.location_connection(params, "source")
    module.hide(source.get("secret_key"))
    try:
        store = sets.open_store(params["source"], source, option="source")
        target_client = s3_utils.s3_client(target, max_pool_connections=params["workers"] + 4)
        if not store.check_reachable():
            raise BackupError("%s does not exist" % store.url)
        backup_id, manifest = sets.resolve_set(store, wanted)
    except StackError as error:
        raise _failure("read backup set %s from %s" % (wanted, params["source"]), error)

    verify_clock = time.time()
    problems = sets.verify_files(store, backup_id, manifest["files"], params["workers"])
    if problems:
        raise BackupError(failed_to(
            "verify backup set %s" % backup_id,
            "%d file(s) damaged, nothing was changed: %s" % (len(problems), "; ".join(problems[:3]))))
    verify_seconds = time.time() - verify_clock

    database = params.get("database") or manifest["database"]["name"]
    bucket_map = dict(params.get("bucket_map") or {})
    set_buckets = [b["name"] for b in manifest.get("buckets", [])]
    unknown = sorted(set(bucket_map) - set(set_buckets))
    if unknown:
        raise ParameterError(failed_to("restore backup set %s" % backup_id,
                                       "bucket_map names buckets the set does not hold: %s" % ", ".join(unknown)))
    pg = postgres_access(params)
    dump_major = manifest["database"].get("pg_dump_major") or tool_major(
        "(PostgreSQL) %s" % manifest.get("versions", {}).get("pg_dump", "0"))
    try:
        if pg.where == "local":
            pg.check_client("pg_restore", dump_major, "the dump's pg_dump")
        exists = bool(pg.query("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s" % quote_literal(database)))
        holds_data = exists and bool(pg.query(
            "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%' LIMIT 1", dbname=database))
        owner = manifest["database"].get("owner")
        if owner and not pg.query("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s" % quote_literal(owner)):
            raise PostgresError("role %s, owner of the backed up database, does not exist" % owner)
        busy = []
        for bucket in set_buckets:
            name = bucket_map.get(bucket, bucket)
            if objects.bucket_holds_data(target_client, name):
                busy.append(name)
    except StackError as error:
        raise _failure("restore backup set %s" % backup_id, error)
    occupied = (["database %s" % database] if holds_data else []) + ["bucket %s" % b for b in busy]
    if occupied and not params["force"]:
        raise BackupError(failed_to("restore backup set %s" % backup_id,
                                    "%s already hold(s) data; set force=true to replace it"
                                    % " and ".join(occupied)))
    totals = manifest["totals"]
    result = dict(backup_id=backup_id, location=store.location_of(backup_id), database=database,
                  buckets=[bucket_map.get(b, b) for b in set_buckets], object_count=totals["objects"],
                  object_bytes=totals["object_bytes"], database_bytes=totals["database_bytes"],
                  verified_files=len(manifest["files"]), replaced=occupied,
                  versions=manifest.get("versions", {}))
    if module.check_mode:
        result.update(changed=True, msg="Backup set %s verified; would restore %s" % (backup_id, database))
        return result

    config = objects.transfer_config(params["multipart_threshold_mb"], params["multipart_chunk_mb"])
    clock = time.time()
    try:
        _restore_database(pg, store, backup_id, manifest, database, exists, dump_major,
                          jobs=min(RESTORE_JOBS, params["workers"]))
    except StackError as error:
        raise _failure("restore database %s from %s" % (database, backup_id), error)
    database_seconds = time.time() - clock

    objects_clock = time.time()
    deleted = 0
    server_side = store.kind == "s3" and objects.same_account(source, target)
    try:
        entries = [f for f in manifest["files"] if f["path"].startswith("objects/")]
        for bucket in set_buckets:
            objects.create_bucket(target_client, bucket_map.get(bucket, bucket))
        objects.restore_objects(store, backup_id, entries, target_client, bucket_map, server_side,
                                params["workers"], config)
        if params["force"]:
            for bucket in set_buckets:
                keep = set(sets.key_from_path(f["path"])[1] for f in entries if f.get("bucket", bucket) == bucket)
                deleted += objects.delete_extra_objects(target_client, bucket_map.get(bucket, bucket), keep)
    except StackError as error:
        raise _failure("restore artifacts from %s" % backup_id, error)
    objects_seconds = time.time() - objects_clock
    total_seconds = time.time() - clock + verify_seconds
    result.update(
        changed=True, deleted_objects=deleted, server_side_copy=server_side,
        durations=dict(verify=round(verify_seconds, 3), database=round(database_seconds, 3),
                       objects=round(objects_seconds, 3), total=round(total_seconds, 3)),
        throughput_mb_s=dict(total=_rate(totals["bytes"], total_seconds),
                             objects=_rate(totals["object_bytes"], objects_seconds)),
    )
    return result


def _restore_database(pg, store, backup_id, manifest, database, exists, dump_major, jobs=1):
    """Restore into a fresh database, then swap it in by renaming.

    Until the rename the previous database is untouched, so a restore that
    fails midway leaves it as it was.
    """
    info = manifest["database"]
    suffix = backup_id.lower().replace("-", "_")
    staging = ("%s__restore_%s" % (database, suffix))[-63:]
    previous = ("%s__previous_%s" % (database, suffix))[-63:]
    options = " TEMPLATE template0"
    if info.get("owner"):
        options += " OWNER %s" % quote_ident(info["owner"])
    if info.get("encoding"):
        options += " ENCODING %s" % quote_literal(info["encoding"])
    pg.execute(["DROP DATABASE IF EXISTS %s" % quote_ident(staging)])
    pg.execute(["CREATE DATABASE %s%s" % (quote_ident(staging), options)])
    entry = [f for f in manifest["files"] if f["path"] == info["file"]][0]
    # A dump in a directory goes to a local pg_restore as a file, so it can use jobs.
    dump_file = store.local_path(backup_id, info["file"]) if pg.where == "local" else None
    stream = store.open_read(backup_id, info["file"])
    try:
        pg.restore(staging, stream, entry["size"], dump_major, dump_file=dump_file, jobs=jobs)
    except StackError:
        _drop_quietly(pg, staging)
        raise
    finally:
        stream.close()
    if not exists:
        pg.execute(["ALTER DATABASE %s RENAME TO %s" % (quote_ident(staging), quote_ident(database))])
        return
    pg.execute(["ALTER DATABASE %s ALLOW_CONNECTIONS false" % quote_ident(database)])
    try:
        for attempt in range(SWAP_ATTEMPTS):
            pg.query("SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
                     "WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid()" % quote_literal(database))
            try:
                pg.execute(["ALTER DATABASE %s RENAME TO %s" % (quote_ident(database), quote_ident(previous)),
                            "ALTER DATABASE %s RENAME TO %s" % (quote_ident(staging), quote_ident(database))])
                break
            except PostgresError as error:
                # Terminated sessions take a moment to go away.
                if "being accessed by other users" not in error.message or attempt == SWAP_ATTEMPTS - 1:
                    raise
                time.sleep(0.5)
    except StackError:
        pg.execute(["ALTER DATABASE %s ALLOW_CONNECTIONS true" % quote_ident(database)])
        _drop_quietly(pg, staging)
        raise
    _drop_quietly(pg, previous)


def _drop_quietly(pg, name):
    try:
        pg.execute(["DROP DATABASE IF EXISTS %s" % quote_ident(name)])
    except StackError:
        pass


# --- backup_info -------------------------------------------------------------

def run_backup_info(module):
    params = module.params
    sets.parse_location(params["destination"])
    if not 1 <= params["workers"] <= 64:
        raise ParameterError("Invalid workers %r: it must be between 1 and 64" % params["workers"])
    if params.get("backup_id") and params["backup_id"] != "latest":
        sets.id_sort_key(params["backup_id"])
    destination = sets.location_connection(params, "destination")
    module.hide(destination.get("secret_key"))
    try:
        store = sets.open_store(params["destination"], destination)
        reachable = store.check_reachable()
        described = sets.list_sets(store) if reachable else []
    except StackError as error:
        raise _failure("list backup sets at %s" % params["destination"], error)
    complete = [info["id"] for info, _m in described if info["status"] == "complete"]
    latest = complete[-1] if complete else None
    wanted = params.get("backup_id")
    if wanted == "latest":
        wanted = latest
    if params.get("backup_id"):
        described = [(info, m) for info, m in described if info["id"] == wanted]
        if not described:
            raise BackupError(failed_to("describe backup set %s" % params["backup_id"],
                                        "no such set at %s" % store.url))
    backups = []
    for info, manifest in described:
        if params["verify"] and manifest is not None:
            problems = sets.verify_files(store, info["id"], manifest["files"], params["workers"])
            info["verified"] = not problems
            if problems:
                info.update(status="damaged", reason="; ".join(problems[:3]))
        backups.append(info)
    return dict(changed=False, location=store.url, backups=backups, latest=latest,
                complete_count=len([b for b in backups if b["status"] == "complete"]))

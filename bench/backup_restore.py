#!/usr/bin/env python
"""Benchmark: mlops.stack.backup/restore against mc mirror + pg_dump/pg_restore.

Starts its own PostgreSQL, MinIO and MLflow server (tests/integration/services.py),
fills MLflow with real runs (params, metrics, tags) and the artifact bucket with
--objects objects totalling --gib GiB, then times in one run:

  backup   mlops.stack.backup to a directory      vs  mc mirror bucket->dir + pg_dump -Fc
  restore  mlops.stack.restore --force from it     vs  mc mirror dir->bucket + pg_restore

and prints throughput ratios (ours / baseline; above 1 means faster). The
module runs through ansible-playbook, so its end-to-end figures include
Ansible's start-up (about 3 s here); the module-only figures are the module's
own ``durations.total`` (backup: from the first database query to the
manifest; restore: verification, database and objects). Both are reported.
--repeat runs every step that many times and reports min, median and max.
--compare-encryption also times our backup and restore with encryption off
(encrypt=false: sets signed only), on the same data in the same run, and
reports both ("security" in the report).

    .tools/venv/bin/python bench/backup_restore.py --gib 1 --objects 1000 --repeat 3
"""

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

from services import TOOLS_BIN, MinioServer, MlflowServer, PostgresServer, run_module  # noqa: E402

MIB = 1024 * 1024
# The key the benchmark's sets are signed (and encrypted) with; never a real one.
BENCH_KEY = "benchmark-backup-key-" + "0" * 32


def timed(function, *args, **kwargs):
    start = time.monotonic()
    result = function(*args, **kwargs)
    return time.monotonic() - start, result


def fill_mlflow(server, runs):
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=server.url)
    experiment = client.create_experiment("bench")
    run_ids = []
    for index in range(runs):
        run_id = client.create_run(experiment, run_name="bench-%d" % index).info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric("loss", 1.0 / (step + 1), now, step) for step in range(100)]
        metrics += [Metric("accuracy", step / 100.0, now, step) for step in range(100)]
        params = [Param("p%d" % p, str(p * index)) for p in range(10)]
        client.log_batch(run_id, metrics=metrics, params=params, tags=[RunTag("bench", "yes")])
        client.set_terminated(run_id)
        run_ids.append(run_id)
    return experiment, run_ids


def fill_bucket(minio, bucket, experiment, run_ids, objects, total_bytes):
    """objects objects of about total_bytes, under MLflow's artifact layout.

    A few objects are big (multipart territory); the rest share the remainder.
    """
    big = 4
    big_size = min(64 * MIB, total_bytes // 8)
    small_size = (total_bytes - big * big_size) // (objects - big)
    client = minio.client()
    block = os.urandom(8 * MIB)

    def put(index):
        size = big_size if index < big else small_size
        # Distinct content per object without paying for urandom on every byte.
        body = (hashlib.sha256(str(index).encode()).digest() + block)[:size]
        if len(body) < size:
            body = (body * (size // len(body) + 1))[:size]
        key = "%s/%s/artifacts/blob-%05d.bin" % (experiment, run_ids[index % len(run_ids)], index)
        client.put_object(Bucket=bucket, Key=key, Body=body)
        return size

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sum(pool.map(put, range(objects)))


def spread(values):
    ordered = sorted(values)
    return dict(min=round(ordered[0], 2), median=round(ordered[len(ordered) // 2], 2),
                max=round(ordered[-1], 2), all=[round(v, 2) for v in values])


def ratios(baseline, ours):
    """Throughput ratios baseline/ours of each repetition, paired in order."""
    return spread([b / o for b, o in zip(baseline, ours)])


def module_step(name, args, into, label):
    """Run one module, record its end-to-end and module-only seconds in into; return its result."""
    seconds, result = timed(run_module, name, args)
    if result["failed"]:
        raise RuntimeError("%s (%s) failed: %s" % (name, label, result["msg"]))
    into[name].append(seconds)
    into[name + "_module"].append(result["durations"]["total"])
    print("module %s, %s: %.1fs (%s)" % (name, label, seconds, json.dumps(result["durations"])), flush=True)
    return result


def encryption_report(mib, encrypted, plain):
    """Best MiB/s of our backup and restore, signed and encrypted against signed only."""
    def rates(times):
        return dict((name + "_mib_s", round(mib / min(times[step]), 1)) for name, step in (
            ("backup_module", "backup_module"), ("backup_end_to_end", "backup"),
            ("restore_module", "restore_module"), ("restore_end_to_end", "restore")))
    return dict(signed_and_encrypted=rates(encrypted), signed_only=rates(plain))


def run(command, env=None):
    completed = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               check=False)
    if completed.returncode != 0:
        raise RuntimeError("%s failed: %s" % (command[0], completed.stdout.decode()[-2000:]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1, help="times to run each step")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--compare-encryption", action="store_true",
                        help="also time backup and restore with encryption off")
    options = parser.parse_args()

    base = tempfile.mkdtemp(prefix="mlops-stack-bench-")
    os.chmod(base, 0o755)
    services = []
    try:
        pg_base = os.path.join(base, "pg")
        os.makedirs(pg_base)
        postgres = PostgresServer(pg_base).start()
        services.append(postgres)
        minio = MinioServer(os.path.join(base, "minio")).start()
        services.append(minio)
        import psycopg
        with psycopg.connect(postgres.uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE mlflow")
        minio.client().create_bucket(Bucket="mlflow")
        mlflow_dir = os.path.join(base, "mlflow")
        os.makedirs(mlflow_dir)
        server = MlflowServer(mlflow_dir, postgres, minio).start()
        services.append(server)

        with contextlib.redirect_stdout(io.StringIO()):  # MLflow prints a line per run
            seconds, (experiment, run_ids) = timed(fill_mlflow, server, options.runs)
        print("filled MLflow with %d runs in %.1fs" % (len(run_ids), seconds), flush=True)
        seconds, total = timed(fill_bucket, minio, "mlflow", experiment, run_ids, options.objects,
                               int(options.gib * 1024 * MIB))
        print("filled bucket with %d objects, %.2f GiB in %.1fs" % (options.objects, total / 1024.0 / MIB, seconds),
              flush=True)
        server.stop()

        bindir = postgres.bindir
        env = dict(os.environ, PGPASSWORD=postgres.password,
                   MC_HOST_bench="http://%s:%s@127.0.0.1:%d" % (minio.access_key, minio.secret_key, minio.port),
                   MC_CONFIG_DIR=os.path.join(base, "mc"))
        mc = os.path.join(TOOLS_BIN, "mc")
        target = ["-h", postgres.host, "-p", str(postgres.port), "-U", postgres.user]

        module_args = dict(minio.connection_args(), **postgres.connection_args())
        module_args.update(database="mlflow", buckets=["mlflow"], workers=options.workers, key=BENCH_KEY,
                           stack_id="bench")
        restore_args = dict(module_args, force=True)
        restore_args.pop("buckets")

        def wipe():
            with psycopg.connect(postgres.uri(), autocommit=True) as conn:
                conn.execute("DROP DATABASE IF EXISTS mlflow WITH (FORCE)")
            run([mc, "rm", "--recursive", "--force", "--quiet", "bench/mlflow"], env)

        times = dict(baseline_backup=[], backup=[], backup_module=[],
                     baseline_restore=[], restore=[], restore_module=[], verify=[])
        plain = dict(backup=[], backup_module=[], restore=[], restore_module=[])

        def plain_round_trip(repetition):
            """Our backup and restore with encryption off, on the same data."""
            plain_dir = os.path.join(base, "plain-%d" % repetition)
            module_step("backup", dict(module_args, destination=plain_dir, encrypt=False), plain, "encryption off")
            wipe()
            module_step("restore", dict(restore_args, source=plain_dir), plain, "encryption off")
            shutil.rmtree(plain_dir, ignore_errors=True)

        for repetition in range(options.repeat):
            # --- backup -------------------------------------------------------
            baseline_dir = os.path.join(base, "baseline-%d" % repetition)
            os.makedirs(baseline_dir)

            def baseline_backup():
                run([mc, "mirror", "--quiet", "bench/mlflow", os.path.join(baseline_dir, "objects")], env)
                run([os.path.join(bindir, "pg_dump"), "-Fc", "-f", os.path.join(baseline_dir, "mlflow.dump")]
                    + target + ["-d", "mlflow"], env)

            seconds, _result = timed(baseline_backup)
            times["baseline_backup"].append(seconds)
            print("baseline backup: %.1fs" % seconds, flush=True)

            sets_dir = os.path.join(base, "sets-%d" % repetition)
            result = module_step("backup", dict(module_args, destination=sets_dir), times, "signed and encrypted")
            set_bytes = result["total_bytes"]

            # --- restore ------------------------------------------------------
            def baseline_restore():
                with psycopg.connect(postgres.uri(), autocommit=True) as conn:
                    conn.execute("CREATE DATABASE mlflow")
                run([os.path.join(bindir, "pg_restore"), "--exit-on-error"] + target
                    + ["-d", "mlflow", os.path.join(baseline_dir, "mlflow.dump")], env)
                run([mc, "mirror", "--quiet", os.path.join(baseline_dir, "objects"), "bench/mlflow"], env)

            wipe()
            seconds, _result = timed(baseline_restore)
            times["baseline_restore"].append(seconds)
            print("baseline restore: %.1fs" % seconds, flush=True)
            wipe()
            restored = module_step("restore", dict(restore_args, source=sets_dir), times, "signed and encrypted")
            times["verify"].append(restored["durations"]["verify"])
            shutil.rmtree(baseline_dir, ignore_errors=True)
            if options.compare_encryption:
                plain_round_trip(repetition)
            if repetition < options.repeat - 1:
                shutil.rmtree(sets_dir, ignore_errors=True)

        server.start()
        from mlflow.tracking import MlflowClient
        back = len(MlflowClient(tracking_uri=server.url).search_runs([experiment], max_results=10000))
        assert back == len(run_ids), "restored %d runs of %d" % (back, len(run_ids))

        mib = set_bytes / float(MIB)

        def step(name):
            baseline, ours, module = (times["baseline_%s" % name], times[name], times["%s_module" % name])
            return dict(
                baseline_s=spread(baseline), end_to_end_s=spread(ours), module_s=spread(module),
                baseline_mib_s=round(mib / min(baseline), 1), end_to_end_mib_s=round(mib / min(ours), 1),
                module_mib_s=round(mib / min(module), 1),
                ratio_end_to_end=ratios(baseline, ours), ratio_module=ratios(baseline, module))

        report = dict(
            objects=options.objects, object_gib=round(total / 1024.0 / MIB, 3), runs=len(run_ids),
            set_mib=round(mib, 1), workers=options.workers, repeat=options.repeat,
            load_average=[round(v, 2) for v in os.getloadavg()],
            backup=step("backup"), restore=dict(step("restore"), verify_s=spread(times["verify"])),
        )
        # Encryption on against off, same data, same run (--compare-encryption).
        report["security"] = encryption_report(mib, times, plain) if plain["backup"] else None
        print(json.dumps(report, indent=2))
        results = os.path.join(REPO, "bench", "results")
        os.makedirs(results, exist_ok=True)
        with open(os.path.join(results, "backup_restore.json"), "w") as handle:
            json.dump(report, handle, indent=2)
    finally:
        for service in reversed(services):
            service.stop()
        if not options.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

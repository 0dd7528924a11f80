#!/usr/bin/env python
"""Benchmark: ways of moving many objects between MinIO and Python, against mc mirror.

Starts its own MinIO (tests/integration/services.py), fills a bucket with
--objects objects totalling --gib GiB (bench/backup_restore.py's fill_bucket: a
few big ones, the rest equal), then times in one run, on the same data,
each candidate for the two directions of a backup set kept in a directory:

  download  every object of the bucket into a directory, each file hashed
            (sha256) on the way, written 0600 and fsynced, the digest checked
            against the one computed when the bucket was filled;
  upload    every file back into an empty bucket, each PUT carrying its sha256
            in the signed x-amz-checksum-sha256 header (the server refuses a body
            that does not match), or the candidate's own checksum when it has no
            way to send a given one.

Candidates (each skipped with the reason when its library is missing):

  today          the collection's objects.backup_objects and objects.restore_objects
                 on botocore (thread pools of --workers), as before the minio reader
  module         the same with the backup's minio reader (object_reader), as the
                 backup module now reads objects; the upload is today's
  processes      botocore in --processes worker processes, each with its own
                 client and --workers // processes threads
  crt            the AWS Common Runtime S3 client (awscrt, boto3's crt extra),
                 driven directly: boto3's CRT transfer manager ignores endpoint_url
  obstore        obstore (Rust object_store) on a thread pool
  minio          the minio client (urllib3), already in the execution environment

and `mc mirror` (.tools/bin/mc) as the baseline. Ratio = mc time / candidate time
(above 1: faster than mc). Results also land in bench/results/object_path.json.

    .venv-with-candidates/bin/python bench/object_path.py --gib 1 --objects 1000 --workers 16
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from backup_restore import fill_bucket  # noqa: E402

from services import TOOLS_BIN, MinioServer  # noqa: E402

MIB = 1024 * 1024
CHUNK = MIB
BUCKET = "bench"


# --- the sink every download candidate writes through ------------------------

class FileSink(object):
    """A 0600 file that hashes what is written to it; close() fsyncs it."""

    def __init__(self, path):
        self.path = path
        self.handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, chunk):
        self.sha256.update(chunk)
        self.size += len(chunk)
        self.handle.write(chunk)

    def close(self):
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return self.size, self.sha256.hexdigest()


def sink_stream(path, read):
    sink = FileSink(path)
    while True:
        chunk = read(CHUNK)
        if not chunk:
            return sink.close()
        sink.write(chunk)


def local_name(directory, key):
    return os.path.join(directory, key.replace("/", "%2F"))


def checksum_header(hex_digest):
    return base64.b64encode(binascii.unhexlify(hex_digest)).decode("ascii")


def pool_map(function, items, workers):
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


# --- candidates ----------------------------------------------------------------

def collection_modules():
    """The collection's objects, stores and s3 modules, importable from a scratch path."""
    if not any(path.endswith("-bench-collections") for path in sys.path):
        scratch = tempfile.mkdtemp(suffix="-bench-collections")
        os.makedirs(os.path.join(scratch, "ansible_collections", "mlops"))
        os.symlink(REPO, os.path.join(scratch, "ansible_collections", "mlops", "stack"))
        sys.path.insert(0, scratch)
    from ansible_collections.mlops.stack.plugins.module_utils import s3
    from ansible_collections.mlops.stack.plugins.module_utils._backup import objects, stores
    return objects, stores, s3


def collection_client(connection, pool=16):
    """The botocore client the modules build (s3.s3_client), for the same connection."""
    _objects, _stores, s3 = collection_modules()
    return s3.s3_client(dict(endpoint_url=connection["endpoint"], access_key=connection["access_key"],
                             secret_key=connection["secret_key"], region="us-east-1"),
                        max_pool_connections=pool + 4)


def _collection_download(ctx, objects_list, directory, reader):
    objects, stores, _s3 = collection_modules()
    store = stores.DirectoryStore(directory)
    store.ensure()
    store.claim("set")
    files, _summaries, _skipped = objects.backup_objects(
        collection_client(ctx["connection"], ctx["workers"]), [BUCKET], store, "set", False, ctx["workers"],
        objects.transfer_config(), listing=[(BUCKET, objects_list)], reader=reader)
    ctx["collection_files"] = files
    return dict((f["key"], (f["size"], f["sha256"])) for f in files)


def today_download(ctx, objects_list, directory):
    return _collection_download(ctx, objects_list, directory, None)


def module_download(ctx, objects_list, directory):
    from ansible_collections.mlops.stack.plugins.module_utils._backup.object_reader import object_reader
    connection = ctx["connection"]
    reader = object_reader(dict(endpoint_url=connection["endpoint"], access_key=connection["access_key"],
                                secret_key=connection["secret_key"], region="us-east-1"), ctx["workers"] + 4)
    return _collection_download(ctx, objects_list, directory, reader)


def today_upload(ctx, objects_list, directory, bucket):
    objects, stores, _s3 = collection_modules()
    files = ctx.get("collection_files")
    if files is None:
        raise RuntimeError("needs the collection's download first")
    objects.restore_objects(stores.DirectoryStore(directory), "set", files,
                            collection_client(ctx["connection"], ctx["workers"]), {BUCKET: bucket},
                            False, ctx["workers"], objects.transfer_config())


def _process_download(args):
    connection, keys, directory, threads = args
    client = collection_client(connection, threads)

    def one(key):
        body = client.get_object(Bucket=BUCKET, Key=key)["Body"]
        try:
            return key, sink_stream(local_name(directory, key), body.read)
        finally:
            body.close()
    return pool_map(one, keys, threads)


def _process_upload(args):
    connection, items, directory, bucket, threads = args
    objects, _stores, _s3 = collection_modules()
    client = objects.sign_checksummed_bodies_once(collection_client(connection, threads))

    def one(item):
        key, digest = item
        with open(local_name(directory, key), "rb") as handle:
            client.put_object(Bucket=bucket, Key=key, Body=handle, ChecksumSHA256=checksum_header(digest))
    pool_map(one, items, threads)
    return len(items)


def _shares(items, count):
    return [items[index::count] for index in range(count)]


def processes_download(ctx, objects_list, directory):
    count = ctx["processes"]
    threads = max(1, ctx["workers"] // count)
    keys = [o["Key"] for o in objects_list]
    with ProcessPoolExecutor(max_workers=count) as pool:
        parts = pool.map(_process_download, [(ctx["connection"], share, directory, threads)
                                             for share in _shares(keys, count)])
        return dict(pair for part in parts for pair in part)


def processes_upload(ctx, objects_list, directory, bucket):
    count = ctx["processes"]
    threads = max(1, ctx["workers"] // count)
    items = [(o["Key"], ctx["expected"][o["Key"]][1]) for o in objects_list]
    with ProcessPoolExecutor(max_workers=count) as pool:
        list(pool.map(_process_upload, [(ctx["connection"], share, directory, bucket, threads)
                                        for share in _shares(items, count)]))


def _crt_client(ctx):
    from awscrt.auth import AwsCredentialsProvider
    from awscrt.io import ClientBootstrap, DefaultHostResolver, EventLoopGroup
    from awscrt.s3 import S3Client, S3RequestTlsMode
    connection = ctx["connection"]
    loops = EventLoopGroup(ctx["processes"])
    bootstrap = ClientBootstrap(loops, DefaultHostResolver(loops))
    credentials = AwsCredentialsProvider.new_static(connection["access_key"], connection["secret_key"])
    # One PUT or ranged-GET part per 64 MiB: today's threshold for multipart.
    return S3Client(bootstrap=bootstrap, region="us-east-1", tls_mode=S3RequestTlsMode.DISABLED,
                    credential_provider=credentials, part_size=64 * MIB,
                    multipart_upload_threshold=5 * 1024 * MIB, throughput_target_gbps=10.0)


def _crt_run(ctx, make_requests):
    """Run make_requests(client, limit) and wait for every request it started."""
    client = _crt_client(ctx)
    permits = ctx["workers"] * 4
    limit = threading.BoundedSemaphore(permits)
    requests = make_requests(client, limit)
    for request in requests:
        request.finished_future.result()
    # finished_future may resolve before on_done has run: wait for every on_done.
    for _permit in range(permits):
        limit.acquire()


def crt_download(ctx, objects_list, directory):
    from awscrt.http import HttpHeaders, HttpRequest
    from awscrt.s3 import S3RequestType
    host = ctx["connection"]["host"]
    results = {}

    def make_requests(client, limit):
        started = []
        for obj in objects_list:
            limit.acquire()
            sink = FileSink(local_name(directory, obj["Key"]))

            def on_body(chunk, offset, sink=sink, **_kwargs):
                sink.write(chunk)

            def on_done(error=None, status_code=None, key=obj["Key"], sink=sink, **_kwargs):
                try:
                    digest = sink.close()
                    if error is None and status_code == 200:
                        results[key] = digest
                finally:
                    limit.release()

            request = HttpRequest("GET", "/%s/%s" % (BUCKET, obj["Key"]), HttpHeaders([("Host", host)]))
            started.append(client.make_request(type=S3RequestType.GET_OBJECT, request=request,
                                               on_body=on_body, on_done=on_done))
        return started

    _crt_run(ctx, make_requests)
    return results


def crt_upload(ctx, objects_list, directory, bucket):
    from awscrt.http import HttpHeaders, HttpRequest
    from awscrt.s3 import S3RequestType
    host = ctx["connection"]["host"]
    failures = []

    def make_requests(client, limit):
        started = []
        for obj in objects_list:
            limit.acquire()
            headers = HttpHeaders([("Host", host), ("Content-Length", str(obj["Size"])),
                                   ("Content-Type", "application/octet-stream"),
                                   ("x-amz-checksum-sha256", checksum_header(ctx["expected"][obj["Key"]][1]))])
            request = HttpRequest("PUT", "/%s/%s" % (bucket, obj["Key"]), headers)

            def on_done(error=None, status_code=None, key=obj["Key"], **_kwargs):
                if error is not None or status_code != 200:
                    failures.append((key, error, status_code))
                limit.release()

            started.append(client.make_request(type=S3RequestType.PUT_OBJECT, request=request,
                                               send_filepath=local_name(directory, obj["Key"]),
                                               on_done=on_done))
        return started

    _crt_run(ctx, make_requests)
    if failures:
        raise RuntimeError("crt upload failed: %r" % failures[:3])


def _obstore(ctx, bucket, checksum):
    from obstore.store import S3Store
    connection = ctx["connection"]
    config = dict(endpoint=connection["endpoint"], access_key_id=connection["access_key"],
                  secret_access_key=connection["secret_key"], region="us-east-1",
                  virtual_hosted_style_request=False)
    if checksum:
        # obstore cannot send a given sha256: it computes one per PUT itself, and
        # then signs the payload unhashed (the checksum header protects it).
        config.update(checksum_algorithm="sha256", unsigned_payload=True)
    return S3Store(bucket, config=config, client_options=dict(allow_http=True, pool_max_idle_per_host="64"))


def obstore_download(ctx, objects_list, directory):
    import obstore
    store = _obstore(ctx, BUCKET, False)

    def one(obj):
        sink = FileSink(local_name(directory, obj["Key"]))
        for chunk in obstore.get(store, obj["Key"]).stream(min_chunk_size=CHUNK):
            sink.write(chunk)
        return obj["Key"], sink.close()
    return dict(pool_map(one, objects_list, ctx["workers"]))


def obstore_upload(ctx, objects_list, directory, bucket):
    import obstore
    store = _obstore(ctx, bucket, True)

    def one(obj):
        with open(local_name(directory, obj["Key"]), "rb") as handle:
            obstore.put(store, obj["Key"], handle, use_multipart=obj["Size"] > 64 * MIB, chunk_size=16 * MIB)
    pool_map(one, objects_list, ctx["workers"])


def _minio(ctx):
    import minio
    import urllib3
    connection = ctx["connection"]
    pool = urllib3.PoolManager(maxsize=ctx["workers"], retries=urllib3.Retry(total=3, backoff_factor=0.2))
    return minio.Minio(connection["host"], access_key=connection["access_key"],
                       secret_key=connection["secret_key"], secure=False, region="us-east-1", http_client=pool)


def minio_download(ctx, objects_list, directory):
    client = _minio(ctx)

    def one(obj):
        response = client.get_object(BUCKET, obj["Key"])
        try:
            return obj["Key"], sink_stream(local_name(directory, obj["Key"]), response.read)
        finally:
            response.close()
            response.release_conn()
    return dict(pool_map(one, objects_list, ctx["workers"]))


def minio_upload(ctx, objects_list, directory, bucket):
    client = _minio(ctx)

    def one(obj):
        digest = ctx["expected"][obj["Key"]][1]
        with open(local_name(directory, obj["Key"]), "rb") as handle:
            client.put_object(bucket, obj["Key"], handle, obj["Size"], part_size=64 * MIB,
                              metadata={"x-amz-checksum-sha256": checksum_header(digest)})
    pool_map(one, objects_list, ctx["workers"])


CANDIDATES = dict(
    today=(today_download, today_upload, "boto3"),
    module=(module_download, today_upload, "minio"),
    processes=(processes_download, processes_upload, "boto3"),
    crt=(crt_download, crt_upload, "awscrt"),
    obstore=(obstore_download, obstore_upload, "obstore"),
    minio=(minio_download, minio_upload, "minio"),
)


# --- filling, checking, timing -------------------------------------------------

def bucket_digests(client, bucket):
    """{key: (size, sha256)} of every object of bucket, read back and hashed here."""
    def one(key):
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        digest = hashlib.sha256()
        size = 0
        for chunk in iter(lambda: body.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
        return key, (size, digest.hexdigest())
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    return dict(pool_map(one, keys, 8))


def check_bucket(client, bucket, expected):
    """Every expected object is in bucket with its size and sha256, and nothing else."""
    got = bucket_digests(client, bucket)
    if got != expected:
        wrong = [k for k in set(expected) | set(got) if got.get(k) != expected.get(k)]
        raise RuntimeError("%d objects differ in %s, e.g. %s" % (len(wrong), bucket, wrong[:3]))


def empty_bucket(client, bucket):
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket):
        keys = [dict(Key=o["Key"]) for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete=dict(Objects=keys, Quiet=True))


def cpu_seconds():
    """CPU of this process and its reaped children (the processes candidate's workers)."""
    own = os.times()
    return own.user + own.system + own.children_user + own.children_system


def timed(function, *args):
    start, cpu = time.monotonic(), cpu_seconds()
    result = function(*args)
    return time.monotonic() - start, cpu_seconds() - cpu, result


def spread(values):
    ordered = sorted(values)
    return dict(min=round(ordered[0], 2), median=round(ordered[len(ordered) // 2], 2), max=round(ordered[-1], 2))


def available(library):
    try:
        __import__(library)
        return None
    except ImportError as error:
        return str(error)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=16, help="concurrent transfers of every candidate")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (processes, crt event loops)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--only", nargs="*", choices=sorted(CANDIDATES), help="candidates to run (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    options = parser.parse_args()

    names = options.only or list(CANDIDATES)
    base = tempfile.mkdtemp(prefix="mlops-stack-bench-objects-")
    minio = MinioServer(os.path.join(base, "minio")).start()
    try:
        client = minio.client()
        client.create_bucket(Bucket=BUCKET)
        start = time.monotonic()
        # The layout and sizes of bench/backup_restore.py: 200 runs of experiment 0.
        fill_bucket(minio, BUCKET, "0", ["run-%03d" % run for run in range(200)], options.objects,
                    int(options.gib * 1024 * MIB))
        expected = bucket_digests(client, BUCKET)
        total = sum(size for size, _digest in expected.values())
        mib = total / float(MIB)
        print("filled %s with %d objects, %.1f MiB in %.1fs" % (BUCKET, len(expected), mib, time.monotonic() - start),
              flush=True)
        listing = [dict(Key=k, Size=s) for k, (s, _d) in sorted(expected.items(), key=lambda kv: -kv[1][0])]
        connection = dict(endpoint=minio.endpoint, host="127.0.0.1:%d" % minio.port,
                          access_key=minio.access_key, secret_key=minio.secret_key)
        ctx = dict(connection=connection, workers=options.workers,
                   processes=options.processes, expected=expected)
        env = dict(os.environ, MC_CONFIG_DIR=os.path.join(base, "mc"), MC_HOST_bench="http://%s:%s@%s" % (
            minio.access_key, minio.secret_key, connection["host"]))
        mc = os.path.join(TOOLS_BIN, "mc")

        def mc_mirror(source, target):
            subprocess.run([mc, "mirror", "--quiet", source, target], env=env, check=True,
                           stdout=subprocess.DEVNULL)

        times = dict((name, dict(download=[], upload=[], download_cpu=[], upload_cpu=[])) for name in ["mc"] + names)
        skipped = {}
        for name in names:
            missing = available(CANDIDATES[name][2])
            if missing:
                skipped[name] = missing
        for repetition in range(options.repeat):
            order = ["mc"] + [n for n in names if n not in skipped]
            # A different candidate starts each repetition: none always runs on a fresh server.
            shift = repetition % len(order)
            for name in order[shift:] + order[:shift]:
                directory = os.path.join(base, "dir-%s-%d" % (name, repetition))
                os.makedirs(directory)
                target = "restored-%s-%d" % (name.replace("_", "-"), repetition)
                client.create_bucket(Bucket=target)
                if name == "mc":
                    seconds, cpu, _result = timed(mc_mirror, "bench/" + BUCKET, directory)
                    times[name]["download"].append(seconds)
                    times[name]["download_cpu"].append(cpu)
                    seconds, cpu, _result = timed(mc_mirror, directory, "bench/" + target)
                else:
                    download, upload, _library = CANDIDATES[name]
                    seconds, cpu, got = timed(download, ctx, listing, directory)
                    wrong = [k for k in expected if got.get(k) != expected[k]]
                    if wrong:
                        raise RuntimeError("%s: %d objects downloaded wrong, e.g. %s: %s, not %s" % (
                            name, len(wrong), wrong[0], got.get(wrong[0]), expected[wrong[0]]))
                    times[name]["download"].append(seconds)
                    times[name]["download_cpu"].append(cpu)
                    seconds, cpu, _result = timed(upload, ctx, listing, directory, target)
                    check_bucket(client, target, expected)
                times[name]["upload"].append(seconds)
                times[name]["upload_cpu"].append(cpu)
                print("%-10s download %5.1fs (cpu %5.1fs)  upload %5.1fs (cpu %5.1fs)  load %s" % (
                    name, times[name]["download"][-1], times[name]["download_cpu"][-1], times[name]["upload"][-1],
                    times[name]["upload_cpu"][-1], " ".join("%.1f" % v for v in os.getloadavg())), flush=True)
                empty_bucket(client, target)
                shutil.rmtree(directory, ignore_errors=True)

        def report(name):
            entry = dict()
            for step in ("download", "upload"):
                seconds = times[name][step]
                entry[step] = dict(seconds=spread(seconds), mib_s=round(mib / min(seconds), 1),
                                   cpu_s=spread(times[name][step + "_cpu"]),
                                   ratio_vs_mc=spread([m / s for m, s in zip(times["mc"][step], seconds)]))
            return entry

        result = dict(objects=len(expected), mib=round(mib, 1), workers=options.workers,
                      processes=options.processes, repeat=options.repeat,
                      load_average=[round(v, 2) for v in os.getloadavg()],
                      candidates=dict((name, report(name)) for name in ["mc"] + names if name not in skipped),
                      skipped=skipped)
        print(json.dumps(result, indent=2))
        results = os.path.join(REPO, "bench", "results")
        os.makedirs(results, exist_ok=True)
        with open(os.path.join(results, "object_path.json"), "w") as handle:
            json.dump(result, handle, indent=2)
    finally:
        minio.stop()
        if not options.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

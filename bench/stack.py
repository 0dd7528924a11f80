#!/usr/bin/env python
"""Benchmark: installing the stack with site.yml against the manual Helm sequence.

Runs against the cluster of $KUBECONFIG (default: the local cluster of
`make cluster`) with inventories/local, every stack in a fresh namespace of its
own (bench-site-* / bench-manual-*, deleted afterwards, deletion waited for so
that runs do not overlap). In one run it measures:

  install   ansible-playbook playbooks/site.yml into a namespace that does not
            exist, once with its closing verify.yml and once with
            -e mlops_verify=false, against the seed's manual sequence with the
            same three charts of charts/ and the same values the roles pass
            (taken with `helm get values` from the first TLS-off install):
            kubectl create namespace; the five credential Secrets (random
            passwords) with kubectl; helm install minio; helm install
            postgresql; kubectl wait for both pods; the mlflow bucket through
            `kubectl exec <minio pod> -- mc`; the mlflow role and database
            through `kubectl exec <postgresql pod> -- psql`; helm install
            mlflow; kubectl wait for its pod. Plain `helm install` and
            `kubectl wait`, as the seed does. Every stack, manual or not, is
            then proven to work outside the timed part: /health, a login with
            the admin credentials, a run with an artifact read back.
            Ratio = manual time / site.yml time (above 1: site.yml is faster).
  TLS       site.yml -e mlops_tls=false (and mlops_verify=false): the same
            stack without TLS inside it, whose Helm values the manual sequence
            takes (it makes no certificates). Ratio = TLS-off time / TLS-on
            time; in the first repetition the memory and load below run on both.
  rerun     site.yml again on the installed namespace, with and without
            verify: time, ratio to the first install (goal: under 0.25) and the
            changed count of the PLAY RECAP (goal: 0).
  memory    working set of every container of the minio, postgresql and mlflow
            pods from the kubelet's summary API (nodes/<node>/proxy/stats/summary),
            sampled every --sample-interval seconds: idle (median over
            --idle-window seconds after --settle seconds) and max/mean while
            --clients processes log runs for --duration seconds, each with the
            real MLflow client and the admin login: create a run, log a param,
            three metrics and one --artifact-kib KiB artifact, end the run.
            Every operation's latency and every failure is recorded; the
            client's own HTTP retries are off unless --client-retries says
            otherwise, so a failed request counts. Compared with the chart's
            default requests/limits and with what the pod actually got.

The order of site.yml and the manual sequence alternates per repetition (the
first repetition starts with site.yml, whose Helm values the manual sequence
reuses); --repeat N reports min, median and max. The load average is recorded
with every result: the figures move with the machine's load.

    .tools/venv/bin/python bench/stack.py --repeat 2
"""

import argparse
import base64
import contextlib
import io
import json
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS_PATH = os.pathsep.join([os.path.join(REPO, ".tools", "bin"), os.path.join(REPO, ".tools", "venv", "bin"),
                              os.environ.get("PATH", "")])
KUBECONFIG = os.environ.get("KUBECONFIG") or os.path.join(REPO, ".tools", "cluster", "kubeconfig")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PROFILE = re.compile(r"^(.+?) -{3,} (\d+\.\d+)s\s*$", re.M)
COMPONENTS = ("minio", "postgresql", "mlflow")
# Pod selectors of the three charts (the mlflow one leaves out the gc CronJob's pods).
SELECTORS = {
    "minio": "app.kubernetes.io/name=minio",
    "postgresql": "app.kubernetes.io/name=postgresql",
    "mlflow": "app.kubernetes.io/name=mlflow,app.kubernetes.io/component=tracking-server",
}
MIB = 1024 * 1024


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


def env():
    # profile_tasks lists the slowest tasks of each playbook run: where the time goes.
    return dict(os.environ, PATH=TOOLS_PATH, KUBECONFIG=KUBECONFIG,
                ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks", PROFILE_TASKS_TASK_OUTPUT_LIMIT="all")


def run(command, timeout=900, stdin=None, check=True):
    completed = subprocess.run(command, env=env(), cwd=REPO, input=stdin, capture_output=True, text=True,
                               timeout=timeout, check=False)
    if check and completed.returncode != 0:
        shown = " ".join(command[:4])
        raise BenchError("%s ... failed (rc %d): %s" % (shown, completed.returncode,
                                                        (completed.stdout + completed.stderr)[-3000:]))
    return completed


def kubectl(*args, **kwargs):
    return run(["kubectl", "--request-timeout=60s"] + list(args), **kwargs)


def load_average():
    return [round(value, 2) for value in os.getloadavg()]


def timed(function, *args, **kwargs):
    start = time.monotonic()
    result = function(*args, **kwargs)
    return time.monotonic() - start, result


def spread(values):
    if not values:
        return None
    ordered = sorted(values)
    return dict(min=round(ordered[0], 2), median=round(statistics.median(ordered), 2),
                max=round(ordered[-1], 2), all=[round(v, 2) for v in values])


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


# --- namespaces -----------------------------------------------------------------

class Namespaces:
    """Namespaces this run created; only those are ever deleted."""

    def __init__(self):
        self.created = []

    def new(self, prefix):
        name = "%s-%s" % (prefix, uuid.uuid4().hex[:6])
        if kubectl("get", "namespace", name, check=False).returncode == 0:
            raise BenchError("namespace %s exists already" % name)
        self.created.append(name)
        return name

    def delete(self, name):
        """Deletes a namespace of this run and waits until it is gone."""
        if name not in self.created:
            raise BenchError("refusing to delete namespace %s: not created by this run" % name)
        start = time.monotonic()
        kubectl("delete", "namespace", name, "--ignore-not-found", "--wait=true", "--timeout=600s", timeout=660)
        self.created.remove(name)
        return time.monotonic() - start

    def delete_all(self):
        for name in list(self.created):
            try:
                self.delete(name)
            except (BenchError, subprocess.TimeoutExpired) as error:
                print("could not delete namespace %s: %s" % (name, error), file=sys.stderr)


# --- site.yml -------------------------------------------------------------------

def site(namespace, verify, tls=True):
    """Runs site.yml; returns seconds and the PLAY RECAP's changed count."""
    command = ["ansible-playbook", "-i", os.path.join(REPO, "inventories", "local"),
               "-e", "mlops_namespace=%s" % namespace, os.path.join(REPO, "playbooks", "site.yml")]
    if not verify:
        command[-1:-1] = ["-e", "mlops_verify=false"]
    if not tls:
        command[-1:-1] = ["-e", "mlops_tls=false"]
    started_at = load_average()
    seconds, completed = timed(run, command, 1800, None, False)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise BenchError("site.yml in %s failed (rc %d):\n%s" % (namespace, completed.returncode, output[-5000:]))
    recaps = RECAP.findall(output)
    if not recaps:
        raise BenchError("no PLAY RECAP in the output of site.yml:\n%s" % output[-3000:])
    changed = sum(int(recap[2]) for recap in recaps)
    changed_tasks = []
    task = None
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line.rstrip(" *")
        elif line.startswith("changed:") and task and task not in changed_tasks:
            changed_tasks.append(task)
    tasks = [dict(task=m.group(1).strip(), seconds=float(m.group(2))) for m in PROFILE.finditer(output)]
    return dict(seconds=round(seconds, 1), changed=changed, changed_tasks=changed_tasks, load_average=started_at,
                ok=sum(int(recap[1]) for recap in recaps), tasks=len(tasks),
                tasks_seconds=round(sum(task["seconds"] for task in tasks), 1), slowest_tasks=tasks[:8])


def release_values(namespace):
    """The values the roles passed to each chart (what `helm get values` shows)."""
    values = {}
    for component in COMPONENTS:
        out = run(["helm", "get", "values", component, "-n", namespace, "-o", "json"]).stdout
        values[component] = json.loads(out)
    return values


# --- the manual sequence ----------------------------------------------------------

def password(length=32):
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _position in range(length))


def wait_ready(namespace, component, timeout=600):
    """kubectl wait on the component's pod, once the pod exists (the wait fails on no pod)."""
    deadline = time.monotonic() + timeout
    while not kubectl("-n", namespace, "get", "pod", "-l", SELECTORS[component], "-o", "name").stdout.strip():
        if time.monotonic() > deadline:
            raise BenchError("no %s pod in %s after %ds" % (component, namespace, timeout))
        time.sleep(1)
    remaining = max(1, int(deadline - time.monotonic()))
    kubectl("-n", namespace, "wait", "--for=condition=ready", "pod", "-l", SELECTORS[component],
            "--timeout=%ds" % remaining, timeout=remaining + 60)


def pod_name(namespace, component):
    out = kubectl("-n", namespace, "get", "pod", "-l", SELECTORS[component],
                  "-o", "jsonpath={.items[0].metadata.name}").stdout.strip()
    if not out:
        raise BenchError("no %s pod in %s" % (component, namespace))
    return out


def manual(namespace, values, workdir):
    """The seed's installation steps with our charts; returns seconds per step."""
    steps = {}
    start = time.monotonic()

    def step(name, function, *args):
        began = time.monotonic()
        function(*args)
        steps[name] = round(time.monotonic() - began, 1)

    files = {}
    for component in COMPONENTS:
        files[component] = os.path.join(workdir, "values-%s.yaml" % component)
        with open(files[component], "w", encoding="utf-8") as handle:
            yaml.safe_dump(values[component], handle)
    minio_user, minio_password = "minio-admin", password()
    database_password = password()

    def create_secrets():
        literal = {
            "minio-auth": {"root-user": minio_user, "root-password": minio_password},
            "mlflow-s3": {"access-key-id": minio_user, "secret-access-key": minio_password},
            "postgresql-auth": {"postgres-password": password()},
            "mlflow-database": {"username": "mlflow", "password": database_password},
            "mlflow-auth": {"admin-username": "admin", "admin-password": password(),
                            "flask-secret-key": password(64)},
        }
        for name, data in literal.items():
            kubectl("-n", namespace, "create", "secret", "generic", name,
                    *["--from-literal=%s=%s" % item for item in data.items()])

    def helm_install(component):
        run(["helm", "install", component, os.path.join(REPO, "charts", component), "-n", namespace,
             "-f", files[component]])

    def create_bucket():
        pod = pod_name(namespace, "minio")
        kubectl("-n", namespace, "exec", pod, "-c", "minio", "--", "sh", "-c",
                'MC_HOST_local="http://$(cat /run/secrets/minio/root-user):$(cat /run/secrets/minio/root-password)'
                '@127.0.0.1:9000" '
                "mc mb --ignore-existing local/mlflow")

    def create_database():
        pod = pod_name(namespace, "postgresql")
        sql = ("CREATE ROLE mlflow LOGIN PASSWORD '%s';\n"
               "CREATE DATABASE mlflow OWNER mlflow;\n") % database_password
        kubectl("-n", namespace, "exec", "-i", pod, "-c", "postgresql", "--",
                "psql", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-f", "-", stdin=sql)

    step("create namespace", kubectl, "create", "namespace", namespace)
    step("secrets", create_secrets)
    step("helm install minio", helm_install, "minio")
    step("helm install postgresql", helm_install, "postgresql")
    step("wait minio", wait_ready, namespace, "minio")
    step("wait postgresql", wait_ready, namespace, "postgresql")
    step("bucket", create_bucket)
    step("database", create_database)
    step("helm install mlflow", helm_install, "mlflow")
    step("wait mlflow", wait_ready, namespace, "mlflow")
    return round(time.monotonic() - start, 1), steps


# --- reaching MLflow and proving a stack works -------------------------------------

def secret_value(namespace, name, key):
    out = kubectl("-n", namespace, "get", "secret", name, "-o", "jsonpath={.data.%s}" % key).stdout
    return base64.b64decode(out).decode()


def healthy(url, timeout=3):
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlflow_endpoint(namespace):
    """Yields (url, path): the pod IP, else a port-forward this function starts and
    stops by its PID. Not the Service's ClusterIP: MLflow's Host check admits the
    Service's names, localhost and the pod's own IP, and the host cannot resolve
    the names (its /health answers any Host, so it cannot tell)."""
    service = json.loads(kubectl("-n", namespace, "get", "service", "mlflow", "-o", "json").stdout)
    port = service["spec"]["ports"][0]["port"]
    pod_ip = kubectl("-n", namespace, "get", "pod", pod_name(namespace, "mlflow"),
                     "-o", "jsonpath={.status.podIP}").stdout.strip()
    url = "http://%s:%d" % (pod_ip, port)
    if pod_ip and healthy(url):
        yield url, "pod IP %s" % url
        return
    local = free_port()
    forward = subprocess.Popen(["kubectl", "-n", namespace, "port-forward", "service/mlflow", "%d:%d" % (local, port)],
                               env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = "http://127.0.0.1:%d" % local
        deadline = time.monotonic() + 30
        while not healthy(url):
            if forward.poll() is not None or time.monotonic() > deadline:
                raise BenchError("MLflow in %s answers neither on its pod IP nor through a port-forward"
                                 % namespace)
            time.sleep(0.5)
        yield url, "kubectl port-forward (PID %d) %s" % (forward.pid, url)
    finally:
        forward.terminate()
        try:
            forward.wait(10)
        except subprocess.TimeoutExpired:
            forward.kill()
            forward.wait()


def login(namespace):
    return (secret_value(namespace, "mlflow-auth", "admin-username"),
            secret_value(namespace, "mlflow-auth", "admin-password"))


def prove(namespace, workdir):
    """The stack works: every pod Ready, /health, a logged-in run with an artifact read back."""
    for component in COMPONENTS:
        wait_ready(namespace, component, timeout=120)
    username, secret = login(namespace)
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = username, secret
    from mlflow.tracking import MlflowClient
    with mlflow_endpoint(namespace) as (url, path):
        client = MlflowClient(tracking_uri=url)
        with contextlib.redirect_stdout(io.StringIO()):
            experiment = client.create_experiment("bench-prove-%s" % uuid.uuid4().hex[:6])
            run_id = client.create_run(experiment).info.run_id
            artifact = os.path.join(workdir, "prove.txt")
            with open(artifact, "w", encoding="utf-8") as handle:
                handle.write(namespace)
            client.log_artifact(run_id, artifact)
            client.set_terminated(run_id)
            artifact_uri = client.get_run(run_id).info.artifact_uri
        # Through the server's artifact proxy: the client's download_artifacts asks for a
        # presigned URL, which names the in-cluster MinIO Service the host cannot resolve.
        request = urllib.request.Request(
            "%s/api/2.0/mlflow-artifacts/artifacts/%s/prove.txt" % (url, re.sub("^mlflow-artifacts:/+", "", artifact_uri)),
            headers={"Authorization": "Basic " + base64.b64encode(("%s:%s" % (username, secret)).encode()).decode()})
        with urllib.request.urlopen(request, timeout=60) as response:
            if response.read().decode() != namespace:
                raise BenchError("the artifact read back from %s differs" % namespace)
        return path


# --- memory -----------------------------------------------------------------------

class MemorySampler(threading.Thread):
    """Samples the kubelet's summary API for the namespace's containers."""

    def __init__(self, namespace, node, interval):
        super().__init__(daemon=True)
        self.namespace, self.node, self.interval = namespace, node, interval
        self.samples = []  # (monotonic time, {"pod/container": bytes})
        self.errors = 0
        self.stopped = threading.Event()

    def sample(self):
        out = kubectl("get", "--raw", "/api/v1/nodes/%s/proxy/stats/summary" % self.node, timeout=60).stdout
        values = {}
        for pod in json.loads(out).get("pods", []):
            if pod["podRef"]["namespace"] != self.namespace:
                continue
            for container in pod.get("containers", []):
                working_set = (container.get("memory") or {}).get("workingSetBytes")
                if working_set is not None:
                    values["%s/%s" % (pod["podRef"]["name"], container["name"])] = working_set
        return values

    def run(self):
        while not self.stopped.is_set():
            began = time.monotonic()
            try:
                self.samples.append((began, self.sample()))
            except (BenchError, subprocess.TimeoutExpired, ValueError):
                self.errors += 1
            self.stopped.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def between(self, start, end):
        return [values for moment, values in self.samples if start <= moment <= end]


def component_of(pod):
    for component in COMPONENTS:
        if pod == component or pod.startswith(component + "-"):
            return component
    return None


def quantity_mib(value):
    """A Kubernetes memory quantity in MiB."""
    if value is None:
        return None
    units = {"Ki": 1 / 1024.0, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024,
             "k": 1e3 / MIB, "M": 1e6 / MIB, "G": 1e9 / MIB}
    for suffix, factor in units.items():
        if str(value).endswith(suffix):
            return round(float(str(value)[:-len(suffix)]) * factor, 1)
    return round(float(value) / MIB, 1)


def resources(namespace):
    """Chart defaults and what each container actually got, in MiB."""
    result = {}
    for component in COMPONENTS:
        with open(os.path.join(REPO, "charts", component, "values.yaml"), encoding="utf-8") as handle:
            default = (yaml.safe_load(handle).get("resources") or {})
        pod = json.loads(kubectl("-n", namespace, "get", "pod", pod_name(namespace, component), "-o", "json").stdout)
        for container in pod["spec"]["containers"]:
            actual = container.get("resources") or {}
            result["%s/%s" % (component, container["name"])] = dict(
                chart_request_mib=quantity_mib((default.get("requests") or {}).get("memory")),
                chart_limit_mib=quantity_mib((default.get("limits") or {}).get("memory")),
                request_mib=quantity_mib((actual.get("requests") or {}).get("memory")),
                limit_mib=quantity_mib((actual.get("limits") or {}).get("memory")))
    return result


def restarts(namespace):
    result = {}
    pods = json.loads(kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)["items"]
    for pod in pods:
        for status in pod["status"].get("containerStatuses", []):
            last = (status.get("lastState") or {}).get("terminated") or {}
            result["%s/%s" % (pod["metadata"]["name"], status["name"])] = dict(
                restarts=status.get("restartCount", 0), last_terminated=last.get("reason"))
    return result


MLFLOW_PROCESSES = r"""
import os
for pid in sorted((p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()), key=int):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = " ".join(f.read().replace(b"\0", b" ").decode(errors="replace").split())
        rss = 0
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) // 1024
        print("%s\t%d\t%s" % (pid, rss, cmd[:160]))
    except OSError:
        pass
"""


def mlflow_processes(namespace):
    """PID, RSS (MiB) and command line of every process in the MLflow container."""
    out = kubectl("-n", namespace, "exec", pod_name(namespace, "mlflow"), "-c", "mlflow", "--",
                  "python3", "-c", MLFLOW_PROCESSES, check=False).stdout
    processes = []
    for line in out.splitlines():
        if line.count("\t") < 2:
            continue
        pid, rss, command = line.split("\t", 2)
        processes.append(dict(pid=int(pid), rss_mib=int(rss), command=command))
    return processes


# --- the load ---------------------------------------------------------------------

def load_client(url, username, secret, experiment, duration, artifact_kib, retries, ready, start, results):
    """One client process: runs until duration has passed, records every operation."""
    os.environ.update(MLFLOW_TRACKING_USERNAME=username, MLFLOW_TRACKING_PASSWORD=secret,
                      MLFLOW_HTTP_REQUEST_MAX_RETRIES=str(retries))
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=url)
    workdir = tempfile.mkdtemp(prefix="mlops-stack-bench-client-")
    artifact = os.path.join(workdir, "artifact.bin")
    with open(artifact, "wb") as handle:
        handle.write(os.urandom(artifact_kib * 1024))
    operations, runs, failures = [], [], []

    def call(name, function, *args):
        began = time.monotonic()
        try:
            value = function(*args)
        except Exception as error:  # pylint: disable=broad-except  # every failure is a result here
            operations.append((name, time.monotonic() - began, False))
            failures.append("%s: %s: %s" % (name, type(error).__name__, str(error)[:300]))
            raise
        operations.append((name, time.monotonic() - began, True))
        return value

    ready.put(os.getpid())
    start.wait()
    deadline = time.monotonic() + duration
    try:
        while time.monotonic() < deadline:
            began = time.monotonic()
            try:
                with contextlib.redirect_stdout(io.StringIO()):  # MLflow prints a line per run
                    run_id = call("create_run", client.create_run, experiment).info.run_id
                    call("log_param", client.log_param, run_id, "learning_rate", 0.01)
                    for step_ in range(3):
                        call("log_metric", client.log_metric, run_id, "loss", 1.0 / (step_ + 1), None, step_)
                    call("log_artifact", client.log_artifact, run_id, artifact)
                    call("set_terminated", client.set_terminated, run_id)
                runs.append((time.monotonic() - began, True))
            except Exception:  # pylint: disable=broad-except  # recorded by call(); go on with the next run
                runs.append((time.monotonic() - began, False))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        results.put(dict(operations=operations, runs=runs, failures=failures))


def load(namespace, options):
    """--clients processes logging runs for --duration seconds; returns the statistics."""
    username, secret = login(namespace)
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = username, secret
    from mlflow.tracking import MlflowClient
    context = multiprocessing.get_context("spawn")  # no shared HTTP pools, one GIL per client
    with mlflow_endpoint(namespace) as (url, path):
        experiment = MlflowClient(tracking_uri=url).create_experiment("bench-load-%s" % uuid.uuid4().hex[:6])
        ready, results, start = context.Queue(), context.Queue(), context.Event()
        clients = [context.Process(target=load_client, daemon=True,
                                   args=(url, username, secret, experiment, options.duration, options.artifact_kib,
                                         options.client_retries, ready, start, results))
                   for _client in range(options.clients)]
        try:
            for client in clients:
                client.start()
            for _client in clients:
                ready.get(timeout=600)  # every client has imported mlflow
            began = time.monotonic()
            start.set()
            collected = [results.get(timeout=options.duration + 900) for _client in clients]
            ended = time.monotonic()
            for client in clients:
                client.join(30)
        finally:
            for client in clients:
                if client.is_alive():
                    client.terminate()
                    client.join(10)
        load_end = load_average()
    operations = [op for result in collected for op in result["operations"]]
    runs = [r for result in collected for r in result["runs"]]
    failures = [f for result in collected for f in result["failures"]]

    def latency(values):
        return dict(count=len(values), p50_s=round(percentile(values, 0.5), 3) if values else None,
                    p95_s=round(percentile(values, 0.95), 3) if values else None,
                    max_s=round(max(values), 3) if values else None)

    per_operation = {name: latency([s for n, s, ok in operations if n == name and ok])
                     for name in sorted({op[0] for op in operations})}
    return dict(
        path=path, clients=options.clients, duration_s=round(ended - began, 1),
        runs=len(runs), runs_ok=sum(1 for _seconds, ok in runs if ok),
        runs_per_s=round(sum(1 for _seconds, ok in runs if ok) / (ended - began), 2),
        requests=len(operations), failed_requests=sum(1 for op in operations if not op[2]),
        failures=sorted(set(failures))[:20],
        run_latency=latency([s for s, ok in runs if ok]), operations=per_operation,
        window=(began, ended), load_average=load_end)


def memory(namespace, node, options):
    """Idle and under-load working sets of the stack in namespace."""
    sampler = MemorySampler(namespace, node, options.sample_interval)
    sampler.start()
    try:
        print("memory: settling %ds, then %ds idle window" % (options.settle, options.idle_window), flush=True)
        time.sleep(options.settle)
        idle_start = time.monotonic()
        time.sleep(options.idle_window)
        idle = sampler.between(idle_start, time.monotonic())
        idle_load = load_average()
        processes_idle = mlflow_processes(namespace)
        print("memory: load, %d clients for %ds" % (options.clients, options.duration), flush=True)
        stats = load(namespace, options)
        busy = sampler.between(*stats.pop("window"))
        processes_load = mlflow_processes(namespace)
    finally:
        sampler.stopped.set()
        sampler.join(30)
    limits = resources(namespace)
    per_container = {}
    for key in sorted({k for values in idle + busy for k in values}):
        pod, container = key.split("/", 1)
        component = component_of(pod)
        idle_values = [values[key] / MIB for values in idle if key in values]
        busy_values = [values[key] / MIB for values in busy if key in values]
        entry = dict(pod=pod, idle_mib=round(statistics.median(idle_values), 1) if idle_values else None,
                     load_max_mib=round(max(busy_values), 1) if busy_values else None,
                     load_mean_mib=round(statistics.mean(busy_values), 1) if busy_values else None,
                     samples_idle=len(idle_values), samples_load=len(busy_values))
        entry.update(limits.get("%s/%s" % (component, container), {}))
        per_container["%s/%s" % (component or pod, container)] = entry
    return dict(namespace=namespace, idle_load_average=idle_load, sample_errors=sampler.errors,
                containers=per_container, load=stats, restarts_after_load=restarts(namespace),
                mlflow_processes_idle=processes_idle, mlflow_processes_load=processes_load)


# --- report -----------------------------------------------------------------------

def table(headers, rows):
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(headers, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def fmt(spread_):
    return "-" if spread_ is None else "%s (%s-%s)" % (spread_["median"], spread_["min"], spread_["max"])


def print_report(report):
    times = report["install"]
    print("\nInstall and rerun times, seconds: median (min-max) of %d" % report["repeat"])
    rows = [[name, fmt(times[key]["seconds"]), fmt(times[key].get("ratio")), times[key].get("changed", "")]
            for name, key in (("site.yml (with verify)", "site_verify"), ("site.yml (mlops_verify=false)", "site"),
                              ("site.yml (mlops_verify=false, mlops_tls=false)", "site_plain"),
                              ("manual sequence", "manual"), ("rerun (with verify)", "rerun_verify"),
                              ("rerun (mlops_verify=false)", "rerun"))]
    print(table(["step", "time s", "ratio", "changed"], rows))
    print("ratio: manual/site for installs (above 1: site.yml faster); TLS-off/TLS-on for mlops_tls=false;"
          " rerun/first install for reruns (goal < 0.25)")
    for key in ("site", "rerun"):
        last = times[key]["runs"][-1]
        print("\nlast %s run: %.1fs, %d tasks run (ok=%d) taking %.1fs together; the slowest:" % (
            key, last["seconds"], last["tasks"], last["ok"], last["tasks_seconds"]))
        for task in last["slowest_tasks"][:5]:
            print("  %6.1fs  %s" % (task["seconds"], task["task"]))
    mem = report.get("memory")
    if mem:
        print("\nMemory working set, MiB (namespace %s)" % mem["namespace"])
        rows = [[key, c["idle_mib"], c["load_mean_mib"], c["load_max_mib"], c.get("chart_request_mib"),
                 c.get("chart_limit_mib"), c.get("request_mib"), c.get("limit_mib")]
                for key, c in mem["containers"].items()]
        print(table(["container", "idle", "load mean", "load max", "chart req", "chart lim", "req", "lim"], rows))
        stats = mem["load"]
        print("\nLoad: %d clients, %.0f s through %s: %d runs (%d ok, %.2f/s), %d requests, %d failed"
              % (stats["clients"], stats["duration_s"], stats["path"], stats["runs"], stats["runs_ok"],
                 stats["runs_per_s"], stats["requests"], stats["failed_requests"]))
        rows = [["whole run", stats["run_latency"]["count"], stats["run_latency"]["p50_s"],
                 stats["run_latency"]["p95_s"], stats["run_latency"]["max_s"]]]
        rows += [[name, op["count"], op["p50_s"], op["p95_s"], op["max_s"]] for name, op in stats["operations"].items()]
        print(table(["operation", "count", "p50 s", "p95 s", "max s"], rows))
        for failure in stats["failures"]:
            print("  failure: %s" % failure)
        restarted = {key: value for key, value in mem["restarts_after_load"].items() if value["restarts"]}
        print("restarts after load: %s" % (json.dumps(restarted) if restarted else "none"))
        print("mlflow processes under load (pid, RSS MiB, command):")
        for process in mem["mlflow_processes_load"]:
            print("  %(pid)6d %(rss_mib)6d  %(command)s" % process)
    plain = report.get("memory_plain")
    if mem and plain:
        print("\nTLS inside the stack: the same load on a stack with TLS and one without")
        rows = []
        for name, stats in (("TLS on", mem["load"]), ("TLS off", plain["load"])):
            rows.append([name, stats["runs"], stats["runs_ok"], stats["runs_per_s"], stats["failed_requests"],
                         stats["run_latency"]["p50_s"], stats["run_latency"]["p95_s"]])
        print(table(["stack", "runs", "ok", "runs/s", "failed", "run p50 s", "run p95 s"], rows))
        rows = [[key, c["idle_mib"], plain["containers"].get(key, {}).get("idle_mib"), c["load_max_mib"],
                 plain["containers"].get(key, {}).get("load_max_mib")] for key, c in mem["containers"].items()]
        print(table(["container", "idle on", "idle off", "load max on", "load max off"], rows))
    print("\nload average at the start %s, at the end %s" % (report["load_average_start"], report["load_average_end"]))


def site_installs(repetition, namespaces, node, options, workdir, results, report):
    """One repetition's site.yml installs: with verify (then its reruns, and in the
    first repetition the memory and load), without verify, and without TLS.
    Returns the TLS-off install's Helm values."""
    namespace = namespaces.new("bench-site")
    result = site(namespace, verify=True)
    print("[%d] site.yml with verify in %s: %.1fs, changed=%d" % (
        repetition, namespace, result["seconds"], result["changed"]), flush=True)
    results["site_verify"].append(result)
    for key, verify in (("rerun_verify", True), ("rerun", False)):
        result = site(namespace, verify=verify)
        print("[%d] rerun %s: %.1fs, changed=%d %s" % (
            repetition, key, result["seconds"], result["changed"], result["changed_tasks"]), flush=True)
        results[key].append(result)
    if repetition == 0 and not options.no_memory:
        report["memory"] = memory(namespace, node, options)
    print("[%d] deleted %s in %.1fs" % (repetition, namespace, namespaces.delete(namespace)), flush=True)

    namespace = namespaces.new("bench-site")
    result = site(namespace, verify=False)
    result["proven_through"] = prove(namespace, workdir)
    print("[%d] site.yml without verify in %s: %.1fs, changed=%d" % (
        repetition, namespace, result["seconds"], result["changed"]), flush=True)
    results["site"].append(result)
    print("[%d] deleted %s in %.1fs" % (repetition, namespace, namespaces.delete(namespace)), flush=True)

    # The same stack without TLS inside it: what TLS costs, and
    # the values of the manual sequence, which makes no certificates.
    namespace = namespaces.new("bench-plain")
    result = site(namespace, verify=False, tls=False)
    result["proven_through"] = prove(namespace, workdir)
    print("[%d] site.yml without TLS in %s: %.1fs, changed=%d" % (
        repetition, namespace, result["seconds"], result["changed"]), flush=True)
    results["site_plain"].append(result)
    if repetition == 0 and not options.no_memory:
        report["memory_plain"] = memory(namespace, node, options)
    values = release_values(namespace)
    print("[%d] deleted %s in %.1fs" % (repetition, namespace, namespaces.delete(namespace)), flush=True)
    return values


# --- main -------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--repeat", type=int, default=2, help="installs of each kind")
    parser.add_argument("--clients", type=int, default=20, help="concurrent MLflow client processes")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--artifact-kib", type=int, default=50, help="size of each run's artifact")
    parser.add_argument("--client-retries", type=int, default=0,
                        help="MLFLOW_HTTP_REQUEST_MAX_RETRIES of the load clients (0: a failed request counts)")
    parser.add_argument("--settle", type=int, default=60, help="seconds after the install before the idle window")
    parser.add_argument("--idle-window", type=int, default=20, help="seconds of idle memory samples")
    parser.add_argument("--sample-interval", type=float, default=2.0)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory and load measurement")
    options = parser.parse_args()

    if kubectl("version", check=False).returncode != 0:
        raise SystemExit("no Kubernetes cluster answers at %s (run `make cluster`)" % KUBECONFIG)
    node = kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout.strip()
    namespaces = Namespaces()
    workdir = tempfile.mkdtemp(prefix="mlops-stack-bench-")
    results = dict(site_verify=[], site=[], site_plain=[], manual=[], rerun_verify=[], rerun=[])
    report = dict(repeat=options.repeat, node=node, load_average_start=load_average(),
                  date=time.strftime("%Y-%m-%d %H:%M %Z"), git_commit=run(["git", "rev-parse", "HEAD"]).stdout.strip(),
                  git_dirty=bool(run(["git", "status", "--porcelain", "charts", "roles", "playbooks"]).stdout.strip()))
    values = None
    try:
        for repetition in range(options.repeat):
            order = ("site", "manual") if repetition % 2 == 0 else ("manual", "site")
            for kind in order:
                if kind == "site":
                    plain_values = site_installs(repetition, namespaces, node, options, workdir, results, report)
                    if values is None:
                        values = report["manual_values"] = plain_values
                    continue
                namespace = namespaces.new("bench-manual")
                if values is None:
                    raise BenchError("the manual sequence needs the values of a site.yml install first")
                started_at = load_average()
                seconds, steps = manual(namespace, values, workdir)
                path = prove(namespace, workdir)
                results["manual"].append(dict(seconds=seconds, steps=steps, load_average=started_at,
                                              proven_through=path))
                print("[%d] manual sequence in %s: %.1fs %s" % (
                    repetition, namespace, seconds, json.dumps(steps)), flush=True)
                print("[%d] deleted %s in %.1fs" % (repetition, namespace, namespaces.delete(namespace)), flush=True)
    finally:
        namespaces.delete_all()
        shutil.rmtree(workdir, ignore_errors=True)

    def times_of(key):
        return [r["seconds"] for r in results[key]]

    install = {key: dict(seconds=spread(times_of(key)), runs=results[key]) for key in results}
    for key in ("site_verify", "site"):
        install[key]["ratio"] = spread([m / s for m, s in zip(times_of("manual"), times_of(key))])
        install[key]["changed"] = "/".join(str(r["changed"]) for r in results[key])
    install["site_plain"]["ratio"] = spread([p / t for p, t in zip(times_of("site_plain"), times_of("site"))])
    install["site_plain"]["changed"] = "/".join(str(r["changed"]) for r in results["site_plain"])
    install["manual"]["ratio"] = None
    for key, first in (("rerun_verify", "site_verify"), ("rerun", "site")):
        install[key]["ratio"] = spread([r / f for r, f in zip(times_of(key), times_of(first))])
        install[key]["changed"] = "/".join(str(r["changed"]) for r in results[key])
        install[key]["unchanged"] = all(r["changed"] == 0 for r in results[key])
    report["install"] = install
    report["load_average_end"] = load_average()
    directory = os.path.join(REPO, "bench", "results")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "stack.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    print_report(report)
    print("\nfull result: %s" % os.path.join(directory, "stack.json"))


def stop(signum, _frame):
    """SIGTERM cleans up like Ctrl-C: the namespaces and processes this run started."""
    raise KeyboardInterrupt("signal %d" % signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)
    try:
        main()
    except BenchError as failure:
        raise SystemExit("bench/stack.py: %s" % failure) from None

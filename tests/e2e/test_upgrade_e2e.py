"""End-to-end upgrade from the first release (0.1.0, commit 3471c69) to this checkout.

Runs against the cluster of $KUBECONFIG (default: the local cluster of
`make cluster`) in a namespace of its own. A git worktree of the repository's
own commit 3471c69, prepared by that commit's scripts/setup.sh (cached: it
only links), installs the stack with that commit's playbooks/site.yml (which
ends with its verify.yml) and the images that commit pinned. The real MLflow
client, through a port-forward, fills it: two runs with parameters, metric
histories, tags, a text and a binary artifact; a registered model with two
versions, stages and an alias; a non-admin user created through the auth API
with EDIT on one experiment, who logs a run there. Then this checkout's
site.yml runs on it (same namespace, same release names) while a background
thread polls /health (and an API read that needs the database) through a
port-forward. Afterwards: the Helm releases' charts moved from 0.1.0 to
galaxy.yml's version; every run, metric, artifact (sha256), model version,
stage and alias reads back identical; the credential Secrets are unchanged
but MLflow's S3 key pair, moved from the MinIO root login to a user of its own;
the admin's and the user's logins work, with the user's permission still
enforced; PostgreSQL and MinIO now serve TLS and MLflow's database sessions
use it; a second site.yml reports changed=0; /health never went unanswered
longer than HEALTH_GAP_BOUND. The worktree is removed; the upgraded stack is
left to test_migration_e2e and purged at the end of the session. No cluster is a failure, not a skip.

The measured times and gaps are printed (pytest -s) and written to
tests/output/upgrade_e2e.json.
"""
import calendar
import contextlib
import json
import re
import secrets
import shutil
import subprocess
import time
import uuid

import pytest
import yaml

from e2e_support import (
    REPO,
    TOOLS_PATH,
    UPGRADED,
    Availability,
    Stack,
    changed,
    kubectl,
    mlflow_sessions,
    require_cluster,
    serves_tls,
    start_port_forward,
    tool_env,
)

# The first release: the stack as it landed on 2026-11-29.
OLD_COMMIT = "3471c69"
OLD_VERSION = "0.1.0"
# Left upgraded for test_migration_e2e; purged at the end of the session.
CURRENT = UPGRADED
NAMESPACE = CURRENT.namespace
# The announced window (docs/upgrading.md): MLflow's pod is replaced by a
# rolling update, so /health is answered throughout but for the moment the
# port-forward needs to move to the new pod once the old one stops.
HEALTH_GAP_BOUND = 15.0
POLL_INTERVAL = 0.5
CREDENTIAL_SECRETS = ("mlflow-auth", "minio-auth", "postgresql-auth", "mlflow-database", "mlflow-s3")

# The real MLflow client, as a user outside the cluster runs it. Reads its
# logins from stdin (never argv) and prints one JSON line.
CLIENT = r"""
import hashlib, json, os, sys, tempfile, warnings
warnings.simplefilter("ignore")
import requests
import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.server import get_app_client
from mlflow.tracking import MlflowClient

args = json.loads(sys.stdin.read())
uri, marker = args["uri"], args["marker"]
EXPERIMENT, OTHER, MODEL = "upgrade-" + marker, "upgrade-other-" + marker, "upgrade-model-" + marker
os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"] = "false"
os.environ["MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"] = "false"
client = MlflowClient(uri)


def login(which):
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = args[which]


def seed():
    login("admin")
    exp = client.create_experiment(EXPERIMENT, tags={"team": "upgrade", "marker": marker})
    client.create_experiment(OTHER, tags={"team": "other"})
    runs = []
    for i, name in enumerate(("run-a", "run-b")):
        run_id = client.create_run(exp, run_name=name, tags={"variant": name}).info.run_id
        t0 = 1700000000000 + i * 100000
        client.log_batch(
            run_id,
            metrics=[Metric("loss", 1.0 / (step + 1 + i), t0 + step, step) for step in range(6)]
                    + [Metric("accuracy", 0.5 + step * 0.07 + i * 0.01, t0 + step, step) for step in range(6)],
            params=[Param("lr", str(0.01 * (i + 1))), Param("epochs", "6")],
            tags=[RunTag("stage", "train")])
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "notes.txt"), "w") as f:
                f.write("notes of %s %s\n" % (name, marker))
            client.log_artifact(run_id, os.path.join(d, "notes.txt"))
            with open(os.path.join(d, "weights.bin"), "wb") as f:
                f.write(os.urandom(300 * 1024 + i * 1000))
            client.log_artifact(run_id, os.path.join(d, "weights.bin"), "model")
        client.set_terminated(run_id)
        runs.append(client.get_run(run_id))
    client.create_registered_model(MODEL, tags={"owner": "upgrade"}, description="model of " + marker)
    for run in runs:
        client.create_model_version(MODEL, run.info.artifact_uri + "/model", run_id=run.info.run_id,
                                    tags={"from": run.info.run_name})
    client.transition_model_version_stage(MODEL, "1", "Staging")
    client.transition_model_version_stage(MODEL, "2", "Production")
    client.set_registered_model_alias(MODEL, "champion", "2")
    auth = get_app_client("basic-auth", tracking_uri=uri)
    auth.create_user(args["user"][0], args["user"][1])
    auth.grant_user_permission(args["user"][0], "experiment", exp, "EDIT")
    return {}


def artifacts(run_id, path=None):
    found = {}
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            found.update(artifacts(run_id, item.path))
            continue
        with tempfile.TemporaryDirectory() as d:
            with open(client.download_artifacts(run_id, item.path, d), "rb") as f:
                data = f.read()
        found[item.path] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    return found


def snapshot():
    login("admin")
    result = {}
    for name in (EXPERIMENT, OTHER):
        exp = client.get_experiment_by_name(name)
        runs = {}
        for run in client.search_runs([exp.experiment_id], run_view_type=3):
            info, data = run.info, run.data
            runs[info.run_name] = {
                "run_id": info.run_id, "user_id": info.user_id, "status": info.status,
                "start_time": info.start_time, "end_time": info.end_time, "artifact_uri": info.artifact_uri,
                "params": data.params, "tags": data.tags, "metrics": data.metrics,
                "history": {key: sorted([m.step, m.timestamp, m.value]
                                        for m in client.get_metric_history(info.run_id, key))
                            for key in data.metrics},
                "artifacts": artifacts(info.run_id)}
        result[name] = {"id": exp.experiment_id, "tags": exp.tags, "artifact_location": exp.artifact_location,
                        "runs": runs}
    model = client.get_registered_model(MODEL)
    versions = {}
    for found in client.search_model_versions("name='%s'" % MODEL):
        v = client.get_model_version(MODEL, found.version)  # the search leaves out aliases
        versions[v.version] = {"run_id": v.run_id, "source": v.source, "stage": v.current_stage,
                               "status": v.status, "tags": v.tags, "aliases": sorted(v.aliases),
                               "created": v.creation_timestamp}
    result["model"] = {"description": model.description, "tags": model.tags, "aliases": model.aliases,
                       "versions": versions}
    auth = get_app_client("basic-auth", tracking_uri=uri)
    user = auth.get_user(args["user"][0])
    permission = auth.get_user_permission(user.username, "experiment", result[EXPERIMENT]["id"])
    result["user"] = {"id": user.id, "is_admin": user.is_admin, "permission": permission.permission}
    return result


def logins():
    # The admin reads; the user writes where allowed (EDIT) and nowhere else
    # (default READ); a wrong password is refused.
    login("admin")
    admin_sees = sorted(e.name for e in client.search_experiments(filter_string="name LIKE '%" + marker + "'"))
    exp, other = (client.get_experiment_by_name(n).experiment_id for n in (EXPERIMENT, OTHER))
    login("user")
    run_id = client.create_run(exp, run_name="by-user-" + args["round"]).info.run_id
    client.log_param(run_id, "who", "user")
    client.set_terminated(run_id)
    other_write = requests.post(uri + "/api/2.0/mlflow/runs/create", json={"experiment_id": other},
                                auth=tuple(args["user"]), timeout=30)
    wrong = requests.get(uri + "/api/2.0/mlflow/experiments/get", params={"experiment_id": exp},
                         auth=(args["user"][0], "wrong-" + args["user"][1]), timeout=30)
    return {"admin_sees": admin_sees, "user_run": client.get_run(run_id).info.status,
            "user_writes_other": other_write.status_code, "wrong_password": wrong.status_code}


print(json.dumps({"seed": seed, "snapshot": snapshot, "logins": logins}[sys.argv[1]](), sort_keys=True))
"""


def run(*cmd, cwd=None, env=None, timeout=300):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{(proc.stdout + proc.stderr)[-4000:]}"
    return proc.stdout


@contextlib.contextmanager
def port_forward(service, port):
    proc, local = start_port_forward(NAMESPACE, service, port)
    assert proc, f"port-forward to svc/{service} did not start"
    try:
        yield local
    finally:
        proc.terminate()
        proc.wait()


def client(action, logins, marker, **extra):
    """Runs CLIENT with the checkout's Python and mlflow through a port-forward to MLflow."""
    start = time.monotonic()
    env = {k: v for k, v in tool_env().items() if not k.startswith("MLFLOW_")}
    with port_forward("mlflow", 5000) as local:
        stdin = json.dumps(dict(logins, uri=f"http://127.0.0.1:{local}", marker=marker, **extra))
        proc = subprocess.run([str(REPO / ".tools" / "venv" / "bin" / "python"), "-c", CLIENT, action], input=stdin,
                              env=env, capture_output=True, text=True, timeout=600, check=False)
    CURRENT.timings[f"mlflow {action} {extra.get('round', '')}".strip()] = round(time.monotonic() - start, 1)
    assert proc.returncode == 0, f"MLflow client {action} failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def chart_versions():
    helm = shutil.which("helm", path=TOOLS_PATH)
    releases = json.loads(run(helm, "list", "-n", NAMESPACE, "-o", "json", env=tool_env()))
    return {release["name"]: release["chart"] for release in releases}


def pod_images():
    pods = json.loads(kubectl("-n", NAMESPACE, "get", "pods", "-o", "json").stdout)["items"]
    return sorted({c["image"] for pod in pods for c in pod["spec"]["containers"]})


def ready_since(since):
    """Seconds after the wall-clock time since at which each pod of the namespace became ready."""
    pods = json.loads(kubectl("-n", NAMESPACE, "get", "pods", "-o", "json").stdout)["items"]
    ready = {}
    for pod in pods:
        for condition in pod["status"].get("conditions", []):
            if condition["type"] == "Ready" and condition["status"] == "True":
                stamp = calendar.timegm(time.strptime(condition["lastTransitionTime"], "%Y-%m-%dT%H:%M:%SZ"))
                ready[pod["metadata"]["name"]] = round(stamp - since, 1)
    return ready


def pinned_images(checkout):
    """The image tags a checkout's scripts/cluster/images.sh builds for the stack."""
    requirements = (checkout / "requirements" / "python.txt").read_text()
    versions = (checkout / "scripts" / "versions.env").read_text()
    images = (checkout / "scripts" / "cluster" / "images.sh").read_text()
    tags = {"mlflow": re.search(r"^mlflow(?:\[[^]]*\])?==([^ ;#\n]+)", requirements, re.M).group(1),
            "minio": re.search(r"^MINIO_VERSION=(\S+)", versions, re.M).group(1),
            "postgresql": re.search(r"postgresql\) echo (\S+) ;;", images).group(1)}
    return sorted(f"localhost/mlops-stack/{name}:{tag}" for name, tag in tags.items())


@pytest.fixture(scope="module")
def old_checkout(tmp_path_factory):
    """A worktree of OLD_COMMIT, set up to run against this checkout's cluster."""
    require_cluster()
    known = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{OLD_COMMIT}^{{commit}}"], check=False)
    assert known.returncode == 0, f"commit {OLD_COMMIT} (release {OLD_VERSION}) is not in this clone: fetch its history"
    path = tmp_path_factory.mktemp("old") / "checkout"
    run("git", "-C", str(REPO), "worktree", "add", "--detach", str(path), OLD_COMMIT)
    try:
        start = time.monotonic()
        run("scripts/setup.sh", cwd=path, timeout=1800)
        # Its inventory reads the kubeconfig ($KUBECONFIG first) and the image
        # tags from .tools/cluster, and kubectl from .tools/bin.
        (path / ".tools" / "cluster").symlink_to(REPO / ".tools" / "cluster")
        for tool in (REPO / ".tools" / "bin").iterdir():
            if not (path / ".tools" / "bin" / tool.name).exists():
                (path / ".tools" / "bin" / tool.name).symlink_to(tool.resolve())
        CURRENT.timings["old checkout setup"] = round(time.monotonic() - start, 1)
        yield path
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False)


@pytest.fixture(scope="module")
def old_stack(old_checkout, upgraded_stack):
    """The stack installed by OLD_COMMIT's site.yml; purged at the end of the session
    by this checkout's uninstall.yml (upgraded_stack)."""
    old = Stack(NAMESPACE, checkout=old_checkout)
    start = time.monotonic()
    try:
        old.playbook("site.yml", label="old site.yml (install + its verify)")
        yield old
    finally:
        timings = dict(old.timings, **CURRENT.timings, total=round(time.monotonic() - start, 1))
        print(f"\ntimings (s) in {NAMESPACE}: {json.dumps(timings)}")


def test_upgrade_from_first_release(old_checkout, old_stack):
    current_version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert current_version != OLD_VERSION, "galaxy.yml still says the old release: the charts would not upgrade"
    assert chart_versions() == {name: f"{name}-{OLD_VERSION}" for name in ("minio", "postgresql", "mlflow")}
    # The stack runs the image tags the old commit pinned; a later change to
    # an image's version must make the old one available to the cluster for
    # this test. (A rebuild under the same tag is what the old stack runs:
    # since 0.2.0 the MinIO and MLflow builds have the layouts of the public
    # default images, which the old charts run unchanged.)
    assert pod_images() == pinned_images(old_checkout), (
        "the old stack does not run the images its commit pinned: import them into the cluster")

    admin = tuple(CURRENT.secret_data("mlflow-auth")[key] for key in ("admin-username", "admin-password"))
    logins = {"admin": admin, "user": ("upgrade-user", secrets.token_urlsafe(18))}
    marker = uuid.uuid4().hex[:8]
    client("seed", logins, marker)
    logins_before = client("logins", logins, marker, round="1")
    before = client("snapshot", logins, marker, round="before")
    secrets_before = {name: CURRENT.secret_data(name) for name in CREDENTIAL_SECRETS}
    assert sorted(before[f"upgrade-{marker}"]["runs"]) == ["by-user-1", "run-a", "run-b"], before
    assert before["model"]["aliases"] == {"champion": "2"}, before["model"]
    assert {v: d["stage"] for v, d in before["model"]["versions"].items()} == {"1": "Staging", "2": "Production"}
    assert before["user"] == {"id": before["user"]["id"], "is_admin": False, "permission": "EDIT"}, before["user"]
    assert logins_before["user_writes_other"] == 403, logins_before
    assert logins_before["wrong_password"] == 401, logins_before

    availability = Availability(admin, NAMESPACE, POLL_INTERVAL)
    upgrade_started = time.time()
    availability.start()
    try:
        output = CURRENT.playbook("site.yml", label="current site.yml (upgrade + verify)")
    finally:
        measured = availability.stop()
    measured["pods_ready_s"] = ready_since(upgrade_started)
    assert changed(output) > 0, "the upgrade changed nothing"
    # The version change was seen and a complete set written before any release changed.
    taken = re.search(r"Backup (\S+) taken before the upgrade, at (\S+)\.", output)
    assert taken, f"site.yml took no backup before the upgrade:\n{output[-3000:]}"
    assert output.index("taken before the upgrade") < output.index("Start the MinIO release")
    # (the callback may fold the long message: compare with the white space folded)
    assert f"mlflow chart mlflow-{OLD_VERSION} to version {current_version}" in " ".join(output.split())
    assert chart_versions() == {name: f"{name}-{current_version}" for name in ("minio", "postgresql", "mlflow")}

    after = client("snapshot", logins, marker, round="after")
    for name in (f"upgrade-{marker}", f"upgrade-other-{marker}"):
        for run_name, run_data in before[name]["runs"].items():
            assert after[name]["runs"].get(run_name) == run_data, f"run {run_name} differs after the upgrade"
    assert after["model"] == before["model"], "the registered model differs after the upgrade"
    assert after == before
    # Every credential Secret is kept but MLflow's S3 key pair: the old release handed
    # MLflow the MinIO root login, the upgrade moves it to a user of its own.
    secrets_after = {name: CURRENT.secret_data(name) for name in CREDENTIAL_SECRETS}
    root = secrets_before["minio-auth"]
    assert secrets_before["mlflow-s3"] == {"access-key-id": root["root-user"], "secret-access-key": root["root-password"]}
    assert secrets_after["mlflow-s3"]["access-key-id"] not in (root["root-user"], ""), "MLflow still has the root login"
    assert secrets_after["mlflow-s3"]["secret-access-key"] != root["root-password"]
    assert dict(secrets_after, **{"mlflow-s3": None}) == dict(secrets_before, **{"mlflow-s3": None}), \
        "a credential Secret changed in the upgrade"
    logins_after = client("logins", logins, marker, round="2")
    assert logins_after == logins_before, logins_after
    # The old release served plain text; the upgraded one TLS, which MLflow uses.
    assert serves_tls(NAMESPACE, "postgresql") and serves_tls(NAMESPACE, "minio")
    total, encrypted = mlflow_sessions(NAMESPACE)
    assert total > 0 and encrypted == total, f"{total - encrypted} of MLflow's {total} sessions are not on TLSv1.3"

    again = CURRENT.playbook("site.yml", "-e", "mlops_verify=false", label="current site.yml (second run)")
    assert changed(again) == 0, f"a second site.yml after the upgrade changed something:\n{again[-3000:]}"
    assert "taken before the upgrade" not in again, "a run that changes no version took a backup"

    report = {"namespace": NAMESPACE, "from": OLD_VERSION, "to": current_version, "availability": measured,
              "backup_before_upgrade": taken.group(1),
              "timings_s": CURRENT.timings}
    print(f"\nupgrade {OLD_VERSION} -> {current_version}: {json.dumps(report)}")
    (REPO / "tests" / "output").mkdir(exist_ok=True)
    (REPO / "tests" / "output" / "upgrade_e2e.json").write_text(json.dumps(report, indent=1) + "\n")
    assert measured["longest_gap_s"].get("health", 0.0) < HEALTH_GAP_BOUND, (
        f"/health went unanswered longer than {HEALTH_GAP_BOUND} s during the upgrade: {measured}")

"""The MLflow UI and the MinIO console in a real browser, through port-forwards,
as a user outside the cluster sees them.

Headless Debian chromium driven by Playwright (no browser download: the
executable is Debian's, MLOPS_E2E_CHROMIUM overrides it). On the shared stack:
the real MLflow client logs a run (a parameter, a metric, a 300 KB artifact)
and registers it as a model version in stage Production with alias champion;
then the browser logs in with basic auth (refused without it), opens the
experiment list, the run's page with its parameter and metric, downloads the
artifact from the run's artifact view (the bytes must equal the logged ones,
and no presigned URL is asked for), and opens the registered model and its
version (version, stage, alias). Then the MinIO console's login form with the
root login, and its bucket list. Screenshots of every step are saved under
tests/output/e2e-browser/.
"""
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import uuid

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from e2e_support import REPO, kubectl, tool_env

OUTPUT = REPO / "tests" / "output" / "e2e-browser"
CHROMIUM = os.environ.get("MLOPS_E2E_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_MS = 120_000

# Logs the run and registers the model with the real client; prints one JSON line.
SEED = r"""
import json, os, sys, warnings
import mlflow
from mlflow import MlflowClient
url, marker, artifact = sys.argv[1:4]
mlflow.set_tracking_uri(url)
experiment = "ui-" + marker
mlflow.set_experiment(experiment)
with mlflow.start_run(run_name="ui-run-" + marker) as run:
    mlflow.log_param("learning_rate", 0.01)
    mlflow.log_metric("accuracy", 0.95)
    mlflow.log_artifact(artifact)
client = MlflowClient(url)
name = "ui-model-" + marker
client.create_registered_model(name)
version = client.create_model_version(name, "runs:/%s/%s" % (run.info.run_id, os.path.basename(artifact)),
                                      run_id=run.info.run_id)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # stages are deprecated, still shown and still used
    client.transition_model_version_stage(name, version.version, "Production")
client.set_registered_model_alias(name, "champion", version.version)
print(json.dumps({"experiment": experiment, "experiment_id": run.info.experiment_id, "run": run.info.run_id,
                  "run_name": "ui-run-" + marker, "model": name, "version": version.version}))
"""


def seed(port, password, artifact):
    env = dict({k: v for k, v in tool_env().items() if not k.startswith(("MLFLOW_", "AWS_"))},
               MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=password)
    proc = subprocess.run([f"{REPO}/.tools/venv/bin/python", "-", f"http://127.0.0.1:{port}",
                           uuid.uuid4().hex[:8], str(artifact)],
                          input=SEED, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), f"no chromium at {CHROMIUM}: scripts/setup.sh --cluster installs Debian's"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # Root (as CI runs) cannot use chromium's sandbox.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(context, url, text, shot):
    """Opens url in a new tab, waits for text to show and saves a screenshot; returns the page."""
    page = context.new_page()
    page.goto(url, timeout=TIMEOUT_MS)
    page.get_by_text(text, exact=True).first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=str(OUTPUT / shot), full_page=True)
    return page


def visible(page, *texts, exact=True):
    for text in texts:
        assert page.get_by_text(text, exact=exact).first.is_visible(), f"{text!r} is not on {page.url}"


def test_mlflow_ui(shared_stack, browser, tmp_path):
    password = shared_stack.admin_password()
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(os.urandom(300 * 1024))
    logged = hashlib.sha256(artifact.read_bytes()).hexdigest()
    with shared_stack.port_forward("mlflow", 5000) as port:
        seeded = seed(port, password, artifact)
        base = f"http://127.0.0.1:{port}"

        # Without a login the server answers 401 with a basic-auth challenge; chromium
        # either shows that answer or, having no credentials to offer, ends the load
        # with ERR_INVALID_AUTH_CREDENTIALS. Either way no page of the UI is served.
        anonymous = browser.new_context()
        try:
            response = anonymous.new_page().goto(base + "/", timeout=TIMEOUT_MS)
            assert response.status == 401, "the UI answered without a login"
        except PlaywrightError as exc:
            assert "ERR_INVALID_AUTH_CREDENTIALS" in str(exc), exc
        finally:
            anonymous.close()

        context = browser.new_context(http_credentials={"username": "admin", "password": password},
                                      viewport={"width": 1400, "height": 900}, accept_downloads=True)
        asked = []
        context.on("request", lambda request: asked.append(request.url))
        try:
            page = open_page(context, f"{base}/#/experiments", seeded["experiment"], "01-experiments.png")
            visible(page, "Experiments", seeded["experiment"])

            run = f"{base}/#/experiments/{seeded['experiment_id']}/runs/{seeded['run']}"
            page = open_page(context, run, "learning_rate", "02-run.png")
            visible(page, seeded["run_name"], "learning_rate", "0.01", "accuracy", "0.95")

            page = open_page(context, run + "/artifacts", "model.pkl", "03-artifacts.png")
            page.get_by_text("model.pkl", exact=True).first.click()
            # The artifact view's download button (an icon with a "Download artifact" tooltip).
            button = page.locator('[data-component-id$="artifactview.tsx_337"]')
            with page.expect_download(timeout=TIMEOUT_MS) as download_info:
                button.click()
            download = download_info.value
            saved = tmp_path / "downloaded.pkl"
            download.save_as(str(saved))
            page.screenshot(path=str(OUTPUT / "04-artifact-downloaded.png"), full_page=True)
            assert download.suggested_filename == "model.pkl"
            assert hashlib.sha256(saved.read_bytes()).hexdigest() == logged, "the UI's download differs"
            assert not [url for url in asked if "presigned" in url], "the UI asked for a presigned URL"

            page = open_page(context, f"{base}/#/models/{seeded['model']}", "Version 1", "05-model.png")
            visible(page, seeded["model"], "Version 1")
            # An alias is shown as a tag with an "@" before its name.
            visible(page, "champion", exact=False)
            page = open_page(context, f"{base}/#/models/{seeded['model']}/versions/{seeded['version']}",
                             "Production", "06-model-version.png")
            visible(page, f"Version {seeded['version']}", "Production")
            visible(page, "champion", exact=False)
        finally:
            context.close()


def test_minio_console_login(shared_stack, browser):
    login = shared_stack.secret_data(f"{shared_stack.releases['minio']}-auth")
    # The console is not exposed by default: its port is not on the Service, so
    # the pod is port-forwarded, as docs and `make demo` tell a user to.
    service = kubectl("-n", shared_stack.namespace, "get", "service", shared_stack.releases["minio"], "-o", "json")
    assert [p["port"] for p in json.loads(service.stdout)["spec"]["ports"]] == [9000]
    bundle = json.loads(kubectl("-n", shared_stack.namespace, "get", "configmap", "mlops-tls-trust",
                                "-o", "json").stdout)["data"]["ca.crt"]
    with shared_stack.port_forward("minio", 9001, kind="statefulset") as port:
        # The console serves HTTPS with the stack's certificate, valid for the
        # port-forward's address. Chromium cannot be handed a CA per context, so
        # Python verifies the certificate and the browser is told to go on.
        trusted = ssl.create_default_context(cadata=bundle)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
            with trusted.wrap_socket(raw, server_hostname="127.0.0.1") as verified:
                assert verified.version() == "TLSv1.3", verified.version()
        context = browser.new_context(viewport={"width": 1400, "height": 900}, ignore_https_errors=True)
        try:
            page = context.new_page()
            failed = []
            page.on("requestfailed", lambda request: failed.append(f"{request.url} {request.failure}"))
            # The form appears once the console's scripts have loaded and asked
            # the server how to log in. Under load a port-forwarded connection
            # can drop one of those requests and leave the page at its loading
            # image: a person reloads, and so does the test, twice at most.
            for attempt in range(3):
                page.goto(f"https://127.0.0.1:{port}/login", timeout=TIMEOUT_MS)
                try:
                    page.locator("#accessKey").wait_for(timeout=TIMEOUT_MS // 3)
                    break
                except PlaywrightError:
                    page.screenshot(path=str(OUTPUT / f"07-minio-login-missing-{attempt}.png"), full_page=True)
            else:
                raise AssertionError(f"no login form on {page.url} after 3 loads; failed requests: {failed[-10:]}; "
                                     f"page: {page.inner_text('body')[:300]!r}")
            page.locator("#accessKey").fill(login["root-user"])
            page.locator("#secretKey").fill(login["root-password"])
            page.screenshot(path=str(OUTPUT / "07-minio-login.png"))
            page.locator("button[type=submit]").click()
            page.get_by_text("Buckets", exact=True).first.wait_for(timeout=TIMEOUT_MS)
            # The first login shows the licence notice over the bucket list.
            acknowledge = page.get_by_role("button", name="Acknowledge")
            if acknowledge.is_visible():
                acknowledge.click()
            page.screenshot(path=str(OUTPUT / "08-minio-buckets.png"), full_page=True)
            assert "/login" not in page.url
            visible(page, "Buckets", "mlflow")
        finally:
            context.close()

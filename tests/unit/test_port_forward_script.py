"""roles/component/files/port-forward.sh reaches the cluster as the modules do (module_utils/k8s.py).

A stand-in kubectl records its arguments and the kubeconfig it was given, so
these tests see what the real one would: the token only inside a kubeconfig
that only its user can read, gone once the script returns, never in argv.
"""

import os
import subprocess
import textwrap

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(REPO, "roles", "component", "files", "port-forward.sh")
TOKEN = "eyJhbGciOi.J0b2tlbi1mb3ItdGVzdHM_-x"


@pytest.fixture()
def kubectl(tmp_path):
    record = tmp_path / "record"
    record.mkdir()
    fake = tmp_path / "kubectl"
    fake.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        printf '%s\\n' "$@" >{record}/argv
        config=
        while [ "$#" -gt 0 ]; do
          [ "$1" = --kubeconfig ] && config=$2
          shift
        done
        if [ -n "$config" ]; then
          echo "$config" >{record}/path
          cat "$config" >{record}/kubeconfig
          stat -c %a "$config" >{record}/mode
          stat -c %a "$(dirname "$config")" >{record}/dir_mode
        fi
        echo "Forwarding from 127.0.0.1:40123 -> 5432"
        sleep 0.5
        """))
    fake.chmod(0o755)
    return str(fake), record


def run(kubectl, environ, *global_args, cwd=None):
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent"}
    env.update(environ)
    return subprocess.run([SCRIPT, kubectl, "mlops", "postgresql", "5432", *global_args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=30, check=False)


def test_the_token_goes_into_a_private_kubeconfig_removed_afterwards(kubectl, tmp_path):
    binary, record = kubectl
    ca = tmp_path / "ca.crt"
    ca.write_text("CA")
    proc = run(binary, {"K8S_AUTH_HOST": "https://127.0.0.1:6443", "K8S_AUTH_API_KEY": TOKEN,
                        "K8S_AUTH_VERIFY_SSL": "True", "K8S_AUTH_SSL_CA_CERT": "ca.crt"}, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[1] == "40123"
    argv = (record / "argv").read_text()
    assert TOKEN not in argv and TOKEN not in proc.stdout + proc.stderr
    config = (record / "kubeconfig").read_text()
    assert f'token: "{TOKEN}"' in config
    assert 'server: "https://127.0.0.1:6443"' in config
    assert f'certificate-authority: "{ca}"' in config
    assert "insecure" not in config
    assert (record / "mode").read_text().strip() == "600"
    assert (record / "dir_mode").read_text().strip() == "700"
    assert not os.path.exists(os.path.dirname((record / "path").read_text().strip()))


@pytest.mark.parametrize("verify", ["False", "no", "0"])
def test_verify_ssl_false_skips_the_check(kubectl, verify):
    binary, record = kubectl
    proc = run(binary, {"K8S_AUTH_HOST": "https://127.0.0.1:6443", "K8S_AUTH_API_KEY": TOKEN,
                        "K8S_AUTH_VERIFY_SSL": verify, "K8S_AUTH_SSL_CA_CERT": "/missing"})
    assert proc.returncode == 0, proc.stderr
    config = (record / "kubeconfig").read_text()
    assert "insecure-skip-tls-verify: true" in config and "certificate-authority" not in config


def test_explicit_arguments_win_over_the_variables(kubectl):
    binary, record = kubectl
    proc = run(binary, {"K8S_AUTH_HOST": "https://127.0.0.1:6443", "K8S_AUTH_API_KEY": TOKEN},
               "--kubeconfig", "/etc/given", "--context", "c")
    assert proc.returncode == 0, proc.stderr
    assert (record / "argv").read_text().split("\n")[:4] == ["--kubeconfig", "/etc/given", "--context", "c"]


def test_kubeconfig_variables_without_a_token(kubectl, tmp_path):
    binary, record = kubectl
    given = tmp_path / "given"
    given.write_text("{}")
    proc = run(binary, {"K8S_AUTH_KUBECONFIG": str(given), "K8S_AUTH_CONTEXT": "c"})
    assert proc.returncode == 0, proc.stderr
    assert (record / "argv").read_text().split("\n")[:4] == ["--kubeconfig", str(given), "--context", "c"]


def test_nothing_set_leaves_kubectl_its_defaults(kubectl):
    binary, record = kubectl
    proc = run(binary, {})
    assert proc.returncode == 0, proc.stderr
    assert (record / "argv").read_text().split("\n")[0] == "port-forward"


@pytest.mark.parametrize("environ, line", [
    ({"K8S_AUTH_HOST": "https://127.0.0.1:6443"},
     "K8S_AUTH_HOST is set but K8S_AUTH_API_KEY is empty or unset: give the bearer token too, "
     "or unset K8S_AUTH_HOST"),
    ({"K8S_AUTH_API_KEY": TOKEN},
     "K8S_AUTH_API_KEY is set but K8S_AUTH_HOST is empty or unset: give the API server URL too, "
     "or unset K8S_AUTH_API_KEY"),
    ({"K8S_AUTH_HOST": "127.0.0.1:6443", "K8S_AUTH_API_KEY": TOKEN},
     "K8S_AUTH_HOST must be the API server's https:// URL, not '127.0.0.1:6443'"),
    ({"K8S_AUTH_HOST": "https://127.0.0.1:6443", "K8S_AUTH_API_KEY": TOKEN, "K8S_AUTH_VERIFY_SSL": "maybe"},
     "K8S_AUTH_VERIFY_SSL must be true or false, not 'maybe'"),
    ({"K8S_AUTH_HOST": "https://127.0.0.1:6443", "K8S_AUTH_API_KEY": TOKEN, "K8S_AUTH_SSL_CA_CERT": "/missing"},
     "K8S_AUTH_SSL_CA_CERT names /missing, which is not a readable file"),
    ({"K8S_AUTH_HOST": "https://127.0.0.1:6443", "K8S_AUTH_API_KEY": 'a"b'},
     "K8S_AUTH_API_KEY is not a bearer token: it holds characters other than letters, digits and ._~+/=-"),
])
def test_bad_variables_get_the_modules_line_and_kubectl_never_runs(kubectl, environ, line):
    binary, record = kubectl
    proc = run(binary, environ)
    assert proc.returncode == 1
    assert proc.stderr.strip() == line
    assert not (record / "argv").exists()

"""Offline stand-in for pip's get-pip.py bootstrap script.

ansible-test bootstraps pip in each sanity virtualenv with a get-pip.py script
it downloads from a host these machines cannot reach. This stand-in takes the
same arguments: it installs the pip wheel bundled with Python (ensurepip), then
lets that pip install the requested packages from the package index.
"""

import ensurepip
import importlib
import os
import runpy
import sys

# ansible-test runs this with a trimmed environment; keep trusting the
# machine's CA bundle, which may hold the certificate of a TLS proxy.
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

ensurepip.bootstrap(upgrade=True)
importlib.invalidate_caches()
cert = os.environ.get("PIP_CERT") or (
    SYSTEM_CA_BUNDLE if os.path.exists(SYSTEM_CA_BUNDLE) else None
)
sys.argv = ["pip", "install", "--upgrade"] + (["--cert", cert] if cert else []) + [
    arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")
]
runpy.run_module("pip", run_name="__main__", alter_sys=True)

"""Real services for the integration tests and benchmarks.

Each service is a process this module starts on a free loopback port with a
throwaway data directory, and stops again by the PID it started.
"""

import contextlib
import datetime
import ipaddress
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS_BIN = os.path.join(REPO, ".tools", "bin")


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, what, timeout=60.0, process=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("%s exited early (rc=%s)%s" % (what, process.returncode, _tail(log)))
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.2)
    raise RuntimeError("%s did not come up within %ss%s" % (what, timeout, _tail(log)))


def _tail(log):
    if not log or not os.path.exists(log):
        return ""
    with open(log, errors="replace") as handle:
        return "\n" + "".join(handle.readlines()[-20:])


def stop_process(process, timeout=20):
    """Stop a process this module started, by its PID, and reap it."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


class ThrowawayCA:
    """A throwaway CA (ECDSA P-256) that signs loopback server certificates, as
    the collection's CA signs the stack's: SANs localhost, 127.0.0.1 and ::1."""

    NAMES = ("localhost", "127.0.0.1", "::1")

    def __init__(self, common_name="mlops.stack test CA"):
        from cryptography import x509
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        self.certificate = self._build(
            self._name, self._key.public_key(),
            [(x509.BasicConstraints(ca=True, path_length=0), True),
             (x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                            data_encipherment=False, key_agreement=False, key_cert_sign=True,
                            crl_sign=True, encipher_only=False, decipher_only=False), True)])

    def _build(self, subject, public_key, extensions):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self._name)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(self._key, hashes.SHA256())

    @property
    def pem(self):
        from cryptography.hazmat.primitives import serialization
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name="localhost", names=NAMES):
        """(certificate PEM, key PEM) of a server certificate for names (DNS names or IPs)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        sans = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        certificate = self._build(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]), key.public_key(),
            [(x509.BasicConstraints(ca=False, path_length=None), True),
             (x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                            crl_sign=False, encipher_only=False, decipher_only=False), True),
             (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
             (x509.SubjectAlternativeName(sans), False)])
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return certificate.public_bytes(serialization.Encoding.PEM), key_pem

    def write(self, path):
        with open(path, "wb") as handle:
            handle.write(self.pem)
        return path

    def context(self):
        """An ssl context that trusts this CA only."""
        return ssl.create_default_context(cadata=self.pem.decode())


def write_secret_volume(directory, files):
    """Lay files ({relative path: bytes}) out as the kubelet lays out a Secret
    volume: a timestamped directory, "..data" pointing at it, and one symlink per
    top-level name through "..data". Calling it again swaps "..data" atomically,
    as a Secret update does."""
    os.makedirs(directory, exist_ok=True)
    stamp = "..%s" % datetime.datetime.now(datetime.timezone.utc).strftime("%Y_%m_%d_%H_%M_%S.%f")
    for relative, content in files.items():
        path = os.path.join(directory, stamp, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content)
        os.chmod(path, 0o440)
    data = os.path.join(directory, "..data")
    old = os.readlink(data) if os.path.islink(data) else None
    os.symlink(stamp, data + "_tmp")
    os.rename(data + "_tmp", data)
    for top in {relative.split("/")[0] for relative in files}:
        link = os.path.join(directory, top)
        if not os.path.islink(link):
            os.symlink(os.path.join("..data", top), link)
    if old:
        shutil.rmtree(os.path.join(directory, old))


def pg_bindir():
    for candidate in ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"):
        if os.path.exists(os.path.join(candidate, "postgres")):
            return candidate
    raise RuntimeError("PostgreSQL server binaries not found: run make setup")


def make_certificate_authority(common_name="mlops.stack test CA"):
    """A throwaway CA, as the collection makes one (ECDSA P-256)."""
    return ThrowawayCA(common_name)


def write_server_certificate(directory, authority, dns_names=("localhost",), ips=("127.0.0.1", "::1")):
    """ca.crt, tls.crt and tls.key (0600) in directory: a server certificate
    signed by authority (a ThrowawayCA); returns the certificate."""
    from cryptography import x509

    certificate, key = authority.issue(dns_names[0], tuple(dns_names) + tuple(ips))
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "ca.crt"), "wb") as handle:
        handle.write(authority.pem)
    with open(os.path.join(directory, "tls.crt"), "wb") as handle:
        handle.write(certificate)
    fd = os.open(os.path.join(directory, "tls.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    return x509.load_pem_x509_certificate(certificate)


class PostgresServer:
    """A throwaway PostgreSQL cluster with SCRAM password authentication.

    With tls, the server has ssl on (TLSv1.3 at least, a certificate for
    localhost, 127.0.0.1 and ::1 from a CA of its own: ca_cert) and admits TCP
    logins over TLS only (hostssl), as the chart's server with tls.enabled.
    """

    def __init__(self, base_dir, tls=False):
        self.base_dir = base_dir
        self.tls = tls
        self.tls_dir = os.path.join(base_dir, "tls")
        self.ca_cert = os.path.join(self.tls_dir, "ca.crt") if tls else None
        self.authority = None
        self.port = free_port()
        self.host = "127.0.0.1"
        self.user = "postgres"
        self.password = secrets.token_urlsafe(16)
        self.bindir = pg_bindir()
        self.data = os.path.join(base_dir, "pgdata")
        self.log = os.path.join(base_dir, "postgres.log")
        self.process = None

    def _as_postgres(self):
        # initdb and postgres refuse to run as root.
        if os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam("postgres")

        def demote():
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)

        return {"preexec_fn": demote}

    def start(self):
        os.makedirs(self.data, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            for path in (self.base_dir, self.data):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        pwfile = os.path.join(self.base_dir, "pwfile")
        with open(pwfile, "w") as handle:
            handle.write(self.password)
        if os.geteuid() == 0:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        subprocess.run(
            [os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", self.user,
             "--pwfile", pwfile, "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **self._as_postgres())
        os.unlink(pwfile)
        settings = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + self.base_dir,
                    "-c", "fsync=off", "-c", "max_connections=100"]
        if self.tls:
            settings += self._tls_settings()
        log = open(self.log, "w")
        self.process = subprocess.Popen(
            [os.path.join(self.bindir, "postgres"), "-D", self.data, "-p", str(self.port)] + settings,
            stdout=log, stderr=subprocess.STDOUT, **self._as_postgres())
        wait_for(self._ready, "PostgreSQL", process=self.process, log=self.log)
        return self

    def write_certificate(self):
        """A new server certificate from the server's CA into tls_dir (read at start or on a reload)."""
        certificate = write_server_certificate(self.tls_dir, self.authority)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            for name in ("", "ca.crt", "tls.crt", "tls.key"):
                os.chown(os.path.join(self.tls_dir, name), entry.pw_uid, entry.pw_gid)
        return certificate

    def _tls_settings(self):
        """Certificates, hostssl rules and the ssl settings of a TLS-only server."""
        self.authority = make_certificate_authority()
        self.write_certificate()
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba) as handle:
            rules = handle.read().splitlines()
        with open(hba, "w") as handle:
            for rule in rules:
                handle.write(("hostssl" + rule[4:] if rule.startswith("host ") else rule) + "\n")
        return ["-c", "ssl=on", "-c", "ssl_cert_file=" + os.path.join(self.tls_dir, "tls.crt"),
                "-c", "ssl_key_file=" + os.path.join(self.tls_dir, "tls.key"),
                "-c", "ssl_min_protocol_version=TLSv1.3"]

    def _ready(self):
        return subprocess.run(
            [os.path.join(self.bindir, "pg_isready"), "-h", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode == 0

    def uri(self, dbname="postgres", user=None, password=None):
        return "postgresql://%s:%s@%s:%d/%s" % (
            user or self.user, password or self.password, self.host, self.port, dbname)

    def connection_args(self):
        """Module options for connecting as the superuser."""
        if self.tls:
            return dict(login_host=self.host, login_port=self.port, login_user=self.user,
                        login_password=self.password, ssl_mode="verify-full", ca_cert=self.ca_cert)
        return dict(login_host=self.host, login_port=self.port, login_user=self.user,
                    login_password=self.password, ssl_mode="disable")

    def stop(self):
        stop_process(self.process)


@contextlib.contextmanager
def running_postgres(prefix, **options):
    """A started PostgresServer, stopped and removed afterwards. Not under
    pytest's private tmp: the server runs as the postgres user, which must be
    able to reach its data directory."""
    base = tempfile.mkdtemp(prefix=prefix)
    server = PostgresServer(base, **options).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


class MinioServer:
    """A throwaway single-drive MinIO server.

    With tls, it serves HTTPS only, from a --certs-dir laid out as the chart
    mounts its Secret (public.crt, private.key, CAs/ca.crt behind "..data"),
    signed by its own ThrowawayCA (ca_bundle is that CA's file); with console, the
    console runs with MINIO_SERVER_URL as the chart sets it.
    """

    def __init__(self, base_dir, tls=False, console=False):
        self.base_dir = base_dir
        self.port = free_port()
        self.console_port = free_port()
        self.access_key = "minio-admin"
        self.secret_key = secrets.token_urlsafe(18)
        self.data = os.path.join(base_dir, "minio-data")
        self.log = os.path.join(base_dir, "minio.log")
        self.process = None
        self.console = console
        self.ca = ThrowawayCA() if tls else None
        self.certs_dir = os.path.join(base_dir, "certs")
        self.ca_bundle = self.ca.write(os.path.join(base_dir, "ca.crt")) if tls else None

    @property
    def scheme(self):
        return "https" if self.ca else "http"

    @property
    def endpoint(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    @property
    def console_url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.console_port)

    def ssl_context(self):
        return self.ca.context() if self.ca else None

    def install_certificate(self):
        """Write a new server certificate into certs_dir, as a Secret update would; returns its PEM."""
        certificate, key = self.ca.issue()
        write_secret_volume(self.certs_dir, {"public.crt": certificate, "private.key": key,
                                             "CAs/ca.crt": self.ca.pem})
        return certificate

    def start(self):
        binary = os.path.join(TOOLS_BIN, "minio")
        if not os.path.exists(binary):
            raise RuntimeError("minio binary not found in %s: run make setup" % TOOLS_BIN)
        os.makedirs(self.data, exist_ok=True)
        env = dict(os.environ, MINIO_ROOT_USER=self.access_key, MINIO_ROOT_PASSWORD=self.secret_key,
                   MINIO_BROWSER="on" if self.console else "off", MINIO_UPDATE="off")
        if self.ca:
            self.install_certificate()
            if self.console:
                env["MINIO_SERVER_URL"] = "https://localhost:%d" % self.port
        log = open(self.log, "w")
        self.process = subprocess.Popen(
            [binary, "server", self.data, "--address", "127.0.0.1:%d" % self.port,
             "--console-address", "127.0.0.1:%d" % self.console_port, "--certs-dir", self.certs_dir,
             "--quiet"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: urllib.request.urlopen(self.endpoint + "/minio/health/ready", timeout=2,
                                                context=self.ssl_context()).status == 200,
                 "MinIO", process=self.process, log=self.log)
        if self.console:
            # The console starts listening after the API is ready.
            wait_for(lambda: socket.create_connection(("127.0.0.1", self.console_port), timeout=2).close() is None,
                     "MinIO console", process=self.process, log=self.log)
        return self

    def connection_args(self):
        args = dict(endpoint_url=self.endpoint, access_key=self.access_key, secret_key=self.secret_key)
        if self.ca_bundle:
            args["ca_bundle"] = self.ca_bundle
        return args

    def client(self):
        import boto3
        import botocore.config
        return boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key, region_name="us-east-1",
            verify=self.ca_bundle, config=botocore.config.Config(s3={"addressing_style": "path"}))

    def stop(self):
        stop_process(self.process)


class MlflowServer:
    """`mlflow server` with a PostgreSQL backend store and proxied MinIO artifacts."""

    def __init__(self, base_dir, postgres, minio, database="mlflow", bucket="mlflow", destination=None, env=None):
        self.base_dir = base_dir
        self.postgres = postgres
        self.minio = minio
        self.database = database
        self.bucket = bucket
        self.destination = destination or "s3://%s" % bucket
        self.env = env or {}
        self.port = free_port()
        self.log = os.path.join(base_dir, "mlflow.log")
        self.process = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
        env = dict(os.environ, MLFLOW_S3_ENDPOINT_URL=self.minio.endpoint,
                   AWS_ACCESS_KEY_ID=self.minio.access_key,
                   AWS_SECRET_ACCESS_KEY=self.minio.secret_key, **self.env)
        log = open(self.log, "w")
        self.process = subprocess.Popen(
            [mlflow, "server", "--backend-store-uri", self.postgres.uri(self.database),
             "--artifacts-destination", self.destination, "--serve-artifacts",
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        wait_for(lambda: urllib.request.urlopen(self.url + "/health", timeout=2).status == 200,
                 "MLflow server", timeout=180, process=self.process, log=self.log)
        return self

    def stop(self):
        # The server runs its workers in the session it leads; stop that group.
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def run_module(module, args, check=False, diff=False, env=None):
    """Run mlops.stack.<module> through ansible-playbook; return its result.

    The result is the task's result dict as the json callback reports it,
    with "failed" and "changed" always present.
    """
    workdir = tempfile.mkdtemp(prefix="mlops-stack-task-")
    try:
        playbook = os.path.join(workdir, "task.yml")
        with open(playbook, "w") as handle:
            json.dump([{
                "hosts": "localhost", "gather_facts": False, "connection": "local",
                "tasks": [{"name": "module under test", "mlops.stack.%s" % module: args}],
            }], handle)
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                   "-i", "localhost,", playbook,
                   "-e", "ansible_python_interpreter=%s" % sys.executable]
        if check:
            command.append("--check")
        if diff:
            command.append("--diff")
        run_env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                       ANSIBLE_CALLBACK_RESULT_FORMAT="json",
                       ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
        run_env.update(env or {})
        completed = subprocess.run(command, cwd=REPO, env=run_env, capture_output=True, text=True,
                                   check=False)
        try:
            report = json.loads(completed.stdout)
        except ValueError as error:
            raise AssertionError("ansible-playbook gave no JSON (rc=%d):\n%s\n%s"
                                 % (completed.returncode, completed.stdout, completed.stderr)) from error
        result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
        result.setdefault("failed", False)
        result.setdefault("changed", False)
        result["_stdout"] = completed.stdout
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def owned_database(postgres, database, owner, rows):
    """A fresh database owned by role owner, with a table "runs" of rows rows (owned by owner too)."""
    import psycopg

    with psycopg.connect(postgres.uri(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % database)
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone():
            conn.execute('CREATE ROLE "%s" LOGIN' % owner)
        conn.execute('CREATE DATABASE "%s" OWNER "%s"' % (database, owner))
    with psycopg.connect(postgres.uri(database), autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO runs SELECT g, 'run-' || g FROM generate_series(1, %d) g" % rows)
        conn.execute('ALTER TABLE runs OWNER TO "%s"' % owner)

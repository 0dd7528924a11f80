"""TLS inside the shared installed stack (issue: isolation by default).

site.yml turns TLS on by default: PostgreSQL accepts TCP logins only over TLS
and MinIO answers only HTTPS, both with certificates of the CA the collection
made for the namespace. Seen from inside the MLflow pod, with the credentials
and CA bundle it mounts: a plain-text login to PostgreSQL is refused before
the password is asked, a verify-full login succeeds over TLSv1.3, a plain HTTP
request to MinIO is refused, HTTPS verified with the stack's CA answers and
HTTPS verified with the system's CAs fails. Every connection MLflow itself
holds to PostgreSQL is encrypted (pg_stat_ssl). The certificates chain to the
CA, name the Services, and the CA's key is in no pod. No cluster is a
failure, not a skip.
"""
import base64
import datetime
import json

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from e2e_support import kubectl, mlflow_sessions, serves_tls

# Runs in the MLflow container: its mounted credentials and CA bundles.
CLIENT = r"""
import json, ssl, urllib.error, urllib.request
import psycopg2

SECRETS = "/run/secrets/mlflow"
def read(path):
    with open(f"{SECRETS}/{path}") as f:
        return f.read().strip()

login = dict(host="%(postgresql)s", port=5432, dbname="mlflow", user=read("database/username"),
             password=read("database/password"), connect_timeout=10)
out = {}
try:
    psycopg2.connect(sslmode="disable", **login).close()
    out["plain"] = "connected"
except psycopg2.OperationalError as error:
    out["plain"] = str(error)
try:
    psycopg2.connect(sslmode="verify-full", sslrootcert="/nonexistent/ca.crt", **login).close()
    out["no_ca"] = "connected"
except psycopg2.OperationalError as error:
    out["no_ca"] = str(error)
with psycopg2.connect(sslmode="verify-full", sslrootcert=f"{SECRETS}/tls/database-ca.crt", **login) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        out["verified"] = list(cur.fetchone())
conn.close()

minio = "%(minio)s:9000/minio/health/live"
def fetch(url, context=None):
    try:
        with urllib.request.urlopen(url, timeout=10, context=context) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return "%%s %%s" %% (error.code, error.read()[:200].decode(errors="replace"))
    except (urllib.error.URLError, OSError) as error:
        return "error: %%s" %% error
out["http"] = fetch("http://" + minio)
out["https_stack_ca"] = fetch("https://" + minio, ssl.create_default_context(cafile=f"{SECRETS}/tls/s3-ca.crt"))
out["https_system_ca"] = fetch("https://" + minio, ssl.create_default_context())
print(json.dumps(out))
"""


def mlflow_pod(stack):
    pods = json.loads(kubectl("-n", stack.namespace, "get", "pods", "-l",
                              f"app.kubernetes.io/name=mlflow,app.kubernetes.io/instance={stack.releases['mlflow']}",
                              "--field-selector=status.phase=Running", "-o", "json").stdout)["items"]
    assert pods, "no running MLflow pod"
    return pods[0]["metadata"]["name"]


def test_the_stack_s_clients_verify_and_plain_text_is_refused(shared_stack):
    namespace, releases = shared_stack.namespace, shared_stack.releases
    script = CLIENT % {"postgresql": releases["postgresql"], "minio": releases["minio"]}
    run = kubectl("-n", namespace, "exec", mlflow_pod(shared_stack), "-c", "mlflow", "--",
                  "python3", "-c", script, timeout=120)
    out = json.loads(run.stdout.strip().splitlines()[-1])

    # pg_hba has no plain-text TCP line: refused before any password is asked.
    assert "no pg_hba.conf entry" in out["plain"] and "no encryption" in out["plain"], out["plain"]
    assert out["no_ca"] != "connected", "verify-full connected without the CA"
    assert out["verified"] == [True, "TLSv1.3"], out["verified"]

    # Go's TLS server answers a plain HTTP request with 400 and this text.
    assert str(out["http"]).startswith("400") and "HTTPS" in str(out["http"]), out["http"]
    assert out["https_stack_ca"] == 200, out["https_stack_ca"]
    assert "CERTIFICATE_VERIFY_FAILED" in str(out["https_system_ca"]), out["https_system_ca"]


def test_mlflow_s_own_database_sessions_are_encrypted(shared_stack):
    namespace, releases = shared_stack.namespace, shared_stack.releases
    with shared_stack.port_forward("mlflow", 5000) as port:
        import urllib.request
        # Any API call makes the server use its pool.
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=1")
        password = shared_stack.admin_password()
        token = base64.b64encode(f"{shared_stack.secret_data(releases['mlflow'] + '-auth')['admin-username']}"
                                 f":{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
    assert serves_tls(namespace, releases["postgresql"]) and serves_tls(namespace, releases["minio"])
    total, encrypted = mlflow_sessions(namespace, releases["postgresql"])
    assert total > 0, "MLflow holds no database session"
    assert encrypted == total, f"{total - encrypted} of MLflow's {total} sessions are not on TLSv1.3"


def certificate(stack, secret, key="tls.crt"):
    return x509.load_pem_x509_certificate(stack.secret_data(secret)[key].encode())


def test_the_server_certificates_chain_to_the_stack_s_ca(shared_stack):
    namespace, releases = shared_stack.namespace, shared_stack.releases
    trust = json.loads(kubectl("-n", namespace, "get", "configmap", "mlops-tls-trust", "-o", "json").stdout)
    authority = x509.load_pem_x509_certificate(trust["data"]["ca.crt"].encode())
    assert authority.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    now = datetime.datetime.now(datetime.timezone.utc)
    for component in ("postgresql", "minio"):
        leaf = certificate(shared_stack, f"{releases[component]}-tls")
        leaf.verify_directly_issued_by(authority)
        assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = names.get_values_for_type(x509.DNSName)
        assert f"{releases[component]}.{namespace}.svc" in dns, dns
        assert "localhost" in dns, dns
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert ExtendedKeyUsageOID.SERVER_AUTH in usages
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert leaf.not_valid_after_utc - now > datetime.timedelta(days=30)

    # The CA's key signs certificates: no pod mounts its Secret.
    pods = json.loads(kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)["items"]
    mounted = {volume.get("secret", {}).get("secretName") for item in pods for volume in item["spec"]["volumes"]}
    projected = {source.get("secret", {}).get("name") for item in pods for volume in item["spec"]["volumes"]
                 for source in volume.get("projected", {}).get("sources", [])}
    assert "mlops-tls-ca" not in mounted | projected

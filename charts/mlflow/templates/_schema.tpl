{{/*
Python that turns the database login the pod mounts as files (or a whole URI)
into the backend store URI, URL-encoding the login so any generated password
works. Shared by server.sh, gc.sh and the schema program: the URI with its
password lives in one process's memory only, never in an argument or in the
environment (which /proc/<pid>/environ and every child process carry).
*/}}
{{- define "mlflow.backendUriPython" -}}
import os
from urllib.parse import quote

CREDENTIALS = "/run/secrets/mlflow"


def credential(name):
    with open(os.path.join(CREDENTIALS, name), encoding="utf-8") as f:
        return f.read()


def backend_uri():
    if os.path.exists(os.path.join(CREDENTIALS, "database/uri")):
        return credential("database/uri").strip()
    e = os.environ
    uri = "postgresql://%s:%s@%s:%s/%s?sslmode=%s" % (
        quote(credential("database/username"), safe=""), quote(credential("database/password"), safe=""),
        e["MLFLOW_DB_HOST"], e["MLFLOW_DB_PORT"], quote(e["MLFLOW_DB_NAME"], safe=""),
        e["MLFLOW_DB_SSLMODE"])
    # SQLAlchemy hands query keys to the driver and the driver to libpq.
    if e.get("MLFLOW_DB_SSLROOTCERT"):
        uri += "&sslrootcert=" + quote(e["MLFLOW_DB_SSLROOTCERT"], safe="/")
    return uri
{{- end -}}

{{/*
The schema program, run as "python3 -c <program> migrate|wait".
migrate (the pre-install/pre-upgrade hook Job, once per release change):
brings the tracking and auth schemas to this image's MLflow version, in one
transaction each, and ends a failure with one line "MLflow schema migration
failed: <cause>" that the role reports.
wait (each server pod's init container): never migrates; waits until both
schemas are at this image's version, then makes the admin login in the Secret
the one that works.
*/}}
{{- define "mlflow.schemaProgram" -}}
{{ include "mlflow.backendUriPython" . }}


import sys
import time
import traceback

import sqlalchemy
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from mlflow.store.db import utils as tracking_db
{{- if .Values.auth.enabled }}
from mlflow.server.auth.db import utils as auth_db
{{- end }}

WAIT_SECONDS = {{ int .Values.backendStore.schemaWaitSeconds }}


def revisions(engine, uri):
    """{schema: (revision in the database, revision of this image)}"""
    found = {}
    with engine.connect() as connection:
        found["tracking"] = (MigrationContext.configure(connection).get_current_revision(),
                             tracking_db._get_latest_schema_revision())
        {{- if .Values.auth.enabled }}
        auth = MigrationContext.configure(connection, opts={"version_table": "alembic_version_auth"})
        auth_script = ScriptDirectory.from_config(auth_db._get_alembic_config(uri))
        found["auth"] = (auth.get_current_revision(), auth_script.get_current_head())
        {{- end }}
    return found


def known(revision, schema, uri):
    if revision is None:
        return True
    {{- if .Values.auth.enabled }}
    if schema == "auth":
        script = ScriptDirectory.from_config(auth_db._get_alembic_config(uri))
    else:
        script = ScriptDirectory.from_config(tracking_db._get_alembic_config(""))
    {{- else }}
    script = ScriptDirectory.from_config(tracking_db._get_alembic_config(""))
    {{- end }}
    try:
        return script.get_revision(revision) is not None
    except Exception:
        return False


def describe(found):
    return ", ".join("%s schema at %s (this MLflow: %s)" % (name, now, head) for name, (now, head) in found.items())


def masked(text, uri):
    password = sqlalchemy.engine.make_url(uri).password
    return text.replace(password, "********") if password else text


def cause(exc):
    """One line: the database's own error when there is one."""
    root = getattr(exc, "orig", None) or exc
    lines = str(root).strip().splitlines() or [""]
    return "%s.%s: %s" % (type(root).__module__, type(root).__name__, lines[0])


def migrate(uri):
    engine = tracking_db.create_sqlalchemy_engine_with_retry(uri)
    before = revisions(engine, uri)
    if "experiments" not in sqlalchemy.inspect(engine).get_table_names():
        # "mlflow db upgrade" cannot start from an empty database: the
        # tracking store creates the schema (the server's default artifact root).
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        print("Creating the MLflow schema in an empty database", flush=True)
        SqlAlchemyStore(uri, "mlflow-artifacts:/")
    now, head = revisions(engine, uri)["tracking"]
    if now != head:
        print("Migrating the MLflow tracking schema from %s to %s" % (now, head), flush=True)
        tracking_db._upgrade_db(engine)
    {{- if .Values.auth.enabled }}
    # The auth app keeps its tables (and alembic_version_auth) in the same
    # database; migrating them here spares the servers a race at first start.
    auth_db.migrate_if_needed(engine, "head")
    {{- end }}
    after = revisions(engine, uri)
    print(("The MLflow schema was current: %s" if after == before else "Migrated the MLflow schema: %s")
          % describe(after), flush=True)
    engine.dispose()


def wait(uri):
    engine = tracking_db.create_sqlalchemy_engine_with_retry(uri)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        if "experiments" in sqlalchemy.inspect(engine).get_table_names():
            found = revisions(engine, uri)
            if all(now == head for now, head in found.values()):
                break
            newer = [name for name, (now, _) in found.items() if not known(now, name, uri)]
            if newer:
                sys.exit("The database holds a newer MLflow schema than this image knows (%s): "
                         "run the MLflow version that migrated it, or restore a backup" % describe(found))
            state = describe(found)
        else:
            state = "no MLflow schema yet"
        if time.monotonic() > deadline:
            sys.exit("The MLflow schema is not this image's after %d s (%s): the migration Job (a Helm "
                     "pre-install/pre-upgrade hook) did not run or failed; pods never migrate" % (WAIT_SECONDS, state))
        print("Waiting for the schema migration: %s" % state, flush=True)
        time.sleep(5)
    print("The MLflow schema is current: %s" % describe(found), flush=True)
    engine.dispose()
    {{- if .Values.auth.enabled }}
    # The admin login in the Secret is the one that counts: MLflow itself only
    # creates the admin when it is missing, so a database restored from another
    # installation (or a rotated Secret) would otherwise lock the admin out.
    from mlflow.exceptions import MlflowException
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore
    store = SqlAlchemyStore()
    store.init_db(uri)  # the auth schema is current: nothing to migrate
    name = credential("auth/admin-username")
    password = credential("auth/admin-password")
    if not store.has_user(name):
        try:
            store.create_user(name, password, is_admin=True)
            print("Created admin user %s" % name)
        except MlflowException:
            # Another replica's init container created it first.
            if not store.has_user(name):
                raise
    elif not store.authenticate_user(name, password):
        store.update_user(name, password=password, is_admin=True)
        print("Set the password of admin user %s from its Secret" % name)
    {{- end }}


if __name__ == "__main__":
    uri = backend_uri()
    if sys.argv[1] == "wait":
        wait(uri)
    else:
        try:
            migrate(uri)
        except Exception as exc:
            print(masked(traceback.format_exc(), uri), flush=True)
            # The last line of the log, the one the role reports.
            print(masked("MLflow schema migration failed: %s" % cause(exc), uri), flush=True)
            sys.exit(1)
{{- end -}}

"""The password wrapper backup and restore run psql/pg_dump through in the
PostgreSQL pod, here with the real psql against a real PostgreSQL: the password
on the first stdin line logs in through the pgpass file; a wrong one is refused.
"""
import os
import subprocess
import sys

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".tools", "collections")
if os.path.abspath(COLLECTIONS) not in [os.path.abspath(p) for p in sys.path]:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.mlops.stack.plugins.module_utils._backup.pg_pod import PASSWORD_WRAPPER  # noqa: E402


def psql_through_wrapper(postgres, password):
    argv = [os.path.join(postgres.bindir, "psql"), "-h", postgres.host, "-p", str(postgres.port),
            "-U", postgres.user, "-d", "postgres", "-w", "-tAc", "SELECT current_user"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return subprocess.run(["sh", "-c", PASSWORD_WRAPPER, "sh"] + argv, input=(password + "\n").encode(),
                          capture_output=True, env=env, check=False)


def test_psql_logs_in_with_the_password_from_stdin(postgres):
    done = psql_through_wrapper(postgres, postgres.password)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == postgres.user


def test_a_wrong_password_is_refused(postgres):
    done = psql_through_wrapper(postgres, postgres.password + "x")
    assert done.returncode != 0
    assert b"password authentication failed" in done.stderr

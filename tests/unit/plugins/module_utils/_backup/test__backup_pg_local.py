"""Unit tests for the local pg_dump/pg_restore runner, with stand-in programs."""

import io
import os

import pytest

from ansible_collections.mlops.stack.plugins.module_utils._backup import pg_client, pg_local
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError


def _client_with(fake, tmp_path):
    """A LocalPostgres that runs the stand-in program fake, against a 15.10 server."""
    os.chmod(str(fake), 0o755)
    runner = pg_local.LocalPostgres({"login_host": "h", "login_port": 1, "login_user": "u"}, bindir=str(tmp_path))
    runner._server = (15, "15.10")
    return runner


class TestLocal:
    def test_tool_major(self):
        assert pg_client.tool_major("pg_dump (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)") == 15
        assert pg_client.tool_major("pg_dump (PostgreSQL) 9.6.24") == 9
        assert pg_client.tool_major("garbage") is None

    def test_old_local_client_is_refused(self, monkeypatch, tmp_path):
        fake = tmp_path / "pg_dump"
        fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.2'\n")
        os.chmod(str(fake), 0o755)
        runner = pg_local.LocalPostgres({}, bindir=str(tmp_path))
        runner._server = (15, "15.10")
        with pytest.raises(PostgresError, match="local pg_dump 13.2 is older than the server 15"):
            runner.check_client("pg_dump", 15, "the server")

    def test_pg_dump_exiting_zero_without_a_dump_is_caught(self, tmp_path):
        fake = tmp_path / "pg_dump"
        fake.write_text("#!/bin/sh\ncase \"$1\" in --version) echo 'pg_dump (PostgreSQL) 15.1';; "
                        "*) printf 'not a dump';; esac\nexit 0\n")
        runner = _client_with(fake, tmp_path)
        with pytest.raises(PostgresError, match="custom-format"):
            runner.dump("mlflow", lambda reader: reader.read())

    def test_pg_dump_exiting_zero_with_nothing_is_caught(self, tmp_path):
        fake = tmp_path / "pg_dump"
        fake.write_text("#!/bin/sh\ncase \"$1\" in --version) echo 'pg_dump (PostgreSQL) 15.1';; esac\nexit 0\n")
        runner = _client_with(fake, tmp_path)
        with pytest.raises(PostgresError, match="empty"):
            runner.dump("mlflow", lambda reader: reader.read())

    def test_restore_from_a_file_uses_jobs_and_no_stdin(self, tmp_path):
        fake = tmp_path / "pg_restore"
        log = tmp_path / "args"
        fake.write_text("#!/bin/sh\ncase \"$1\" in --version) echo 'pg_restore (PostgreSQL) 15.1'; exit 0;; esac\n"
                        "echo \"$@\" > %s\ncat > %s.stdin\nexit 0\n" % (log, log))
        runner = _client_with(fake, tmp_path)
        runner.restore("staging", io.BytesIO(b"unused"), 6, 15, dump_file="/sets/x.dump", jobs=4)
        args = log.read_text().split()
        assert args[-1] == "/sets/x.dump" and "--jobs" in args and args[args.index("--jobs") + 1] == "4"
        assert (tmp_path / "args.stdin").read_bytes() == b""

    def test_failed_restore_from_a_file_is_reported(self, tmp_path):
        fake = tmp_path / "pg_restore"
        fake.write_text("#!/bin/sh\ncase \"$1\" in --version) echo 'pg_restore (PostgreSQL) 15.1'; exit 0;; esac\n"
                        "echo 'pg_restore: error: could not open input file' >&2\nexit 1\n")
        runner = _client_with(fake, tmp_path)
        with pytest.raises(PostgresError, match="pg_restore into staging failed .rc=1.: pg_restore: error"):
            runner.restore("staging", io.BytesIO(b""), 0, 15, dump_file="/nowhere.dump", jobs=1)

    def test_the_password_reaches_pg_restore_as_a_pgpass_file_only(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PGPASSWORD", "from-the-controller")
        fake = tmp_path / "pg_restore"
        seen = tmp_path / "seen"
        fake.write_text("#!/bin/sh\ncase \"$1\" in --version) echo 'pg_restore (PostgreSQL) 15.1'; exit 0;; esac\n"
                        "{ echo \"$PGPASSFILE\"; stat -c %%a \"$PGPASSFILE\"; cat \"$PGPASSFILE\"; env; }"
                        " > %s\n" % seen)
        runner = _client_with(fake, tmp_path)
        runner.connection["login_password"] = "pa:ss\\word"
        runner.restore("staging", io.BytesIO(b""), 0, 15, dump_file="/sets/x.dump", jobs=1)
        path, mode, line, environment = seen.read_text().split("\n", 3)
        assert mode == "600"
        assert line == "*:*:*:*:pa\\:ss\\\\word"
        assert "pa:ss" not in environment and "PGPASSWORD" not in environment
        assert not os.path.exists(path), "the pgpass file outlived the run"

    def test_a_password_of_two_lines_is_refused(self, tmp_path):
        fake = tmp_path / "pg_restore"
        fake.write_text("#!/bin/sh\ncase \"$1\" in --version) echo 'pg_restore (PostgreSQL) 15.1'; exit 0;; esac\n")
        runner = _client_with(fake, tmp_path)
        runner.connection["login_password"] = "first\nsecond"
        with pytest.raises(PostgresError, match="^login_password must be a single line for pg_dump and pg_restore$"):
            runner.restore("staging", io.BytesIO(b""), 0, 15, dump_file="/sets/x.dump", jobs=1)

"""Unit tests for what the local and pod database clients share."""

import io

import pytest

from ansible_collections.mlops.stack.plugins.module_utils._backup import pg_client
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError


def test_quoting():
    assert pg_client.quote_ident('we"ird') == '"we""ird"'
    assert pg_client.quote_literal("o'hara") == "'o''hara'"


def test_a_dump_is_recognised_by_its_first_bytes():
    validator = pg_client.DumpValidator(io.BytesIO(b"PGDMP\x01rest"), "pg_dump")
    assert validator.read(2) + validator.read(100) == b"PGDMP\x01rest"
    validator.check_complete()


def test_output_that_is_no_dump_is_refused_as_soon_as_it_shows():
    validator = pg_client.DumpValidator(io.BytesIO(b"sh: pg_dump: not found"), "pg_dump in pod p")
    with pytest.raises(PostgresError, match="pg_dump in pod p did not produce a custom-format dump"):
        validator.read(10)


def test_no_output_is_refused():
    validator = pg_client.DumpValidator(io.BytesIO(b""), "pg_dump")
    validator.read()
    with pytest.raises(PostgresError, match="produced no dump"):
        validator.check_complete()


class Client(pg_client.PostgresClient):
    where = "test"

    def __init__(self, output):
        super(Client, self).__init__({})
        self.output = output
        self.asked = 0

    def _server_version_number(self):
        self.asked += 1
        return 150010

    def _version_output(self, name):
        return "/bin/" + name, self.output

    def _program_text(self, program):
        return program

    def _too_old(self, name, version, why, minimum_major):
        return "%s %s is older than %s %d" % (name, version, why, minimum_major)


def test_the_server_version_is_asked_once():
    client = Client("")
    assert client.server_version() == (15, "15.10") and client.server_version() == (15, "15.10")
    assert client.asked == 1


def test_client_programs_are_checked_against_a_minimum():
    assert Client("pg_dump (PostgreSQL) 15.10\n").check_client("pg_dump", 15, "the server") == ("/bin/pg_dump",
                                                                                                "15.10")
    with pytest.raises(PostgresError, match="^pg_dump 14.2 is older than the server 15$"):
        Client("pg_dump (PostgreSQL) 14.2").check_client("pg_dump", 15, "the server")
    with pytest.raises(PostgresError, match="cannot tell the version of /bin/pg_dump from 'garbage'"):
        Client("garbage").tool_version("pg_dump")

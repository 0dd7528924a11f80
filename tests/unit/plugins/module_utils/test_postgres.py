"""Unit tests for the shared PostgreSQL options and connection helper."""

import socket

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import postgres
from ansible_collections.mlops.stack.plugins.module_utils.errors import PostgresError


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_only_the_password_is_secret():
    spec = postgres.postgres_argument_spec()
    assert spec["login_password"]["no_log"] is True
    assert [name for name, option in spec.items() if option.get("no_log")] == ["login_password"]


def test_client_options_choose_where_the_programs_run():
    spec = postgres.postgres_client_argument_spec()
    assert set(spec) == {"pod", "namespace", "container", "kubeconfig", "context", "pg_bindir"}
    assert spec["namespace"]["default"] == "mlops"


def test_connection_takes_only_connection_options():
    params = dict(login_host="db", login_port=5433, database="mlflow", pod=None)
    connection = postgres.postgres_connection(params)
    assert set(connection) == set(postgres.postgres_argument_spec())
    assert connection["login_host"] == "db" and connection["login_db"] is None


@pytest.mark.parametrize("port", [0, 70000])
def test_a_port_out_of_range_is_refused_before_connecting(port):
    with pytest.raises(PostgresError, match="Invalid login_port"):
        postgres.connect(dict(login_host="127.0.0.1", login_port=port))


def test_a_refused_connection_is_one_line_naming_the_server():
    port = free_port()
    with pytest.raises(PostgresError) as caught:
        postgres.connect(dict(login_host="127.0.0.1", login_port=port, login_user="u", connect_timeout=2))
    message = caught.value.message
    assert message.startswith("Failed to connect to PostgreSQL at 127.0.0.1:%d: " % port)
    assert "\n" not in message


def test_first_line_of_a_driver_error():
    assert postgres.first_line(Exception("FATAL: no\nDETAIL: more")) == "FATAL: no"
    assert postgres.first_line(ValueError()) == "ValueError"

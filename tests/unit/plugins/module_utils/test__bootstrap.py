"""Validation of postgresql_bootstrap parameters: it must fail before any connection."""

import pytest

from ansible_collections.mlops.stack.plugins.module_utils._bootstrap import (
    MASK,
    _role_options,
    _with_password,
    desired_state,
)
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError


def params(**overrides):
    base = dict(database="mlflow", role="mlflow", password="s3cret-value", conn_limit=-1,
                encoding="UTF8", extensions=[], privileges=[], additional_databases=[],
                additional_roles=[], update_password="always", state="present")
    base.update(overrides)
    return base


def test_defaults_give_database_owned_by_role():
    desired = desired_state(params())
    assert [(d["name"], d["owner"]) for d in desired["databases"]] == [("mlflow", "mlflow")]
    assert [(r["name"], r["login"], r["conn_limit"]) for r in desired["roles"]] == [("mlflow", True, -1)]
    assert desired["grants"] == []


def test_additional_database_owner_defaults_to_role():
    desired = desired_state(params(additional_databases=[
        dict(name="extra", owner=None, encoding=None, extensions=["citext", "citext"])]))
    extra = desired["databases"][1]
    assert (extra["owner"], extra["encoding"], extra["extensions"]) == ("mlflow", "UTF8", ["citext"])


def test_all_privileges_expand_and_default_to_main_database():
    desired = desired_state(params(privileges=[dict(role="reader", database=None, privs=["ALL", "TEMP"])]))
    assert desired["grants"] == [dict(role="reader", database="mlflow",
                                      privs=["CONNECT", "CREATE", "TEMPORARY"])]


@pytest.mark.parametrize("overrides, option", [
    (dict(database=""), "database"),
    (dict(role="r" * 64), "role"),
    (dict(role=u"\u00e9" * 32), "role"),  # 32 characters, but 64 bytes
    (dict(conn_limit=-2), "conn_limit"),
    (dict(extensions=["ok", ""]), "extensions[1]"),
    (dict(additional_roles=[dict(name="x", password=None, login=True, conn_limit=-7)]),
     "additional_roles[0].conn_limit"),
    (dict(additional_databases=[dict(name="mlflow", owner=None, encoding=None, extensions=[])]),
     "additional_databases[0]"),
    (dict(privileges=[dict(role="", database=None, privs=["CONNECT"])]), "privileges[0].role"),
])
def test_invalid_parameters_name_the_option(overrides, option):
    with pytest.raises(ParameterError) as caught:
        desired_state(params(**overrides))
    message = caught.value.message
    assert message.startswith("Failed to validate %s: " % option)
    assert "\n" not in message


def test_longest_valid_name_is_accepted():
    assert desired_state(params(role="r" * 63))["roles"][0]["name"] == "r" * 63


def test_displayed_statement_masks_the_password():
    role = dict(login=True, conn_limit=3)
    statement, display = _with_password(
        "ALTER ROLE {} WITH {}", "mlflow",
        lambda masked: _role_options(role, "SCRAM-SHA-256$secret-verifier", masked))
    shown = display.as_string(None)
    assert shown == "ALTER ROLE \"mlflow\" WITH LOGIN CONNECTION LIMIT 3 PASSWORD '%s'" % MASK
    assert "secret-verifier" in statement.as_string(None)

"""Unit tests for the typed errors and the action they carry."""

import pytest

from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    BackupError,
    S3Error,
    StackError,
    failed_to,
    failure_of,
)


def test_an_error_without_action_reads_as_its_reason():
    error = BackupError("artifact bucket x does not exist")
    assert error.message == "artifact bucket x does not exist"
    assert str(error) == error.message


def test_an_error_with_action_reads_failed_to():
    error = StackError("no  such\nthing", action="read bucket x", hint=1)
    assert error.message == "Failed to read bucket x: no such thing"
    assert error.details == dict(hint=1)


def test_the_first_action_named_wins():
    error = StackError("denied")
    error.name_action("read bucket x").name_action("back up the stack")
    assert error.message == "Failed to read bucket x: denied"


def test_failure_of_names_the_action_of_errors_raised_inside():
    with pytest.raises(BackupError) as caught:
        with failure_of("back up artifacts"):
            raise BackupError("artifact bucket x does not exist")
    assert caught.value.message == "Failed to back up artifacts: artifact bucket x does not exist"


def test_failure_of_keeps_an_action_already_named():
    with pytest.raises(S3Error) as caught:
        with failure_of("back up artifacts"):
            raise S3Error("AccessDenied", action="list bucket x", code="AccessDenied")
    assert caught.value.message == "Failed to list bucket x: AccessDenied"
    assert caught.value.code == "AccessDenied"


def test_failure_of_lets_other_errors_through():
    with pytest.raises(KeyError):
        with failure_of("back up artifacts"):
            raise KeyError("bug")


def test_failed_to_is_one_line():
    assert failed_to("verify backup set x", "a\n b") == "Failed to verify backup set x: a b"

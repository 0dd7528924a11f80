# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors raised by the collection's module_utils.

Only a module's main() turns them into a failure, so every expected problem
reaches the user as a single line ("Failed to <verb> <object>: <reason>") and
never as a traceback.

An error carries its reason and, once known, the action that failed. Code
that knows the action raises with it; code that does not (a helper shared by
several steps) raises without, and the step around it names the action with
``failure_of()``. An action is set once: the innermost step that knows it wins.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib


class StackError(Exception):
    """Base class: an expected failure with a message fit for the user."""

    def __init__(self, reason, action=None, **details):
        super(StackError, self).__init__(reason)
        self.reason = " ".join(str(reason).split())
        self.action = action
        self.details = details

    @property
    def message(self):
        if self.action is None:
            return self.reason
        return failed_to(self.action, self.reason)

    def __str__(self):
        return self.message

    def name_action(self, action):
        """Set the action that failed, unless the error already names one."""
        if self.action is None:
            self.action = action
        return self


class ParameterError(StackError):
    """A parameter value is invalid; raised before anything is changed."""


class S3Error(StackError):
    """An S3 endpoint refused or could not be reached; ``code`` is S3's error code."""

    def __init__(self, reason, action=None, code=None, **details):
        super(S3Error, self).__init__(reason, action, **details)
        self.code = code


class PostgresError(StackError):
    """A PostgreSQL server refused or could not be reached."""


class KubernetesError(StackError):
    """The Kubernetes API refused or a pod command failed."""


class BackupError(StackError):
    """A backup set could not be written, read or verified."""


class LockError(StackError):
    """The lock is held by another run, or this run lost it."""


@contextlib.contextmanager
def failure_of(action):
    """Expected errors raised inside read as failures of action (unless they name theirs)."""
    try:
        yield
    except StackError as error:
        error.name_action(action)
        raise


def failed_to(action, reason):
    """Format the collection's standard failure message."""
    reason = " ".join(str(reason).split())
    return "Failed to %s: %s" % (action, reason)

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors raised by the collection's module_utils.

Only a module's main() turns them into a failure, so every expected problem
reaches the user as a single line ("Failed to <verb> <object>: <reason>") and
never as a traceback.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class StackError(Exception):
    """Base class: an expected failure with a message fit for the user."""

    def __init__(self, message, **details):
        super(StackError, self).__init__(message)
        self.message = message
        self.details = details


class ParameterError(StackError):
    """A parameter value is invalid; raised before anything is changed."""


class S3Error(StackError):
    """An S3 endpoint refused or could not be reached."""


class PostgresError(StackError):
    """A PostgreSQL server refused or could not be reached."""


class KubernetesError(StackError):
    """The Kubernetes API refused or a pod command failed."""


class BackupError(StackError):
    """A backup set could not be written, read or verified."""


def failed_to(verb_object, reason):
    """Format the collection's standard failure message."""
    reason = " ".join(str(reason).split())
    return "Failed to %s: %s" % (verb_object, reason)

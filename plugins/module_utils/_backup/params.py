# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the options backup, restore and backup_info share, and their timing figures."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.mlops.stack.plugins.module_utils._backup import seal
from ansible_collections.mlops.stack.plugins.module_utils._backup.manifest import Trust
from ansible_collections.mlops.stack.plugins.module_utils._backup.stores import Selection
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError

DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
MB = 1024.0 * 1024.0


def check_workers(params):
    if not 1 <= params["workers"] <= 64:
        raise ParameterError("Invalid workers %r: it must be between 1 and 64" % params["workers"])


def check_database_access(params, database_optional=False):
    """The options of backup and restore that name the database and how to reach it."""
    if not (database_optional and params.get("database") is None):
        # Without a database, restore takes the name recorded in the set.
        if not DATABASE_NAME.match(params.get("database") or ""):
            raise ParameterError("Invalid database %r: use up to 63 letters, digits, _ or -"
                                 % params.get("database"))
    check_workers(params)
    if params.get("pod") and params.get("pg_bindir"):
        raise ParameterError("pg_bindir applies to local client programs and cannot be used with pod")


def rate(size, seconds):
    """MiB per second, or None for no time at all."""
    return round(size / MB / seconds, 2) if seconds > 0 else None


def rounded(**seconds):
    """Durations in seconds, to the millisecond."""
    return dict((name, round(value, 3)) for name, value in seconds.items())


def key_argument_spec():
    """The options of doc fragment backup_key: the key sets are signed with, the stack's id."""
    return dict(key=dict(type="str", no_log=True), stack_id=dict(type="str"))


def set_key(params, required=True):
    """The seal.SetKey of the key option; None when it is not given and not required."""
    if not params.get("key"):
        if required:
            raise ParameterError("key is required: every backup set is signed with the backup key "
                                 "(the backup role keeps it in its own Secret)")
        return None
    return seal.SetKey(params["key"])


def this_stack(params):
    """dict(namespace, id) of the stack the module works for (a None id: any of the namespace)."""
    return dict(namespace=params.get("namespace") or "mlops", id=params.get("stack_id") or None)


def selection(params, key):
    """The sets a reader trusts and considers: this stack's, unless all_stacks."""
    stack = None if params.get("all_stacks") else this_stack(params)
    return Selection(Trust(key, bool(params.get("trust_unsigned"))), stack)

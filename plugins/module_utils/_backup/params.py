# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of the options backup, restore and backup_info share, and their timing figures."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

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

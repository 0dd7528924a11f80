# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options of every module that connects to PostgreSQL.
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host name or address of the PostgreSQL server. Falls back to E(PGHOST).
    type: str
    default: localhost
  login_port:
    description:
      - Port of the PostgreSQL server. Falls back to E(PGPORT).
    type: int
    default: 5432
  login_user:
    description:
      - Role to log in as; it must be allowed to create roles and databases.
      - Falls back to E(PGUSER).
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Never logged. Falls back to E(PGPASSWORD).
    type: str
  login_db:
    description:
      - Database to connect to for server-wide work. Falls back to E(PGDATABASE).
    type: str
    default: postgres
  ssl_mode:
    description:
      - libpq SSL mode. Falls back to E(PGSSLMODE).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate used with O(ssl_mode=verify-ca) or O(ssl_mode=verify-full).
      - Falls back to E(PGSSLROOTCERT).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the connection.
    type: int
    default: 10
requirements:
  - psycopg >= 3.1
"""

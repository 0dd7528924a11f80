#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: postgresql_bootstrap
short_description: Ensure the MLflow database, its owning role and related objects exist
version_added: 0.1.0
description:
  - Ensures the database MLflow stores its metadata in (O(database)) and the login role
    that owns it (O(role)) exist, with the given password, connection limit, extensions
    and database privileges.
  - Makes the owning role able to create tables in schema C(public) of each managed
    database. PostgreSQL 15 no longer grants C(CREATE) on C(public) to every role, and
    MLflow's migrations create their tables there.
  - Also manages additional databases (O(additional_databases)) and roles
    (O(additional_roles)).
  - Passwords are compared with the verifier the server stores (SCRAM-SHA-256, md5 or
    plain), so a run with an unchanged password reports no change. New passwords are
    sent as verifiers computed on the client, never in clear text.
  - Databases and roles are dropped only with O(state=absent).
author:
  - mlops.stack contributors (@mlops-stack)
extends_documentation_fragment:
  - mlops.stack.postgres_connection
attributes:
  check_mode:
    support: full
    description:
      - Statements run in a transaction that is rolled back.
      - C(CREATE DATABASE) and C(DROP DATABASE) cannot run in a transaction; check mode
        lists them in RV(queries) without running them, along with the statements that
        depend on them. With O(state=absent) nothing is run.
  diff_mode:
    support: full
    description:
      - Returns the roles and databases before and after; passwords are never part of it.
options:
  database:
    description:
      - Name of the database MLflow uses, owned by O(role).
      - At most 63 bytes.
    type: str
    default: mlflow
  role:
    description:
      - Name of the login role that owns O(database).
      - At most 63 bytes.
    type: str
    default: mlflow
  password:
    description:
      - Password of O(role). Never logged.
      - A SCRAM-SHA-256 or md5 verifier is stored as given.
      - When omitted, the password of an existing role is left alone and a new role has none.
    type: str
  update_password:
    description:
      - V(always) sets O(password) whenever it differs from the stored one.
      - V(on_create) sets passwords only on roles this run creates.
      - Applies to O(additional_roles) too.
    type: str
    choices: [always, on_create]
    default: always
  conn_limit:
    description:
      - Connection limit of O(role); V(-1) means no limit.
    type: int
    default: -1
  encoding:
    description:
      - Encoding of databases this module creates (from C(template0)).
      - An existing database keeps its encoding; a mismatch only gives a warning.
    type: str
    default: UTF8
  extensions:
    description:
      - Extensions to create in O(database). Others are left alone.
      - Each must be available on the server (C(pg_available_extensions)).
    type: list
    elements: str
    default: []
  privileges:
    description:
      - Database privileges to grant. Privileges are added, never revoked.
      - The owner of a database implicitly holds them all.
    type: list
    elements: dict
    default: []
    suboptions:
      role:
        description:
          - Role that receives the privileges; managed here or existing.
        type: str
        required: true
      database:
        description:
          - Database the privileges are on. Defaults to O(database).
        type: str
      privs:
        description:
          - Privileges to grant; V(ALL) stands for the three others.
        type: list
        elements: str
        choices: [ALL, CONNECT, CREATE, TEMPORARY, TEMP]
        default: [CONNECT]
  additional_databases:
    description:
      - Further databases to ensure (or drop with O(state=absent)).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name of the database, at most 63 bytes.
        type: str
        required: true
      owner:
        description:
          - Owning role, managed here or existing. Defaults to O(role).
        type: str
      encoding:
        description:
          - Encoding if the database is created. Defaults to O(encoding).
        type: str
      extensions:
        description:
          - Extensions to create in the database.
        type: list
        elements: str
        default: []
  additional_roles:
    description:
      - Further roles to ensure, or to drop with O(state=absent) once the databases are dropped.
    type: list
    default: []
    elements: dict
    suboptions:
      name:
        description:
          - Name of the role, at most 63 bytes.
        type: str
        required: true
      password:
        description:
          - Password of the role. Never logged. Left alone when omitted.
        type: str
      login:
        description:
          - Whether the role may log in.
        type: bool
        default: true
      conn_limit:
        description:
          - Connection limit of the role; V(-1) means no limit.
        type: int
        default: -1
  state:
    description:
      - V(present) creates or updates everything listed.
      - V(absent) drops the databases, then the roles. A database still in use cannot
        be dropped, nor a role that owns objects elsewhere.
    type: str
    choices: [present, absent]
    default: present
notes:
  - O(login_user) is best a superuser. A role with C(CREATEDB) and C(CREATEROLE) works
    for existing roles and databases, but creating a database owned by another role
    requires membership in that role, and comparing passwords needs read access to
    C(pg_authid); without it passwords are set on every run, with a warning.
seealso:
  - name: PostgreSQL CREATE ROLE
    description: Role attributes this module manages.
    link: https://www.postgresql.org/docs/current/sql-createrole.html
  - name: PostgreSQL 15 release notes
    description: Why CREATE on schema public is no longer granted to PUBLIC.
    link: https://www.postgresql.org/docs/15/release-15.html
"""

EXAMPLES = r"""
- name: Ensure the MLflow database and role
  mlops.stack.postgresql_bootstrap:
    login_host: postgresql.mlops.svc.cluster.local
    login_password: "{{ postgres_admin_password }}"
    password: "{{ mlflow_db_password }}"
    conn_limit: 50
  no_log: true

- name: Ensure a reporting role and a database for experiments
  mlops.stack.postgresql_bootstrap:
    login_password: "{{ postgres_admin_password }}"
    password: "{{ mlflow_db_password }}"
    extensions:
      - pg_trgm
    additional_roles:
      - name: mlflow_reader
        password: "{{ reader_password }}"
        conn_limit: 5
    additional_databases:
      - name: experiments
        extensions:
          - citext
    privileges:
      - role: mlflow_reader
        privs: [CONNECT]
  no_log: true

- name: Remove the MLflow database, then its role
  mlops.stack.postgresql_bootstrap:
    login_password: "{{ postgres_admin_password }}"
    state: absent
"""

RETURN = r"""
queries:
  description:
    - Statements run, in order, with passwords shown as C(********).
    - In check mode also those that would run but cannot run in a transaction.
  returned: always
  type: list
  elements: str
  sample:
    - CREATE ROLE "mlflow" WITH LOGIN CONNECTION LIMIT -1 PASSWORD '********'
    - CREATE DATABASE "mlflow" WITH OWNER "mlflow" ENCODING 'UTF8' TEMPLATE template0
roles:
  description:
    - Resulting attributes of the managed roles that exist, by name. Never the password.
  returned: always
  type: dict
  sample:
    mlflow:
      name: mlflow
      login: true
      superuser: false
      createdb: false
      createrole: false
      inherit: true
      replication: false
      bypassrls: false
      conn_limit: -1
      valid_until: null
databases:
  description:
    - Resulting state of the managed databases that exist, by name.
    - C(extensions) maps extension names to versions (V(null) in check mode for a
      database not created yet).
  returned: always
  type: dict
  sample:
    mlflow:
      name: mlflow
      owner: mlflow
      encoding: UTF8
      conn_limit: -1
      allow_connections: true
      extensions:
        plpgsql: "1.0"
      public_schema_owner: pg_database_owner
diff:
  description: Roles and databases before and after, as in RV(roles) and RV(databases).
  returned: when diff mode is on
  type: dict
  contains:
    before:
      description: State before the run.
      type: dict
    after:
      description: State after the run (or what it would be, in check mode).
      type: dict
"""

from ansible_collections.mlops.stack.plugins.module_utils._bootstrap import bootstrap
from ansible_collections.mlops.stack.plugins.module_utils.common import ModuleDeclaration

OPTIONS = dict(
    database=dict(type="str", default="mlflow"),
    role=dict(type="str", default="mlflow"),
    password=dict(type="str", no_log=True),
    update_password=dict(type="str", choices=["always", "on_create"], default="always",
                         no_log=False),
    conn_limit=dict(type="int", default=-1),
    encoding=dict(type="str", default="UTF8"),
    extensions=dict(type="list", elements="str", default=[]),
    privileges=dict(
        type="list", elements="dict", default=[],
        options=dict(
            role=dict(type="str", required=True),
            database=dict(type="str"),
            privs=dict(type="list", elements="str", default=["CONNECT"],
                       choices=["ALL", "CONNECT", "CREATE", "TEMPORARY", "TEMP"]),
        ),
    ),
    additional_databases=dict(
        type="list", elements="dict", default=[],
        options=dict(
            name=dict(type="str", required=True),
            owner=dict(type="str"),
            encoding=dict(type="str"),
            extensions=dict(type="list", elements="str", default=[]),
        ),
    ),
    additional_roles=dict(
        type="list", elements="dict", default=[],
        options=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", no_log=True),
            login=dict(type="bool", default=True),
            conn_limit=dict(type="int", default=-1),
        ),
    ),
    state=dict(type="str", choices=["present", "absent"], default="present"),
)
MODULE = ModuleDeclaration(bootstrap, "bootstrap the MLflow database", OPTIONS, groups=("postgres_connection",))
argspec = MODULE.argument_spec

if __name__ == "__main__":
    MODULE.main()

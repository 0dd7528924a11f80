# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MinIO users and policies over MinIO's admin API (the MinIO Python SDK's MinioAdmin).

The rules (names, policy documents, what to change) are pure functions; the
AdminService holds the calls. Every call runs under ``admin_errors()``, so a
failure is one S3Error, "Failed to <verb> <object>: <reason>", keeping MinIO's
error code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.mlops.stack.plugins.module_utils._minio_http import http_pool, transport_errors
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError, S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3 import (
    s3_call,
    s3_client,
    s3_connection,
)

try:
    from minio.credentials import StaticProvider
    from minio.error import MinioAdminException
    from minio.minioadmin import MinioAdmin

    MINIO_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - reported by the module
    MINIO_IMPORT_ERROR = import_error

# Admin error codes meaning "no such user / policy".
NOT_FOUND = frozenset(("XMinioAdminNoSuchUser", "XMinioAdminNoSuchPolicy", "XMinioIAMNoSuchPolicy"))
# S3 codes saying a key pair is not valid (as opposed to valid but not allowed).
BAD_KEY = frozenset(("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId"))
POLICY_VERSION = "2012-10-17"
_STATEMENT_KEYS = frozenset(("Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"))


# --- rules -------------------------------------------------------------------

def validate_user(name, password, state):
    """MinIO's rules for a user's access key and secret key, named by parameter."""
    if len(name) < 3 or len(name) > 128 or any(char in name for char in "=,/\\ ") or not name.isprintable():
        raise ParameterError("name %r must be 3 to 128 printable characters without spaces, '=', ',', '/' or '\\'"
                             % name)
    if state == "present" and password is not None and not 8 <= len(password) <= 40:
        raise ParameterError("password must be 8 to 40 characters long (MinIO's secret key rule)")


def validate_policy_name(name):
    if not name or len(name) > 128 or any(char in name for char in ", /\\") or not name.isprintable():
        raise ParameterError("name %r must be 1 to 128 printable characters without spaces, ',', '/' or '\\'"
                             % name)


def _as_sorted_list(value):
    return sorted(value) if isinstance(value, list) else [value]


def normalize_policy(document, parameter="policy"):
    """The policy document in one canonical shape, so that equal meanings compare equal.

    Raises ParameterError naming ``parameter`` when it is not an IAM policy.
    """
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list) or not document["Statement"]:
        raise ParameterError("%s must be an IAM policy document with a non-empty Statement list" % parameter)
    statements = []
    for index, statement in enumerate(document["Statement"]):
        where = "%s.Statement[%d]" % (parameter, index)
        if not isinstance(statement, dict):
            raise ParameterError("%s must be a dictionary" % where)
        unknown = sorted(set(statement) - _STATEMENT_KEYS)
        if unknown:
            raise ParameterError("%s has unknown keys: %s" % (where, ", ".join(unknown)))
        if statement.get("Effect") not in ("Allow", "Deny"):
            raise ParameterError("%s.Effect must be Allow or Deny" % where)
        if not (statement.get("Action") or statement.get("NotAction")):
            raise ParameterError("%s needs Action or NotAction" % where)
        if not (statement.get("Resource") or statement.get("NotResource")):
            raise ParameterError("%s needs Resource or NotResource" % where)
        canonical = {}
        for key, value in statement.items():
            if key == "Sid" and not value:
                continue
            canonical[key] = _as_sorted_list(value) if key.endswith(("Action", "Resource")) else value
        statements.append(canonical)
    return {
        "Version": document.get("Version") or POLICY_VERSION,
        "Statement": sorted(statements, key=lambda item: json.dumps(item, sort_keys=True)),
    }


def plan_policy(current, desired, state):
    """Changes turning the policy ``current`` (None: missing) into ``desired``."""
    if state == "absent":
        return ["delete policy"] if current is not None else []
    if current is None:
        return ["create policy"]
    return ["update policy"] if current != desired else []


def plan_user(current, params, password_works):
    """Changes turning the user ``current`` (None: missing) into what params ask for.

    ``password_works`` says whether the wanted password signs requests as the
    user already (None when it was not tried).
    """
    if params["state"] == "absent":
        return ["delete user"] if current is not None else []
    changes = []
    if current is None:
        changes.append("create user")
        have = []
    else:
        if password_works is False:
            changes.append("set password")
        if current["status"] != "enabled":
            changes.append("enable user")
        have = current["policies"]
    wanted = params["policies"]
    if wanted is not None:
        changes.extend("attach policy %s" % name for name in sorted(set(wanted) - set(have)))
        if params["purge_policies"]:
            changes.extend("detach policy %s" % name for name in sorted(set(have) - set(wanted)))
    return changes


def user_after(current, params, changes):
    """The user as the changes leave it."""
    if params["state"] == "absent":
        return {}
    policies = set(current["policies"] if current else [])
    for change in changes:
        verb, _sep, name = change.partition(" policy ")
        if verb == "attach":
            policies.add(name)
        elif verb == "detach":
            policies.discard(name)
    return {"name": params["name"], "status": "enabled", "policies": sorted(policies)}


# --- calls -------------------------------------------------------------------

def _admin_code(error):
    try:
        return json.loads(error._body).get("Code")  # pylint: disable=protected-access
    except (ValueError, AttributeError):
        return None


def _admin_reason(error):
    try:
        body = json.loads(error._body)  # pylint: disable=protected-access
        reason = ("%s %s" % (body.get("Code", ""), body.get("Message", ""))).strip()
    except (ValueError, AttributeError):
        # Not MinIO's JSON: e.g. "Client sent an HTTP request to an HTTPS server."
        text = (getattr(error, "_body", "") or "").strip().splitlines()
        reason = ("HTTP %s %s" % (getattr(error, "_code", "error"), text[0][:200] if text else "")).strip()
    if _admin_code(error) in BAD_KEY:
        reason += " (check access_key and secret_key)"
    return reason


@contextlib.contextmanager
def admin_errors(action):
    """Turn the admin client's errors raised inside into S3Error("Failed to <action>: <reason>")."""
    try:
        with transport_errors(action):
            yield
    except MinioAdminException as error:
        raise S3Error(_admin_reason(error), action=action, code=_admin_code(error)) from error
    except ValueError as error:
        raise S3Error(str(error), action=action) from error


def admin_client(connection):
    """A MinioAdmin for connection (the dict of s3.s3_connection())."""
    endpoint = connection.get("endpoint_url") or ""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParameterError("endpoint_url %r must be the http:// or https:// URL of a MinIO server" % endpoint)
    if not (connection.get("access_key") and connection.get("secret_key")):
        raise ParameterError("access_key and secret_key (a MinIO admin login) are required")
    verify = connection.get("validate_certs", True)
    pool = http_pool(connection)
    with admin_errors("create MinIO admin client"):
        return MinioAdmin(
            endpoint=parts.netloc,
            credentials=StaticProvider(connection["access_key"], connection["secret_key"]),
            region=connection.get("region") or "",
            secure=parts.scheme == "https",
            cert_check=verify,
            http_client=pool,
        )


class AdminService(object):
    """User and policy operations of one MinioAdmin."""

    def __init__(self, admin):
        self.admin = admin

    def _read(self, action, method, *args):
        try:
            with admin_errors(action):
                return json.loads(method(*args) or "{}")
        except S3Error as error:
            if error.code in NOT_FOUND:
                return None
            raise

    def read_policy(self, name):
        """The policy document (canonical), or None."""
        info = self._read("read policy %s" % name, self.admin.policy_info, name)
        if info is None:
            return None
        # Newer servers wrap the document: {"PolicyName": ..., "Policy": {...}}.
        document = info.get("Policy", info) if isinstance(info.get("Policy"), dict) else info
        return normalize_policy(document, "stored policy %s" % name)

    def write_policy(self, name, document):
        with admin_errors("write policy %s" % name):
            self.admin.policy_add(name, policy=document)

    def policy_users(self, name):
        """Names of the users the policy is attached to."""
        with admin_errors("read the users of policy %s" % name):
            answer = json.loads(self.admin.get_policy_entities(users=[], groups=[], policies=[name]) or "{}")
        users = set()
        for mapping in answer.get("policyMappings") or []:
            if mapping.get("policy") == name:
                users.update(mapping.get("users") or [])
        return sorted(users)

    def delete_policy(self, name):
        with admin_errors("delete policy %s" % name):
            self.admin.policy_remove(name)

    def read_user(self, name):
        """{"name", "status", "policies"} of the user, or None."""
        info = self._read("read user %s" % name, self.admin.user_info, name)
        if info is None:
            return None
        policies = [policy for policy in (info.get("policyName") or "").split(",") if policy]
        return {"name": name, "status": info.get("status") or "enabled", "policies": sorted(policies)}

    def apply_user(self, params, changes):
        """Carry out the changes plan_user() listed, in order."""
        name = params["name"]
        for change in changes:
            action = "%s of %s" % (change, name) if " policy " in change else change.replace("user", "user " + name)
            with admin_errors(action):
                if change == "delete user":
                    self.admin.user_remove(name)
                elif change in ("create user", "set password"):
                    self.admin.user_add(name, params["password"])
                elif change == "enable user":
                    self.admin.user_enable(name)
                elif change.startswith("attach policy "):
                    self.admin.attach_policy([change[len("attach policy "):]], user=name)
                elif change.startswith("detach policy "):
                    self.admin.detach_policy([change[len("detach policy "):]], user=name)


def password_works(connection, name, password):
    """Whether name/password sign S3 requests on the connection's endpoint as a valid key pair.

    A user allowed nothing still gets AccessDenied rather than a bad-key answer,
    so this tells a stored secret from another one without reading it.
    """
    client = s3_client(dict(connection, access_key=name, secret_key=password), max_pool_connections=1)
    try:
        s3_call("check the password of user %s" % name, client.list_buckets)
    except S3Error as error:
        if error.code in BAD_KEY:
            return False
        if error.code == "AccessDenied":
            return True
        raise
    return True


# --- the modules' work --------------------------------------------------------

def _connect(module):
    module.require("minio", MINIO_IMPORT_ERROR)
    connection = s3_connection(module.params)
    return connection, AdminService(admin_client(connection))


def manage_policy(module):
    """mlops.stack.minio_policy: the policy present with this document, or absent."""
    params = module.params
    validate_policy_name(params["name"])
    desired = None
    if params["state"] == "present":
        if params["policy"] is None:
            raise ParameterError("policy is required when state is present")
        desired = normalize_policy(params["policy"])
    _connection, service = _connect(module)
    current = service.read_policy(params["name"])
    changes = plan_policy(current, desired, params["state"])
    if changes and not module.check_mode:
        if params["state"] == "absent":
            service.delete_policy(params["name"])
        else:
            service.write_policy(params["name"], desired)
    users = service.policy_users(params["name"]) if current is not None else []
    result = {"changed": bool(changes), "changes": changes, "policy": desired or {}, "users": users}
    if module.diff_mode:
        result["diff"] = {"before": current or {}, "after": desired or {}}
    return result


def manage_user(module):
    """mlops.stack.minio_user: the user present with this password and these policies, or absent."""
    params = module.params
    validate_user(params["name"], params["password"], params["state"])
    connection, service = _connect(module)
    current = service.read_user(params["name"])
    if params["state"] == "present" and params["password"] is None and current is None:
        raise ParameterError("password is required to create user %s" % params["name"])
    if params["state"] == "present":
        missing = [name for name in params["policies"] or [] if service.read_policy(name) is None]
        if missing:
            raise ParameterError("policies names policies that do not exist: %s" % ", ".join(missing))
    works = None
    if current is not None and params["state"] == "present" and params["password"] is not None \
            and params["update_password"] == "always":
        works = password_works(connection, params["name"], params["password"])
    changes = plan_user(current, params, works)
    if changes and not module.check_mode:
        service.apply_user(params, changes)
    after = user_after(current, params, changes)
    result = {"changed": bool(changes), "changes": changes, "user": after}
    if module.diff_mode:
        result["diff"] = {"before": current or {}, "after": after}
    return result

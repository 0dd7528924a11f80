# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the minio_bucket module: validation, canned policies, diffs.

Nothing here talks to S3, so every rule can be unit tested on its own. The
functions work on a bucket's configuration in the collection's own shape::

    {"name": str, "versioning": "enabled" | "suspended" | "disabled",
     "object_lock": bool, "lifecycle": [rule, ...], "policy": str,
     "policy_document": dict | None, "tags": {str: str}}

where a lifecycle rule is ``{"id", "prefix", "expiration_days",
"noncurrent_expiration_days", "enabled", "managed"}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import re

from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError

ANONYMOUS_ACCESS = ("none", "download", "upload", "public")

# What each canned anonymous access level grants, as mc anonymous sets it:
# bucket-level actions on the bucket ARN, object actions on every key.
_BUCKET_READ = ("s3:GetBucketLocation", "s3:ListBucket")
_BUCKET_WRITE = ("s3:GetBucketLocation", "s3:ListBucketMultipartUploads")
_OBJECT_READ = ("s3:GetObject",)
_OBJECT_WRITE = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)
_CANNED_ACTIONS = {
    "download": (_BUCKET_READ, _OBJECT_READ),
    "upload": (_BUCKET_WRITE, _OBJECT_WRITE),
    "public": (_BUCKET_READ + _BUCKET_WRITE, _OBJECT_READ + _OBJECT_WRITE),
}

_BUCKET_NAME_CHARS = re.compile(r"^[a-z0-9.-]+$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")

MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
MAX_RULE_ID = 255


def bucket_name_problem(name):
    """Why name breaks the S3 bucket naming rules, or None if it is valid."""
    if not name:
        return "the name is empty"
    if not 3 <= len(name) <= 63:
        return "it must be 3 to 63 characters long, not %d" % len(name)
    if not _BUCKET_NAME_CHARS.match(name):
        return "only lowercase letters, digits, dots and hyphens are allowed"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "it must begin and end with a letter or digit"
    if ".." in name or ".-" in name or "-." in name:
        return "dots may not be adjacent to another dot or a hyphen"
    if _IPV4.match(name):
        return "it may not look like an IP address"
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            return "the prefix %r is reserved" % prefix
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return "the suffix %r is reserved" % suffix
    return None


def validate_name(name):
    problem = bucket_name_problem(name)
    if problem:
        raise ParameterError(
            "%r is not a valid S3 bucket name: %s" % (name, problem),
            action="validate name",
        )
    return name


def default_rule_id(prefix):
    """The id a lifecycle rule gets when the task names none."""
    return "expire-%s" % (prefix or "all")


def validate_lifecycle(rules):
    """Lifecycle rules of the task in canonical form; ParameterError if bad.

    Each rule needs expiration_days or noncurrent_expiration_days (or both),
    positive whole days; ids must be unique.
    """
    if rules is None:
        return None
    canonical = []
    seen = set()
    for position, rule in enumerate(rules, start=1):
        prefix = rule.get("prefix") or ""
        where = "rule %d (prefix %r)" % (position, prefix)
        for key in ("expiration_days", "noncurrent_expiration_days"):
            days = rule.get(key)
            if days is not None and days < 1:
                raise ParameterError(
                    "%s has %s %s; days must be a whole number of 1 or more"
                    % (where, key, days),
                    action="validate lifecycle"
                )
        if rule.get("expiration_days") is None and rule.get(
            "noncurrent_expiration_days"
        ) is None:
            raise ParameterError(
                "%s needs expiration_days, noncurrent_expiration_days or both"
                % where,
                action="validate lifecycle"
            )
        rule_id = rule.get("id") or default_rule_id(prefix)
        if len(rule_id) > MAX_RULE_ID:
            raise ParameterError(
                "%s has an id longer than %d characters" % (where, MAX_RULE_ID),
                action="validate lifecycle",
            )
        if rule_id in seen:
            raise ParameterError(
                "%s repeats the id %r; give each rule its own id"
                % (where, rule_id),
                action="validate lifecycle"
            )
        seen.add(rule_id)
        canonical.append(
            dict(
                id=rule_id,
                prefix=prefix,
                expiration_days=rule.get("expiration_days"),
                noncurrent_expiration_days=rule.get("noncurrent_expiration_days"),
                enabled=True,
                managed=True,
            )
        )
    return canonical


def validate_tags(tags):
    """Tags of the task as a dict of strings; ParameterError if S3 would refuse."""
    if tags is None:
        return None
    if len(tags) > MAX_TAGS:
        raise ParameterError(
            "%d tags given; a bucket holds at most %d" % (len(tags), MAX_TAGS),
            action="validate tags",
        )
    result = {}
    for key, value in tags.items():
        key = str(key)
        value = "" if value is None else str(value)
        if not 1 <= len(key) <= MAX_TAG_KEY:
            raise ParameterError(
                "tag key %r must be 1 to %d characters long" % (key, MAX_TAG_KEY),
                action="validate tags",
            )
        if key.lower().startswith("aws:"):
            raise ParameterError(
                "tag key %r uses the reserved prefix 'aws:'" % key, action="validate tags"
            )
        if len(value) > MAX_TAG_VALUE:
            raise ParameterError(
                "the value of tag %r is longer than %d characters"
                % (key, MAX_TAG_VALUE),
                action="validate tags"
            )
        result[key] = value
    return result


def validate_settings(params):
    """Check the parameters that Ansible's argument spec cannot check."""
    validate_name(params["name"])
    if params.get("object_lock") and params.get("versioning") == "suspended":
        raise ParameterError(
            "versioning cannot be suspended on a bucket with object_lock=true",
            action="validate versioning",
        )
    return dict(
        lifecycle=validate_lifecycle(params.get("lifecycle")),
        tags=validate_tags(params.get("tags")),
    )


# Lifecycle configuration as S3 stores it.


def rule_from_s3(raw):
    """A lifecycle rule of the bucket in canonical form.

    Rules with anything this module does not manage (transitions, tag
    filters, dates...) are marked ``managed: false`` so they never compare
    equal to a rule of the task and are kept verbatim when not purged.
    """
    rule_filter = raw.get("Filter")
    managed = True
    if rule_filter is None:
        prefix = raw.get("Prefix", "")
    elif set(rule_filter) - {"Prefix"}:
        prefix = rule_filter.get("Prefix", "")
        managed = False
    else:
        prefix = rule_filter.get("Prefix", "")
    expiration = raw.get("Expiration") or {}
    noncurrent = raw.get("NoncurrentVersionExpiration") or {}
    if set(expiration) - {"Days"} or set(noncurrent) - {"NoncurrentDays"}:
        managed = False
    known = {"ID", "Filter", "Prefix", "Status", "Expiration",
             "NoncurrentVersionExpiration"}
    if set(raw) - known:
        managed = False
    return dict(
        id=raw.get("ID", ""),
        prefix=prefix or "",
        expiration_days=expiration.get("Days"),
        noncurrent_expiration_days=noncurrent.get("NoncurrentDays"),
        enabled=raw.get("Status", "Enabled") == "Enabled",
        managed=managed,
        raw=raw,
    )


def rule_to_s3(rule):
    """The S3 form of a canonical rule (a rule not managed keeps its own)."""
    if "raw" in rule:
        return rule["raw"]
    raw = dict(
        ID=rule["id"],
        Filter=dict(Prefix=rule["prefix"]),
        Status="Enabled" if rule["enabled"] else "Disabled",
    )
    if rule["expiration_days"] is not None:
        raw["Expiration"] = dict(Days=rule["expiration_days"])
    if rule["noncurrent_expiration_days"] is not None:
        raw["NoncurrentVersionExpiration"] = dict(
            NoncurrentDays=rule["noncurrent_expiration_days"]
        )
    return raw


def public_rule(rule):
    """A rule as the module returns it: without its raw S3 form."""
    return dict((key, value) for key, value in rule.items() if key != "raw")


def _same_rule(left, right):
    return public_rule(left) == public_rule(right)


def plan_lifecycle(current, desired, purge):
    """The lifecycle rules after the task, and what changes (a list of strings).

    With purge, the bucket's rules become exactly the task's rules. Without
    it, the task's rules are added or replaced by id and the others kept.
    desired None means the task leaves the lifecycle alone.
    """
    if desired is None:
        return current, []
    current_by_id = dict((rule["id"], rule) for rule in current)
    desired_ids = set(rule["id"] for rule in desired)
    result = []
    changes = []
    if not purge:
        result.extend(rule for rule in current if rule["id"] not in desired_ids)
    for rule in desired:
        existing = current_by_id.get(rule["id"])
        if existing is None:
            changes.append("add lifecycle rule %s" % rule["id"])
        elif not _same_rule(existing, rule):
            changes.append("update lifecycle rule %s" % rule["id"])
        result.append(rule)
    if purge:
        changes.extend(
            "remove lifecycle rule %s" % rule["id"]
            for rule in current
            if rule["id"] not in desired_ids
        )
    return result, changes


# Anonymous access policies.


def bucket_arn(bucket):
    return "arn:aws:s3:::%s" % bucket


def canned_policy(access, bucket):
    """The bucket policy mc anonymous sets for access, or None for 'none'."""
    if access == "none":
        return None
    bucket_actions, object_actions = _CANNED_ACTIONS[access]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": sorted(set(bucket_actions)),
                "Resource": [bucket_arn(bucket)],
            },
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": sorted(set(object_actions)),
                "Resource": [bucket_arn(bucket) + "/*"],
            },
        ],
    }


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _principal_key(principal):
    if principal == "*":
        return (("AWS", ("*",)),)
    if isinstance(principal, dict):
        return tuple(
            sorted((kind, tuple(sorted(_as_list(who)))) for kind, who in principal.items())
        )
    return (("", tuple(sorted(_as_list(principal)))),)


def policy_grants(document):
    """A policy as a set of single grants, so that equal meaning compares equal.

    Statement ids, the order of statements, actions and resources, and the
    split of grants across statements do not change what a policy allows.
    """
    if isinstance(document, str):
        document = json.loads(document)
    grants = set()
    for statement in _as_list((document or {}).get("Statement")):
        condition = json.dumps(statement.get("Condition") or {}, sort_keys=True)
        principal = _principal_key(statement.get("Principal"))
        for action in _as_list(statement.get("Action")):
            for resource in _as_list(statement.get("Resource")):
                grants.add(
                    (
                        statement.get("Effect", ""),
                        principal,
                        action.lower(),
                        resource,
                        condition,
                        bool(statement.get("NotAction") or statement.get("NotResource")
                             or statement.get("NotPrincipal")),
                    )
                )
    return frozenset(grants)


def anonymous_access_of(document, bucket):
    """The canned level a bucket policy amounts to, or 'custom'."""
    if not document:
        return "none"
    grants = policy_grants(document)
    if not grants:
        return "none"
    for access in ("download", "upload", "public"):
        if grants == policy_grants(canned_policy(access, bucket)):
            return access
    return "custom"


# The whole bucket.


def absent_bucket(name):
    return dict(
        name=name,
        exists=False,
        versioning="disabled",
        object_lock=False,
        lifecycle=[],
        policy="none",
        policy_document=None,
        tags={},
    )


def plan_bucket(current, params, settings):
    """The bucket after the task and the list of changes, without touching S3.

    current is the bucket now (absent_bucket() when it does not exist);
    settings is what validate_settings() returned. Raises ParameterError for
    requests S3 cannot honour on this bucket.
    """
    name = params["name"]
    after = copy.deepcopy(current)
    changes = []
    if not current["exists"]:
        after["exists"] = True
        after["object_lock"] = bool(params.get("object_lock"))
        if after["object_lock"]:
            # S3 turns versioning on with object lock; it cannot be turned off.
            after["versioning"] = "enabled"
        changes.append(
            "create bucket%s" % (" with object lock" if after["object_lock"] else "")
        )
    elif params.get("object_lock") is not None and (
        bool(params["object_lock"]) != current["object_lock"]
    ):
        raise ParameterError(
            "object_lock can only be chosen when the bucket is created; "
            "it exists with object lock %s" % ("enabled" if current["object_lock"] else "disabled"),
            action="update bucket %s" % name,
        )

    versioning = params.get("versioning")
    if versioning is not None and versioning != after["versioning"]:
        if versioning == "suspended" and after["object_lock"]:
            raise ParameterError(
                "versioning cannot be suspended on bucket %s: it has object lock"
                % name,
                action="validate versioning"
            )
        after["versioning"] = versioning
        changes.append("set versioning to %s" % versioning)

    after["lifecycle"], lifecycle_changes = plan_lifecycle(
        current["lifecycle"], settings["lifecycle"], params.get("purge_lifecycle", True)
    )
    changes.extend(lifecycle_changes)

    access = params.get("anonymous_access")
    if access is not None and access != current["policy"]:
        after["policy"] = access
        after["policy_document"] = canned_policy(access, name)
        changes.append("set anonymous access to %s" % access)

    after["tags"], tag_changes = plan_tags(
        current["tags"], settings["tags"], params.get("purge_tags", True)
    )
    changes.extend(tag_changes)
    return after, changes


def plan_tags(current, desired, purge):
    """The tags after the task and what changes."""
    if desired is None:
        return dict(current), []
    result = dict(desired) if purge else dict(current, **desired)
    changes = []
    for key in sorted(result):
        if key not in current:
            changes.append("add tag %s" % key)
        elif current[key] != result[key]:
            changes.append("update tag %s" % key)
    changes.extend("remove tag %s" % key for key in sorted(current) if key not in result)
    return result, changes


def public_view(bucket):
    """The bucket as the module returns it (and shows in a diff)."""
    if not bucket["exists"]:
        return {}
    view = dict(
        (key, value) for key, value in bucket.items() if key not in ("exists",)
    )
    view["lifecycle"] = [public_rule(rule) for rule in bucket["lifecycle"]]
    return view

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules a role's input must follow beyond what its argument_specs say.

Each rule takes a value and returns what is wrong with it (a phrase that
completes "<variable>: ..."), or None when the value is fine. Nothing here
reads a cluster or a file; the input_check action plugin applies the rules
and turns each problem into one line: ``<variable>: <problem> (<value>)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.module_utils.parsing import convert_bool

from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup.stores import BUCKET_NAME, parse_location
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError

try:
    import zoneinfo
except ImportError:  # pragma: no cover - Python < 3.9 cannot check time zones
    zoneinfo = None

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# resource.Quantity: a decimal number with an optional binary or decimal suffix or exponent.
QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$")
GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|\u00b5s|ms|s|m|h))+$")
# The parts of an image reference (distribution/reference grammar).
# host[:port]
HOST_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?"
IMAGE_REGISTRY = re.compile(r"^%s(\.%s)*(:\d+)?$" % (HOST_LABEL, HOST_LABEL))
IMAGE_PATH = re.compile(r"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
IMAGE_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")

NAME_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"


def dns_label(value, limit=63, what="a Kubernetes name"):
    text = str(value)
    if len(text) > limit or not DNS_LABEL.match(text):
        return "must be %s: at most %d %s" % (what, limit, NAME_RULE)
    return None


def namespace(value):
    return dns_label(value, what="a namespace name")


def release_name(value):
    # Helm keeps release names to 53 characters (its Secrets add a suffix).
    return dns_label(value, limit=53, what="a Helm release name")


def cronjob_name(value):
    # The controller appends an 11-character suffix to the names of the Jobs.
    return dns_label(value, limit=52, what="a CronJob name")


def resource_name(value):
    text = str(value)
    if len(text) > 253 or not DNS_SUBDOMAIN.match(text):
        return "must be a Kubernetes name: at most 253 %s, or '.'" % NAME_RULE
    return None


def quantity(value):
    if isinstance(value, bool) or not QUANTITY.match(str(value).strip()):
        return "must be a Kubernetes quantity such as 10Gi, 512Mi or 500m"
    return None


def resources(value):
    """A container's resources: requests and limits, each a map of quantities."""
    if not isinstance(value, dict):
        return "must be a dict with requests and limits"
    unknown = sorted(set(value) - {"requests", "limits", "claims"})
    if unknown:
        return "knows only requests, limits and claims, not %s" % ", ".join(unknown)
    for part in ("requests", "limits"):
        amounts = value.get(part) or {}
        if not isinstance(amounts, dict):
            return "%s must be a dict such as {cpu: 100m, memory: 256Mi}" % part
        for name, amount in sorted(amounts.items()):
            if quantity(amount):
                return "%s.%s must be a Kubernetes quantity such as 512Mi or 500m, not %s" % (part, name, amount)
    return None


def go_duration(value):
    if not GO_DURATION.match(str(value)):
        return "must be a duration such as 5m, 1h or 1h30m"
    return None


def duration(value):
    try:
        sets.parse_duration(value)
    except ParameterError:
        return "must be a number followed by s, m, h, d or w, such as 7d"
    return None


def backup_id(value):
    if value in ("", "latest", None) or sets.is_backup_id(str(value)):
        return None
    return "must be latest or the id of a set such as 20261126T061500Z"


def location(value):
    """s3://bucket/prefix or an absolute directory (whether it exists is checked apart)."""
    try:
        parse_location(value)
    except ParameterError as error:
        reason = error.reason
        if "bucket name" in reason:
            return "names an invalid bucket: use 3 to 63 lowercase letters, digits, '.' or '-'"
        if "absolute path" in reason:
            return "must be s3://bucket/prefix or an absolute directory, not a relative path"
        return "must be s3://bucket/prefix or an absolute directory"
    return None


def bucket(value):
    if not BUCKET_NAME.match(str(value)):
        return "must be a bucket name: 3 to 63 lowercase letters, digits, '.' or '-'"
    return None


def buckets(value):
    if not isinstance(value, list) or not value:
        return "must be a list of at least one bucket name"
    for name in value:
        if bucket(name):
            return "holds an invalid bucket name %s: use 3 to 63 lowercase letters, digits, '.' or '-'" % name
    if len(set(value)) != len(value):
        return "names a bucket twice"
    return None


def named_items(value):
    if not isinstance(value, list):
        return "must be a list"
    for index, item in enumerate(value):
        if not isinstance(item, dict) or not item.get("name"):
            return "item %d has no name" % (index + 1)
    return None


def url(value):
    if not re.match(r"^https?://[^/\s]+", str(value)):
        return "must be a URL starting with http:// or https://"
    return None


def image_ref(value):
    """registry/path:tag or @sha256:digest, as a container runtime reads it."""
    text = str(value)
    name, digest = text.split("@", 1) if "@" in text else (text, None)
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, _sep, rest = name.partition("/")
    path = name
    if rest and ("." in first or ":" in first or first == "localhost"):
        if not IMAGE_REGISTRY.match(first):
            return "must be an image reference such as registry.example.com/ml/ee:0.2.0: bad registry %s" % first
        path = rest
    if not IMAGE_PATH.match(path):
        return "must be an image reference such as registry.example.com/ml/ee:0.2.0: bad repository %s" % path
    if tag is not None and not IMAGE_TAG.match(tag):
        return "must be an image reference such as registry.example.com/ml/ee:0.2.0: bad tag %s" % tag
    if digest is not None and not IMAGE_DIGEST.match(digest):
        return "must be an image reference such as registry.example.com/ml/ee:0.2.0: bad digest %s" % digest
    if tag is None and digest is None:
        return "must name a tag or a digest (images are never pulled as latest)"
    return None


def image(value):
    """A role's image dict: registry (host[:port], optionally with a path), repository, tag."""
    if not isinstance(value, dict):
        return "must be a dict with registry, repository and tag"
    registry = str(value.get("registry") or "").rstrip("/")
    reference = "/".join(part for part in (registry, str(value.get("repository") or "")) if part)
    host, _sep, path = reference.partition("/")
    if not (path and (registry or "." in host or ":" in host or host == "localhost")):
        host, path = "", reference
    if host and not IMAGE_REGISTRY.match(host):
        return "registry must start with a host name, optionally with a port"
    if not IMAGE_PATH.match(path):
        return "repository must be lowercase path components such as mlops-stack/mlflow"
    if not IMAGE_TAG.match(str(value.get("tag") or "")):
        return "tag must be letters, digits, '_', '.' or '-' (at most 128)"
    return None


# --- cron --------------------------------------------------------------------

CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
CRON_FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, dict((name, index + 1) for index, name in enumerate(MONTHS))),
    ("day of week", 0, 7, dict((name, index) for index, name in enumerate(DAYS))),
)


def _cron_number(text, low, high, names):
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(text)
    return int(text)


def _cron_field(text, low, high, names, wildcard_question):
    for part in text.split(","):
        spec, _slash, step = part.partition("/")
        if _slash and (not step.isdigit() or int(step) < 1):
            raise ValueError(part)
        if spec == "*" or (wildcard_question and spec == "?"):
            continue
        first, _dash, last = spec.partition("-")
        start = _cron_number(first, low, high, names)
        if _dash and _cron_number(last, low, high, names) < start:
            raise ValueError(part)


def cron(value):
    """A schedule the Kubernetes CronJob controller accepts (5 fields or a macro)."""
    text = " ".join(str(value).split())
    if text.lower() in CRON_MACROS:
        return None
    fields = text.split(" ")
    if len(fields) != 5:
        return ("must be a cron expression of 5 fields (minute hour day-of-month month day-of-week) "
                "or @hourly, @daily, @weekly, @monthly, @yearly")
    for index, field in enumerate(fields):
        name, low, high, names = CRON_FIELDS[index]
        try:
            _cron_field(field, low, high, names, name.startswith("day"))
        except ValueError:
            return "must be a cron expression: %s field %s is not within %d-%d" % (name, field, low, high)
    return None


def time_zone(value):
    # Without a tz database here (a minimal image) the cluster's own check has to do.
    if zoneinfo is None or not zoneinfo.available_timezones():
        return None
    text = str(value)
    try:
        zoneinfo.ZoneInfo(text)
    except (ValueError, KeyError, OSError, zoneinfo.ZoneInfoNotFoundError):
        return "must be a time zone of the tz database such as Etc/UTC or Europe/Berlin"
    return None


def boolean(value):
    try:
        convert_bool.boolean(value, strict=True)
    except TypeError:
        return "must be true or false"
    return None


def switched_on(value):
    """True for a true boolean value; anything else, also a bad one (its own rule refuses it), is off."""
    return value is not None and boolean(value) is None and convert_bool.boolean(value, strict=True)


def hours(value):
    if isinstance(value, bool) or not re.match(r"^\s*\d+\s*$", str(value)) or int(value) < 1:
        return "must be a whole number of hours, at least 1"
    return None


def dns_names(value):
    """DNS names for a certificate: lowercase labels, a wildcard only as the first one."""
    if not isinstance(value, list):
        return "must be a list of DNS names such as mlflow.example.com"
    for name in value:
        text = str(name)
        if len(text) > 253 or not DNS_SUBDOMAIN.match(text[2:] if text.startswith("*.") else text):
            return "holds %s, not a DNS name: use lowercase letters, digits, '-' and '.'" % shown(name)
    return None


def at_least(limit):
    def check(value):
        if int(value) < limit:
            return "must be at least %d" % limit
        return None
    return check


def at_most(limit):
    def check(value):
        if int(value) > limit:
            return "must be at most %d" % limit
        return None
    return check


RULES = dict(
    namespace=namespace, release_name=release_name, cronjob_name=cronjob_name, resource_name=resource_name,
    quantity=quantity, resources=resources, go_duration=go_duration, duration=duration, backup_id=backup_id,
    location=location, bucket=bucket, buckets=buckets, url=url, image_ref=image_ref, image=image, cron=cron,
    time_zone=time_zone, boolean=boolean, named_items=named_items, hours=hours, dns_names=dns_names,
)


# What the roles' argument_specs cannot say about their variables: checked for
# a variable of the entry points a check names. STACK_RULES hold the playbooks'
# own variables, which no role declares: checked whenever they are set.
VARIABLE_RULES = dict(
    mlops_namespace="namespace",
    mlops_backup_destination="location",
    mlops_backup_destination_endpoint_url=["optional", "url"],
    mlops_backup_destination_secret_name=["optional", "resource_name"],
    mlops_backup_buckets="buckets",
    mlops_backup_workers=["min:1", "max:64"],
    mlops_backup_keep_last="min:1",
    mlops_backup_keep_within=["optional", "duration"],
    mlops_backup_incomplete_grace="duration",
    mlops_backup_lock_name="resource_name",
    mlops_backup_lock_seconds="min:1",
    mlops_restore_backup_id="backup_id",
    mlops_backup_schedule="cron",
    mlops_backup_schedule_time_zone="time_zone",
    mlops_backup_schedule_name="cronjob_name",
    mlops_backup_schedule_image="image_ref",
    mlops_backup_schedule_pvc=["optional", "resource_name"],
    mlops_backup_schedule_deadline="min:1",
    mlops_backup_schedule_resources="resources",
    mlflow_resources="resources",
    mlflow_replicas="min:1",
    mlflow_workers="min:1",
    mlflow_auth_credential_cache_seconds="min:0",
    postgresql_mlflow_conn_limit="min:-1",
    minio_mlflow_bucket="bucket",
    minio_endpoint_url=["optional", "url"],
    mlflow_endpoint_url=["optional", "url"],
    minio_buckets="named_items",
    postgresql_databases="named_items",
    postgresql_roles="named_items",
    minio_backup_secret_name=["optional", "resource_name"],
    minio_backup_retention_secret_name=["optional", "resource_name"],
)
for _role in ("minio", "postgresql", "mlflow"):
    VARIABLE_RULES.update({
        _role + "_namespace": "namespace",
        _role + "_release_name": "release_name",
        _role + "_auth_secret_name": ["optional", "resource_name"],
        _role + "_helm_timeout": "go_duration",
        _role + "_image": "image",
        _role + "_wait_timeout": "min:1",
    })
for _role in ("minio", "postgresql"):
    VARIABLE_RULES.update({
        _role + "_persistence_size": "quantity",
        _role + "_mlflow_secret_name": ["optional", "resource_name"],
        _role + "_tls_secret_name": "resource_name",
        _role + "_tls_extra_dns_names": "dns_names",
    })
STACK_RULES = dict(
    mlops_namespace="namespace",
    mlops_install_minio="boolean",
    mlops_install_postgresql="boolean",
    mlops_verify="boolean",
    mlops_verify_keep="boolean",
    mlops_purge="boolean",
    mlops_tls="boolean",
    mlops_tls_certificate_hours="hours",
    mlops_tls_renew_before_hours="hours",
    mlops_tls_ca_hours="hours",
    mlops_tls_ca_secret_name="resource_name",
    mlops_tls_trust_configmap="resource_name",
)


# Paths checked on the play's host whenever they are set: file, read or write.
STACK_PATHS = dict(mlops_kubeconfig="file")


def path_problem(stat, mode, ancestor=None):
    """What ansible.builtin.stat's answer about a path says against reading a file (file), reading a
    directory (read) or writing one (write); ancestor: the nearest existing parent of a missing one."""
    if not stat.get("exists"):
        return "%s does not exist" % ("file" if mode == "file" else "directory")
    if mode == "file":
        return None if stat.get("readable") and not stat.get("isdir") else "is not a readable file"
    if not stat.get("isdir"):
        return "%s is not a directory" % (ancestor or "it")
    if mode == "write" and not (stat.get("writeable") and stat.get("executable")):
        return "cannot be created: %s is not writable" % ancestor if ancestor else "directory is not writable"
    if mode == "read" and not (stat.get("readable") and stat.get("executable")):
        return "directory is not readable"
    return None


# Variables given together or not at all (a login and its password).
TOGETHER = (
    ("mlflow_backend_store_username", "mlflow_backend_store_password"),
    ("mlflow_artifacts_access_key_id", "mlflow_artifacts_secret_access_key"),
    ("mlops_backup_destination_access_key", "mlops_backup_destination_secret_key"),
)
# (variable, value, the variable that value needs).
NEEDED_WHEN = (
    ("minio_access", "endpoint", "minio_endpoint_url"),
    ("postgresql_access", "endpoint", "postgresql_endpoint_host"),
    ("mlflow_access", "endpoint", "mlflow_endpoint_url"),
)

# (dictionary variable, its switch key, the key the switch needs when on).
NEEDED_IN = (
    ("mlflow_ingress", "enabled", "host"),
)

# (variable, its default, the variable it must stay below, that one's default):
# stack-wide settings that no role declares, with the defaults the roles'
# vars give them when unset (tests/unit keeps the two in step).
BELOW = (
    ("mlops_tls_renew_before_hours", 720, "mlops_tls_certificate_hours", 2160),
)


def relation_problems(values, names):
    """Lines for the variables of TOGETHER, NEEDED_WHEN and NEEDED_IN among names that do not go together,
    and for those of BELOW that are set and not below their bound.

    values: the variables set (unset ones count as empty); nothing of a secret is shown."""
    lines = []
    for variable, default, bound, bound_default in BELOW:
        value, limit = values.get(variable, default), values.get(bound, bound_default)
        if (variable in values or bound in values) and not (hours(value) or hours(limit)) \
                and int(value) >= int(limit):
            lines.append(line(variable, "must be less than %s, which is %s" % (bound, limit), value))
    for first, second in TOGETHER:
        if first in names and second in names and bool(values.get(first)) != bool(values.get(second)):
            given, missing = (first, second) if values.get(first) else (second, first)
            lines.append(line(missing, "must be given together with %s" % given, secret=True))
    for variable, value, needed in NEEDED_WHEN:
        if variable in names and values.get(variable) == value and not values.get(needed):
            lines.append(line(needed, "must be set when %s is %s" % (variable, value), secret=True))
    for variable, switch, needed in NEEDED_IN:
        given = values.get(variable)
        if variable in names and isinstance(given, dict) and switched_on(given.get(switch)) and not given.get(needed):
            lines.append(line(variable, "%s must be set when %s is true" % (needed, switch), given))
    return lines


def rule(name):
    """The check of a rule name: one of RULES, or min:<n> / max:<n>."""
    if name in RULES:
        return RULES[name]
    kind, _colon, limit = str(name).partition(":")
    if kind in ("min", "max") and limit.lstrip("-").isdigit():
        return (at_least if kind == "min" else at_most)(int(limit))
    raise ValueError("unknown input rule %r" % (name,))


def problems_of(value, names):
    """What is wrong with the value under the rules named, the first problem only.

    "optional" first: an empty or null value passes."""
    names = [names] if isinstance(names, str) else list(names)
    if "optional" in names:
        if value in (None, "") or value == [] or value == {}:
            return None
        names = [name for name in names if name != "optional"]
    for name in names:
        problem = rule(name)(value)
        if problem:
            return problem
    return None


def shown(value):
    """A value as the user wrote it: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        return value if value.strip() else repr(value)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)


def line(variable, problem, value=None, secret=False):
    """The one line of a refused input: ``<variable>: <problem> (<value>)``."""
    if secret:
        return "%s: %s" % (variable, problem)
    return "%s: %s (%s)" % (variable, problem, shown(value))

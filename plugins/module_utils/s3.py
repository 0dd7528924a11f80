# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared S3 connection options, client and error handling for any S3 endpoint.

Every S3 call of the collection runs under ``s3_errors()`` (or ``s3_call()``):
a botocore error becomes one S3Error, "Failed to <verb> <object>: <reason>",
which keeps S3's error code, and a not-found answer may stand for a value
(``missing=``) instead of a failure. NOT_FOUND is the one list of the codes
that mean "there is no such thing".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import re

from ansible.module_utils.basic import env_fallback

from ansible_collections.mlops.stack.plugins.module_utils.errors import S3Error

try:
    import boto3
    import boto3.exceptions
    import botocore.config
    import botocore.exceptions

    BOTO3_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - reported by the module
    BOTO3_IMPORT_ERROR = import_error

# Codes meaning "no such bucket, object or bucket setting".
NOT_FOUND = frozenset((
    "404", "NotFound", "NoSuchBucket", "NoSuchKey",
    "NoSuchLifecycleConfiguration", "NoSuchBucketPolicy", "NoSuchTagSet", "NoSuchTagSetError",
    "ObjectLockConfigurationNotFoundError",
))
# Codes S3 answers with when the key pair itself is wrong.
_CREDENTIAL_ERRORS = ("InvalidAccessKeyId", "SignatureDoesNotMatch")
# s3_call() without missing=: a not-found answer is a failure like any other.
RAISE = object()
# OpenSSL's decoration of a handshake failure: "[SSL: CODE] reason (_ssl.c:1006)".
_SSL_DECORATION = re.compile(r"^\[SSL: [A-Z_]+\] |\s*\(_ssl\.c:\d+\)$")
# Verification failures that trusting the right CA cures (not a wrong host name).
_UNKNOWN_ISSUER = ("unable to get local issuer certificate", "self-signed certificate", "self signed certificate")


def s3_argument_spec():
    """Connection options shared by every module that talks to S3."""
    return dict(
        endpoint_url=dict(
            type="str",
            aliases=["s3_url"],
            fallback=(env_fallback, ["MINIO_ENDPOINT", "AWS_ENDPOINT_URL"]),
        ),
        access_key=dict(
            type="str",
            aliases=["aws_access_key_id"],
            no_log=False,
            fallback=(env_fallback, ["MINIO_ROOT_USER", "AWS_ACCESS_KEY_ID"]),
        ),
        secret_key=dict(
            type="str",
            aliases=["aws_secret_access_key"],
            no_log=True,
            fallback=(env_fallback, ["MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY"]),
        ),
        region=dict(
            type="str",
            default="us-east-1",
            fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"]),
        ),
        validate_certs=dict(type="bool", default=True),
        ca_bundle=dict(type="path", fallback=(env_fallback, ["AWS_CA_BUNDLE"])),
    )


def s3_connection(params, prefix=""):
    """The connection options of params, optionally under a key prefix.

    Modules that talk to two endpoints (a backup's source and destination)
    carry the second set with a prefix such as ``destination_``.
    """
    return dict((key, params.get(prefix + key)) for key in s3_argument_spec())


def transfer_argument_spec():
    """Options of multipart transfers, for modules that copy objects."""
    return dict(
        multipart_threshold_mb=dict(type="int", default=64),
        multipart_chunk_mb=dict(type="int", default=16),
    )


def location_argument_spec(prefix):
    """Options naming where backup sets are kept: a directory or an S3 URL.

    ``prefix`` is ``destination`` for backup and backup_info and ``source``
    for restore. The S3 options default to the module's own S3 connection.
    """
    spec = {prefix: dict(type="str", required=True)}
    for key, value in s3_argument_spec().items():
        value = dict(value)
        value.pop("aliases", None)
        value.pop("fallback", None)
        value.pop("default", None)
        if key in ("access_key", "secret_key"):
            value["no_log"] = key == "secret_key"
        spec["%s_%s" % (prefix, key)] = value
    return spec


def location_connection(params, prefix):
    """The S3 connection of a location, each unset option taken from the module's."""
    own = s3_connection(params, prefix + "_")
    fallback = s3_connection(params)
    return dict((key, own[key] if own[key] is not None else fallback.get(key)) for key in own)


def describe_tls_error(error):
    """A short reason for a failed TLS handshake, saying what to set when the CA is unknown."""
    reason = "TLS handshake failed (%s)" % _SSL_DECORATION.sub("", str(error)).strip()
    if any(words in reason for words in _UNKNOWN_ISSUER):
        reason += "; set ca_bundle to the CA that signs the endpoint's certificate"
    return reason


def describe_answer(code, message):
    """"<code> <message>" of an S3 error answer, with a hint when the key pair itself is wrong."""
    reason = ("%s %s" % (code, message or "")).strip()
    if code in _CREDENTIAL_ERRORS:
        reason += " (check access_key and secret_key)"
    return reason


def describe_client_error(error):
    """A short reason for a botocore error, without request ids or secrets."""
    if isinstance(error, botocore.exceptions.ClientError):
        info = error.response.get("Error", {})
        return describe_answer(info.get("Code", "Unknown"), info.get("Message"))
    if isinstance(error, botocore.exceptions.SSLError):
        return describe_tls_error(error.kwargs.get("error", ""))
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return "endpoint unreachable (%s)" % error.kwargs.get("endpoint_url", "")
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return "no credentials: set access_key and secret_key"
    return str(error)


def error_code(error):
    """The S3 error code of a ClientError, or None."""
    if isinstance(error, botocore.exceptions.ClientError):
        return error.response.get("Error", {}).get("Code")
    return None


def is_not_found(error):
    """True for an S3Error saying the bucket, object or setting does not exist."""
    return isinstance(error, S3Error) and error.code in NOT_FOUND


@contextlib.contextmanager
def s3_errors(action):
    """Turn botocore (and boto3 transfer) errors raised inside into S3Error("Failed to <action>: <reason>")."""
    try:
        yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
            boto3.exceptions.Boto3Error) as error:
        raise S3Error(describe_client_error(error), action=action, code=error_code(error)) from error


def s3_call(action, method, missing=RAISE, **kwargs):
    """method(**kwargs) under s3_errors(action); a not-found answer returns missing when given."""
    try:
        with s3_errors(action):
            return method(**kwargs)
    except S3Error as error:
        if missing is RAISE or not is_not_found(error):
            raise
        return missing


def s3_client(connection, max_pool_connections=16):
    """A boto3 S3 client for connection (the dict of s3_connection())."""
    endpoint = connection.get("endpoint_url") or None
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise S3Error("endpoint_url %r must start with http:// or https://" % endpoint,
                      action="create S3 client")
    if bool(connection.get("access_key")) != bool(connection.get("secret_key")):
        raise S3Error("access_key and secret_key must be given together (or both left to the environment)",
                      action="create S3 client")
    verify = connection.get("validate_certs", True)
    if verify and connection.get("ca_bundle"):
        verify = connection["ca_bundle"]
    config = botocore.config.Config(
        # MinIO serves buckets by path; virtual-host names need wildcard DNS.
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=max_pool_connections,
        # Newer botocore adds CRC checksums MinIO builds may not all accept.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    try:
        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=connection.get("access_key") or None,
            aws_secret_access_key=connection.get("secret_key") or None,
            region_name=connection.get("region") or "us-east-1",
            verify=verify,
            config=config,
        )
    except (botocore.exceptions.BotoCoreError, ValueError) as error:
        raise S3Error(describe_client_error(error), action="create S3 client") from error

# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared S3 connection options and client for MinIO and any S3 endpoint."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback

from ansible_collections.mlops.stack.plugins.module_utils.errors import (
    S3Error,
    failed_to,
)

try:
    import boto3
    import botocore.config
    import botocore.exceptions

    BOTO3_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - reported by the module
    BOTO3_IMPORT_ERROR = import_error


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
    return dict(
        (key, params.get(prefix + key)) for key in s3_argument_spec()
    )


# Codes S3 answers with when the key pair itself is wrong.
_CREDENTIAL_ERRORS = ("InvalidAccessKeyId", "SignatureDoesNotMatch")


def describe_client_error(error):
    """A short reason for a botocore error, without request ids or secrets."""
    if isinstance(error, botocore.exceptions.ClientError):
        info = error.response.get("Error", {})
        code = info.get("Code", "Unknown")
        message = info.get("Message") or ""
        reason = ("%s %s" % (code, message)).strip()
        if code in _CREDENTIAL_ERRORS:
            reason += " (check access_key and secret_key)"
        return reason
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


def s3_client(connection, max_pool_connections=16):
    """A boto3 S3 client for connection (the dict of s3_connection())."""
    if not connection.get("endpoint_url"):
        endpoint = None
    else:
        endpoint = connection["endpoint_url"]
        if not endpoint.startswith(("http://", "https://")):
            raise S3Error(
                failed_to(
                    "create S3 client",
                    "endpoint_url %r must start with http:// or https://" % endpoint,
                )
            )
    if bool(connection.get("access_key")) != bool(connection.get("secret_key")):
        raise S3Error(
            failed_to(
                "create S3 client",
                "access_key and secret_key must be given together (or both left "
                "to the environment)",
            )
        )
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
        raise S3Error(failed_to("create S3 client", describe_client_error(error)))


def is_s3_error(error):
    """True for the botocore errors callers turn into S3Error."""
    return isinstance(
        error, (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
    )

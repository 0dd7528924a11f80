# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The urllib3 side of the minio SDK's clients: TLS settings, retries, transport errors.

MinIO's admin API (_minio_admin) and the backup's object reads
(_backup/object_reader) both talk through the minio SDK, whose HTTP is a
urllib3 pool; both take the collection's S3 connection options
(s3.s3_connection) and report a failed connection the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible.module_utils.six.moves.urllib.parse import urlsplit

from ansible_collections.mlops.stack.plugins.module_utils.errors import S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3 import describe_tls_error

try:
    import urllib3

    URLLIB3_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - reported by the module
    URLLIB3_IMPORT_ERROR = import_error


def endpoint_parts(connection):
    """(netloc, secure) of connection's endpoint_url, or None when it is not a plain http(s)://host[:port]."""
    parts = urlsplit(connection.get("endpoint_url") or "")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
        return None
    return parts.netloc, parts.scheme == "https"


def http_pool(connection, maxsize=1, read_timeout=60):
    """A urllib3 pool with connection's certificate checks; answers 500-504 are retried."""
    verify = connection.get("validate_certs", True)
    return urllib3.PoolManager(
        maxsize=maxsize,
        timeout=urllib3.Timeout(connect=10, read=read_timeout),
        cert_reqs="CERT_REQUIRED" if verify else "CERT_NONE",
        retries=urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
        **({"ca_certs": connection["ca_bundle"]} if verify and connection.get("ca_bundle") else {})
    )


@contextlib.contextmanager
def transport_errors(action):
    """Turn urllib3's errors raised inside into S3Error("Failed to <action>: <reason>")."""
    try:
        yield
    except urllib3.exceptions.HTTPError as error:
        cause = error.reason if isinstance(error, urllib3.exceptions.MaxRetryError) else error
        if isinstance(cause, urllib3.exceptions.SSLError):
            raise S3Error(describe_tls_error(cause), action=action) from error
        raise S3Error("endpoint unreachable (%s)" % error.__class__.__name__, action=action) from error

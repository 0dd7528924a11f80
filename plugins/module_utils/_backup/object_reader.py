# -*- coding: utf-8 -*-
# Copyright: mlops.stack contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole-object GETs of a backup through the minio SDK instead of botocore.

For a set of many small objects, a backup is bound by the Python work per
request, not by the bytes: botocore spends several milliseconds of CPU per GET
(events, signing, response parsing). The minio SDK signs the same SigV4 GET
with a fraction of that and hands back urllib3's response unread, so each
object still streams through the set's hashing (and encrypting) writer and is
never held whole in memory. bench/object_path.py measured it against awscrt,
obstore and botocore in several processes (docs/benchmarks.md).

Only those GETs take this path; listings, copies, restores and every other call
stay on botocore. A connection this path cannot serve the same way (no endpoint
URL, or a key pair left to botocore's credential chain) gets no reader, and the
backup reads through botocore as before.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.mlops.stack.plugins.module_utils._minio_http import (
    endpoint_parts,
    http_pool,
    transport_errors,
)
from ansible_collections.mlops.stack.plugins.module_utils.errors import S3Error
from ansible_collections.mlops.stack.plugins.module_utils.s3 import describe_answer

try:
    from minio import Minio
    from minio.error import MinioException
    from minio.error import S3Error as MinioS3Error

    MINIO_IMPORT_ERROR = None
except ImportError as import_error:  # pragma: no cover - the backup reads through botocore
    MINIO_IMPORT_ERROR = import_error

# Same patience as the botocore client's (s3.s3_client).
READ_TIMEOUT = 120


def object_reader(connection, pool_size):
    """An ObjectReader for connection (the dict of s3.s3_connection()), or None."""
    if MINIO_IMPORT_ERROR is not None:
        return None
    where = endpoint_parts(connection)
    if where is None or not (connection.get("access_key") and connection.get("secret_key")):
        return None
    netloc, secure = where
    client = Minio(netloc, access_key=connection["access_key"], secret_key=connection["secret_key"],
                   secure=secure, region=connection.get("region") or "us-east-1",
                   cert_check=connection.get("validate_certs", True),
                   http_client=http_pool(connection, maxsize=pool_size, read_timeout=READ_TIMEOUT))
    return ObjectReader(client)


class ObjectReader(object):
    """Opens objects for reading; errors come out as S3Error with S3's code."""

    def __init__(self, client):
        self.client = client

    @contextlib.contextmanager
    def open(self, bucket, key):
        """The body of s3://bucket/key as a file-like stream, released on exit."""
        action = "read s3://%s/%s" % (bucket, key)
        with reader_errors(action):
            response = self.client.get_object(bucket, key)
        # The stored bytes, as botocore reads them: never undo a Content-Encoding.
        response.decode_content = False
        try:
            with reader_errors(action):
                yield response
        finally:
            response.close()
            response.release_conn()


@contextlib.contextmanager
def reader_errors(action):
    """Turn the minio SDK's errors raised inside into S3Error("Failed to <action>: <reason>")."""
    try:
        with transport_errors(action):
            yield
    except MinioS3Error as error:
        raise S3Error(describe_answer(error.code or "Unknown", error.message), action=action,
                      code=error.code) from error
    except MinioException as error:
        raise S3Error(str(error), action=action) from error

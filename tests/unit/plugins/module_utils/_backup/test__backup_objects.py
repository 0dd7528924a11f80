"""Unit tests for choosing between server-side copies and streamed transfers."""

import hashlib

import botocore.config

from ansible_collections.mlops.stack.plugins.module_utils._backup import objects


def test_same_endpoint_and_user_copies_server_side():
    first = dict(endpoint_url="http://minio:9000/", access_key="admin")
    assert objects.same_account(first, dict(endpoint_url="HTTP://MINIO:9000", access_key="admin"))


def test_other_user_or_endpoint_streams():
    first = dict(endpoint_url="http://minio:9000", access_key="admin")
    assert not objects.same_account(first, dict(endpoint_url="http://minio:9000", access_key="backup"))
    assert not objects.same_account(first, dict(endpoint_url="http://localhost:9000", access_key="admin"))


def test_transfer_config_sizes():
    config = objects.transfer_config(64, 16)
    assert config.multipart_threshold == 64 * 1024 * 1024
    assert config.multipart_chunksize == 16 * 1024 * 1024


def test_checksum_header_round_trip():
    digest = hashlib.sha256(b"hello").hexdigest()
    header = objects.checksum_header(digest)
    assert header == "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="
    assert objects.hex_from_checksum(header) == digest


def test_composite_or_missing_checksums_are_not_taken_for_the_object_sha256():
    assert objects.hex_from_checksum(None) is None
    assert objects.hex_from_checksum("") is None
    assert objects.hex_from_checksum("LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=-3") is None
    assert objects.hex_from_checksum("AAAA") is None  # not 32 bytes
    assert objects.hex_from_checksum("not base64!") is None


class Request:
    def __init__(self, headers):
        self.headers = headers
        self.context = dict(client_config=botocore.config.Config(s3={"addressing_style": "path"}))


def test_payload_signing_is_skipped_only_when_the_server_checks_a_sha256():
    checked = Request({"x-amz-checksum-sha256": "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="})
    objects._unsigned_when_checksummed(checked)
    assert checked.context["client_config"].s3 == {"addressing_style": "path", "payload_signing_enabled": False}
    plain = Request({})
    objects._unsigned_when_checksummed(plain)
    assert plain.context["client_config"].s3 == {"addressing_style": "path"}

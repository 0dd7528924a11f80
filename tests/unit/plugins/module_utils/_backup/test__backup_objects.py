"""Unit tests for choosing between server-side copies and streamed transfers."""

import hashlib
import io

import botocore.config
import botocore.exceptions
import pytest

from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest, objects, stores
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, S3Error


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


def test_a_body_the_server_refuses_for_its_checksum_changed_since_verification(fakes, tmp_path):
    store = stores.DirectoryStore(str(tmp_path))
    store.claim("20261126T061500Z")
    path = manifest.object_path("data", "a/b")
    size, digest = store.write_stream("20261126T061500Z", path, io.BytesIO(b"original"))

    class Refusing(fakes.S3):
        def put_object(self, **kwargs):
            raise botocore.exceptions.ClientError({"Error": {"Code": "XAmzContentChecksumMismatch"}}, "PutObject")

    entry = dict(path=path, size=size, sha256=digest)
    with pytest.raises(BackupError, match="changed while it was restored"):
        objects.restore_objects(store, "20261126T061500Z", [entry], Refusing({"data": {}}), {}, False, 1,
                                objects.transfer_config())


def test_other_failures_name_the_object(fakes, tmp_path):
    class Denying(fakes.S3):
        def get_object(self, **kwargs):
            raise botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")

    store = stores.DirectoryStore(str(tmp_path))
    store.claim("20261126T061500Z")
    with pytest.raises(S3Error, match="^Failed to copy s3://data/a/b: AccessDenied no$"):
        objects.backup_objects(Denying({"data": {"a/b": b"x"}}), ["data"], store, "20261126T061500Z", False, 1,
                               objects.transfer_config())


def test_an_existing_bucket_is_kept_and_extra_objects_go(fakes):
    client = fakes.S3({"data": {"keep": b"1", "extra": b"2"}})
    objects.create_bucket(client, "data")
    assert objects.delete_extra_objects(client, "data", {"keep"}) == 1
    assert client.buckets == {"data": {"keep": b"1"}}


def test_an_object_deleted_after_the_listing_is_skipped(fakes, tmp_path):
    class Vanishing(fakes.S3):
        def get_object(self, **kwargs):
            if kwargs["Key"] == "gone":
                raise botocore.exceptions.ClientError({"Error": {"Code": "NoSuchKey", "Message": "no"}}, "GetObject")
            return super(Vanishing, self).get_object(**kwargs)

    store = stores.DirectoryStore(str(tmp_path))
    store.claim("20261126T061500Z")
    files, buckets, skipped = objects.backup_objects(
        Vanishing({"data": {"gone": b"x", "kept": b"yy"}}), ["data"], store, "20261126T061500Z", False, 2,
        objects.transfer_config())
    assert [f["key"] for f in files] == ["kept"] and skipped == [dict(bucket="data", key="gone")]
    assert buckets == [dict(name="data", objects=1, bytes=2)]

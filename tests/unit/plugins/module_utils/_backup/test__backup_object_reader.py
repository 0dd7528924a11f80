"""Unit tests for the backup's object reads through the minio SDK."""

import io

import pytest
from minio.error import S3Error as MinioS3Error

from ansible_collections.mlops.stack.plugins.module_utils._backup import objects, stores
from ansible_collections.mlops.stack.plugins.module_utils._backup.object_reader import ObjectReader, object_reader
from ansible_collections.mlops.stack.plugins.module_utils.errors import S3Error

SET = "20261126T061500Z"
LOGIN = dict(access_key="admin", secret_key="secret")


@pytest.mark.parametrize("connection", [
    dict(LOGIN),  # no endpoint: botocore resolves AWS's
    dict(LOGIN, endpoint_url="http://minio:9000/prefix"),
    dict(endpoint_url="http://minio:9000"),  # botocore's credential chain
    dict(endpoint_url="http://minio:9000", access_key="admin"),
])
def test_connections_it_cannot_serve_alike_read_through_botocore(connection):
    assert object_reader(connection, 4) is None


def test_the_reader_takes_the_connection_endpoint_and_tls():
    reader = object_reader(dict(LOGIN, endpoint_url="https://minio.example:9000/", region="eu-west-1",
                                validate_certs=True), 4)
    assert reader.client._base_url.host == "minio.example:9000"
    assert reader.client._base_url.is_https
    assert reader.client._base_url.region == "eu-west-1"


class Response(io.BytesIO):
    decode_content = True
    released = False

    def release_conn(self):
        self.released = True


class Client:
    """The minio SDK's get_object over a dict of buckets; missing keys answer NoSuchKey."""

    def __init__(self, buckets, code="NoSuchKey"):
        self.buckets = buckets
        self.code = code
        self.responses = []

    def get_object(self, bucket, key):
        if key not in self.buckets[bucket]:
            raise MinioS3Error(None, self.code, "no", "/%s/%s" % (bucket, key), "request-id", "host-id")
        self.responses.append(Response(self.buckets[bucket][key]))
        return self.responses[-1]


def test_bodies_are_read_as_stored_and_released():
    client = Client({"data": {"a/b": b"payload"}})
    with ObjectReader(client).open("data", "a/b") as body:
        assert body.read() == b"payload"
    response = client.responses[0]
    assert response.decode_content is False and response.closed and response.released


def test_an_error_answer_keeps_its_code_and_names_the_object_without_request_ids():
    with pytest.raises(S3Error) as raised:
        with ObjectReader(Client({"data": {}}, code="AccessDenied")).open("data", "a/b"):
            pass
    assert str(raised.value) == "Failed to read s3://data/a/b: AccessDenied no"
    assert raised.value.code == "AccessDenied"


def test_a_backup_reads_through_the_reader_and_skips_an_object_deleted_after_the_listing(fakes, tmp_path):
    store = stores.DirectoryStore(str(tmp_path))
    store.claim(SET)
    listing = [("data", [dict(Key="gone", Size=1), dict(Key="kept", Size=2)])]
    reader = ObjectReader(Client({"data": {"kept": b"yy"}}))
    files, buckets, skipped = objects.backup_objects(
        fakes.S3({"data": {}}), ["data"], store, SET, False, 2, objects.transfer_config(), listing=listing,
        reader=reader)
    assert [f["key"] for f in files] == ["kept"] and skipped == [dict(bucket="data", key="gone")]
    assert buckets == [dict(name="data", objects=1, bytes=2)]
    assert store.read_bytes(SET, files[0]["path"]) == b"yy"

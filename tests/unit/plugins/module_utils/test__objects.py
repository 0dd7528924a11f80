"""Unit tests for choosing between server-side copies and streamed transfers."""

from ansible_collections.mlops.stack.plugins.module_utils import _objects as objects


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

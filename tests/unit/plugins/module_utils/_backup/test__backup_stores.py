"""Unit tests for where backup sets are kept: locations, the directory and the S3 store."""

import io
import os

import botocore.stub
import pytest

from ansible_collections.mlops.stack.plugins.module_utils import s3
from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup import stores
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError, S3Error


class TestLocations:
    def test_s3(self):
        assert stores.parse_location("s3://backups/a//b/") == ("s3", "backups", "a/b")
        assert stores.parse_location("s3://backups") == ("s3", "backups", "")

    def test_directory(self):
        assert stores.parse_location("/srv/backups/../b") == ("dir", "/srv/b", None)

    @pytest.mark.parametrize("text,reason", [
        ("relative/dir", "absolute"), ("gs://bucket/x", "only s3://"), ("s3://Bad_Bucket/x", "bucket name"),
        ("", "s3:// URL or a directory"), ("s3://", "bucket name"),
    ])
    def test_bad(self, text, reason):
        with pytest.raises(ParameterError, match=reason):
            stores.parse_location(text)


class TestDirectoryStore:
    def test_write_claim_list_and_describe(self, tmp_path, sample_manifest):
        store = stores.DirectoryStore(str(tmp_path / "sets"))
        store.ensure()
        assert store.claim("20261126T061500Z")
        assert not store.claim("20261126T061500Z")
        size, digest = store.write_stream("20261126T061500Z", "objects/mlflow/a~", io.BytesIO(b"hello"))
        assert size == 5
        assert digest == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        (info, parsed), = stores.list_sets(store)
        assert info["status"] == "incomplete" and parsed is None
        store.write_bytes("20261126T061500Z", sets.MANIFEST, sets.serialize_manifest(sample_manifest()))
        (info, parsed), = stores.list_sets(store)
        assert info["status"] == "complete" and info["objects"] == 1
        assert stores.resolve_set(store, "latest")[0] == "20261126T061500Z"

    def test_verify_files_reports_a_flipped_byte(self, tmp_path):
        store = stores.DirectoryStore(str(tmp_path))
        store.claim("20261126T061500Z")
        _size, digest = store.write_stream("20261126T061500Z", "database/x.dump", io.BytesIO(b"abcdef"))
        entry = dict(path="database/x.dump", size=6, sha256=digest)
        assert stores.verify_files(store, "20261126T061500Z", [entry]) == []
        with open(store.local_path("20261126T061500Z", "database/x.dump"), "r+b") as handle:
            handle.write(b"A")
        assert stores.verify_files(store, "20261126T061500Z", [entry]) == [
            "database/x.dump does not match its sha256"]


@pytest.fixture
def s3_store():
    client = s3.s3_client(dict(endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b"))
    with botocore.stub.Stubber(client) as stub:
        yield stores.S3Store(client, "backups", "mlops", {}), stub
        stub.assert_no_pending_responses()


class TestS3Store:
    def test_keys_and_locations(self, s3_store):
        store, _stub = s3_store
        assert store.url == "s3://backups/mlops"
        assert store.key("20261126T061500Z", "manifest.json") == "mlops/20261126T061500Z/manifest.json"
        assert store.location_of("20261126T061500Z") == "s3://backups/mlops/20261126T061500Z"

    @pytest.mark.parametrize("prefix", ["", "mlops", "p" * 300])
    def test_every_object_key_of_a_set_fits_in_1024_bytes(self, prefix):
        store = stores.S3Store(None, "backups", prefix, {})
        for key in ("é" * 500, "/".join(["日本語" * 20] * 5), "x" * 1000, "1/abc/model.pkl"):
            path = store.object_path("mlflow", key)
            assert len(store.key("20261126T061500Z-99", path).encode("utf-8")) <= 1024, key
        assert store.object_path("mlflow", "1/abc/model.pkl") == stores.DirectoryStore("/x").object_path(
            "mlflow", "1/abc/model.pkl")

    def test_a_missing_bucket_is_not_reachable_and_holds_no_sets(self, s3_store):
        store, stub = s3_store
        stub.add_client_error("head_bucket", "404", http_status_code=404)
        stub.add_client_error("list_objects_v2", "NoSuchBucket")
        assert store.check_reachable() is False
        assert store.list_ids() == []

    def test_a_refused_bucket_is_a_failure(self, s3_store):
        store, stub = s3_store
        stub.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
        with pytest.raises(S3Error, match="^Failed to reach s3://backups/mlops: 403 Forbidden$"):
            store.check_reachable()

    def test_ids_are_the_prefixes_that_look_like_ids(self, s3_store):
        store, stub = s3_store
        stub.add_response("list_objects_v2", {"CommonPrefixes": [
            {"Prefix": "mlops/20261127T061500Z/"}, {"Prefix": "mlops/other/"}, {"Prefix": "mlops/20261126T061500Z/"}]},
            dict(Bucket="backups", Prefix="mlops/", Delimiter="/"))
        assert store.list_ids() == ["20261126T061500Z", "20261127T061500Z"]

    def test_a_claim_taken_by_another_run(self, s3_store):
        store, stub = s3_store
        stub.add_client_error("put_object", "PreconditionFailed", http_status_code=412)
        assert store.claim("20261126T061500Z") is False

    def test_a_claim_without_conditional_writes(self, s3_store):
        store, stub = s3_store
        stub.add_client_error("put_object", "NotImplemented", http_status_code=501)
        stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
        stub.add_response("put_object", {}, dict(Bucket="backups", Key="mlops/20261126T061500Z/.claim", Body=b""))
        assert store.claim("20261126T061500Z") is True

    def test_a_file_that_is_not_there_reads_as_none(self, s3_store):
        store, stub = s3_store
        stub.add_client_error("get_object", "NoSuchKey", http_status_code=404)
        assert store.read_bytes("20261126T061500Z", "manifest.json") is None

    def test_a_file_that_cannot_be_opened_is_named(self, s3_store):
        store, stub = s3_store
        stub.add_client_error("get_object", "AccessDenied", "denied")
        with pytest.raises(S3Error) as caught:
            store.open_read("20261126T061500Z", "database/mlflow.dump")
        assert caught.value.message == ("Failed to read database/mlflow.dump of backup 20261126T061500Z: "
                                        "AccessDenied denied")

    def test_a_set_is_deleted_manifest_first(self, s3_store):
        store, stub = s3_store
        stub.add_response("delete_object", {}, dict(Bucket="backups", Key="mlops/20261126T061500Z/manifest.json"))
        stub.add_response("list_objects_v2", {"Contents": [{"Key": "mlops/20261126T061500Z/database/x.dump"}]})
        stub.add_response("delete_objects", {}, dict(Bucket="backups", Delete=dict(
            Objects=[dict(Key="mlops/20261126T061500Z/database/x.dump")], Quiet=True)))
        store.delete_set("20261126T061500Z")


def test_files_and_directories_are_flushed_before_the_manifest(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda descriptor: synced.append(os.readlink("/proc/self/fd/%d" % descriptor))
                        or real_fsync(descriptor))
    store = stores.DirectoryStore(str(tmp_path))
    store.claim("20261126T061500Z")
    store.write_stream("20261126T061500Z", "objects/b/deep/key~", io.BytesIO(b"data"))
    store.sync("20261126T061500Z")
    store.write_bytes("20261126T061500Z", "manifest.json", b"{}")
    root = str(tmp_path / "20261126T061500Z")
    assert synced[0] == root + "/objects/b/deep/key~"
    assert {root, root + "/objects", root + "/objects/b", root + "/objects/b/deep"} <= set(synced[1:-2])
    assert synced[-2:] == [root + "/manifest.json.partial", root]
    assert all(os.stat(os.path.join(root, *p)).st_mode & 0o777 == 0o700 for p in ([], ["objects"], ["objects", "b"]))

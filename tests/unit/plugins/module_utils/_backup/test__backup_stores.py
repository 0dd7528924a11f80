"""Unit tests for where backup sets are kept: locations and the directory store."""

import io

import pytest

from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup import stores
from ansible_collections.mlops.stack.plugins.module_utils.errors import ParameterError


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

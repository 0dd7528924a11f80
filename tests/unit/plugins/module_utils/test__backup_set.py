"""Unit tests for backup set ids, manifests, retention and locations."""

import datetime
import io
import json

import pytest

from ansible_collections.mlops.stack.plugins.module_utils import _backup_set as sets
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, ParameterError

NOW = datetime.datetime(2026, 11, 26, 6, 15, 0, tzinfo=sets.UTC)
SHA = "0" * 64


def manifest(backup_id="20261126T061500Z"):
    files = [
        dict(path="database/mlflow.dump", size=10, sha256=SHA),
        dict(path=sets.object_path("mlflow", "1/abc/artifacts/model.pkl"), size=5, sha256="1" * 64,
             bucket="mlflow", key="1/abc/artifacts/model.pkl"),
    ]
    return sets.build_manifest(
        backup_id, NOW, NOW + datetime.timedelta(seconds=3),
        dict(collection="0.1.0", postgresql_server="15.10", pg_dump="15.10", mlflow_schema="abc"),
        dict(name="mlflow", file="database/mlflow.dump", format="custom", owner="mlflow"),
        [dict(name="mlflow", objects=1, bytes=5)], files, dict(database=1.0, objects=2.0, total=3.0))


class TestIds:
    def test_id_is_sortable_utc_timestamp(self):
        assert sets.new_backup_id(NOW) == "20261126T061500Z"
        assert sets.new_backup_id(NOW, 2) == "20261126T061500Z-2"

    def test_ids_sort_chronologically_with_clash_suffixes(self):
        ids = ["20261126T061501Z", "20261126T061500Z-10", "20261126T061500Z-2",
               "20261126T061500Z", "20251231T235959Z"]
        assert sets.sort_ids(ids) == ["20251231T235959Z", "20261126T061500Z", "20261126T061500Z-2",
                                      "20261126T061500Z-10", "20261126T061501Z"]

    @pytest.mark.parametrize("name", ["latest", "2026-11-26", "20261126T061500", "20261126T061500Z-x", ""])
    def test_bad_ids_are_rejected(self, name):
        assert not sets.is_backup_id(name)
        with pytest.raises(ParameterError):
            sets.id_sort_key(name)

    def test_id_time(self):
        assert sets.id_time("20261126T061500Z-3") == NOW


class TestDurations:
    @pytest.mark.parametrize("text,seconds", [("7d", 604800), ("12h", 43200), ("30m", 1800),
                                              ("2w", 1209600), (" 90s ", 90)])
    def test_parse(self, text, seconds):
        assert sets.parse_duration(text) == seconds

    @pytest.mark.parametrize("text", ["7", "d", "7y", "-1d", "1.5h", ""])
    def test_bad(self, text):
        with pytest.raises(ParameterError, match="keep_within"):
            sets.parse_duration(text)


class TestObjectPaths:
    @pytest.mark.parametrize("key", [
        "1/abc/artifacts/model.pkl", "a", "a/b", "dir/", "/lead", "a//b", "./x", "../../etc/passwd",
        "sp ace/ü/%41/~tilde", "x~", "%",
    ])
    def test_round_trip_and_safe(self, key):
        path = sets.object_path("mlflow", key)
        assert sets.key_from_path(path) == ("mlflow", key)
        segments = path.split("/")
        assert all(s not in ("", ".", "..") for s in segments)

    def test_file_and_directory_of_one_name_do_not_collide(self):
        paths = [sets.object_path("b", k) for k in ("a", "a/b", "a/", "a~", "a%7E")]
        assert len(set(paths)) == len(paths)
        files = set(paths)
        directories = set("/".join(p.split("/")[:i]) for p in paths for i in range(1, len(p.split("/"))))
        assert not files & directories


class TestManifest:
    def test_round_trip(self):
        built = manifest()
        parsed = sets.parse_manifest(sets.serialize_manifest(built), "20261126T061500Z")
        assert parsed["status"] == "complete"
        assert parsed["totals"] == dict(files=2, bytes=15, objects=1, object_bytes=5, database_bytes=10)

    def test_any_altered_value_is_detected(self):
        data = json.loads(sets.serialize_manifest(manifest()))
        data["files"][0]["sha256"] = "f" * 64
        with pytest.raises(BackupError, match="checksum"):
            sets.parse_manifest(json.dumps(data))

    def test_flipped_byte_is_detected(self):
        data = bytearray(sets.serialize_manifest(manifest()))
        position = data.index(b'"size": 10') + len('"size": 1')
        data[position] = ord("1")
        with pytest.raises(BackupError):
            sets.parse_manifest(bytes(data))

    def test_not_json(self):
        with pytest.raises(BackupError, match="not valid JSON"):
            sets.parse_manifest(b"{\x00")

    def test_other_id(self):
        with pytest.raises(BackupError, match="another backup id"):
            sets.parse_manifest(sets.serialize_manifest(manifest()), "20261126T061501Z")

    def test_status_must_be_complete(self):
        data = manifest()
        data.pop("checksum")
        data["status"] = "running"
        resealed = sets.build_manifest  # the checksum is recomputed the way backup does
        body = dict(data)
        import hashlib
        body["checksum"] = "sha256:" + hashlib.sha256(sets._canonical(data)).hexdigest()
        assert resealed
        with pytest.raises(BackupError, match="not complete"):
            sets.parse_manifest(json.dumps(body))

    def test_path_escape_is_refused(self):
        data = manifest()
        data.pop("checksum")
        data["files"][1]["path"] = "../outside"
        import hashlib
        data["checksum"] = "sha256:" + hashlib.sha256(sets._canonical(data)).hexdigest()
        with pytest.raises(BackupError, match="invalid file entry"):
            sets.parse_manifest(json.dumps(data))


def ids(*offsets_hours):
    return [sets.new_backup_id(NOW - datetime.timedelta(hours=h)) for h in offsets_hours]


class TestRetention:
    def test_no_limits_keeps_everything(self):
        listed = [(i, True) for i in ids(1, 2, 3)]
        assert sets.select_for_deletion(listed, now=NOW) == []

    def test_keep_last(self):
        a, b, c, d = ids(4, 3, 2, 1)
        listed = [(a, True), (b, True), (c, True), (d, True)]
        assert sets.select_for_deletion(listed, keep_last=2, now=NOW) == [a, b]

    def test_keep_within(self):
        a, b, c = ids(50, 30, 1)
        listed = [(a, True), (b, True), (c, True)]
        assert sets.select_for_deletion(listed, keep_within=36 * 3600, now=NOW) == [a]

    def test_either_limit_keeps(self):
        a, b, c, d = ids(100, 50, 30, 1)
        listed = [(a, True), (b, True), (c, True), (d, True)]
        # keep_last keeps d and c, keep_within keeps c, d and b
        assert sets.select_for_deletion(listed, keep_last=2, keep_within=60 * 3600, now=NOW) == [a]

    def test_never_the_newest_complete(self):
        old, = ids(1000)
        assert sets.select_for_deletion([(old, True)], keep_within=60, now=NOW) == []
        newer_incomplete, = ids(1)
        listed = [(old, True), (newer_incomplete, False)]
        assert sets.select_for_deletion(listed, keep_within=60, now=NOW) == []

    def test_incomplete_do_not_count(self):
        a, b, c = ids(3, 2, 1)
        listed = [(a, True), (b, False), (c, False)]
        # b and c are not complete: a is the only (newest) complete set.
        assert sets.select_for_deletion(listed, keep_last=1, now=NOW) == []

    def test_incomplete_cleaned_only_after_grace(self):
        a, b, c = ids(48, 2, 1)
        listed = [(a, False), (b, False), (c, True)]
        assert sets.select_for_deletion(listed, incomplete_grace=86400, now=NOW) == [a]


class TestLocations:
    def test_s3(self):
        assert sets.parse_location("s3://backups/a//b/") == ("s3", "backups", "a/b")
        assert sets.parse_location("s3://backups") == ("s3", "backups", "")

    def test_directory(self):
        assert sets.parse_location("/srv/backups/../b") == ("dir", "/srv/b", None)

    @pytest.mark.parametrize("text,reason", [
        ("relative/dir", "absolute"), ("gs://bucket/x", "only s3://"), ("s3://Bad_Bucket/x", "bucket name"),
        ("", "s3:// URL or a directory"), ("s3://", "bucket name"),
    ])
    def test_bad(self, text, reason):
        with pytest.raises(ParameterError, match=reason):
            sets.parse_location(text)


class TestDirectoryStore:
    def test_write_claim_list_and_describe(self, tmp_path):
        store = sets.DirectoryStore(str(tmp_path / "sets"))
        store.ensure()
        assert store.claim("20261126T061500Z")
        assert not store.claim("20261126T061500Z")
        size, digest = store.write_stream("20261126T061500Z", "objects/mlflow/a~", io.BytesIO(b"hello"))
        assert size == 5
        assert digest == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        (info, parsed), = sets.list_sets(store)
        assert info["status"] == "incomplete" and parsed is None
        store.write_bytes("20261126T061500Z", sets.MANIFEST, sets.serialize_manifest(manifest()))
        (info, parsed), = sets.list_sets(store)
        assert info["status"] == "complete" and info["objects"] == 1
        assert sets.resolve_set(store, "latest")[0] == "20261126T061500Z"

    def test_verify_files_reports_a_flipped_byte(self, tmp_path):
        store = sets.DirectoryStore(str(tmp_path))
        store.claim("20261126T061500Z")
        _size, digest = store.write_stream("20261126T061500Z", "database/x.dump", io.BytesIO(b"abcdef"))
        entry = dict(path="database/x.dump", size=6, sha256=digest)
        assert sets.verify_files(store, "20261126T061500Z", [entry]) == []
        with open(store.local_path("20261126T061500Z", "database/x.dump"), "r+b") as handle:
            handle.write(b"A")
        assert sets.verify_files(store, "20261126T061500Z", [entry]) == [
            "database/x.dump does not match its sha256"]

"""Unit tests for backup set ids, object paths, manifests and retention."""

import datetime
import json

import pytest

from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils.errors import BackupError, ParameterError

NOW = datetime.datetime(2026, 11, 26, 6, 15, 0, tzinfo=sets.UTC)


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
    def test_round_trip(self, sample_manifest):
        built = sample_manifest()
        parsed = sets.parse_manifest(sets.serialize_manifest(built), "20261126T061500Z")
        assert parsed["status"] == "complete"
        assert parsed["totals"] == dict(files=2, bytes=15, objects=1, object_bytes=5, database_bytes=10)

    def test_any_altered_value_is_detected(self, sample_manifest):
        data = json.loads(sets.serialize_manifest(sample_manifest()))
        data["files"][0]["sha256"] = "f" * 64
        with pytest.raises(BackupError, match="checksum"):
            sets.parse_manifest(json.dumps(data))

    def test_flipped_byte_is_detected(self, sample_manifest):
        data = bytearray(sets.serialize_manifest(sample_manifest()))
        position = data.index(b'"size": 10') + len('"size": 1')
        data[position] = ord("1")
        with pytest.raises(BackupError):
            sets.parse_manifest(bytes(data))

    def test_not_json(self):
        with pytest.raises(BackupError, match="not valid JSON"):
            sets.parse_manifest(b"{\x00")

    def test_other_id(self, sample_manifest):
        with pytest.raises(BackupError, match="another backup id"):
            sets.parse_manifest(sets.serialize_manifest(sample_manifest()), "20261126T061501Z")

    def test_status_must_be_complete(self, sample_manifest):
        data = sample_manifest()
        data.pop("checksum")
        data["status"] = "running"
        resealed = sets.build_manifest  # the checksum is recomputed the way backup does
        body = dict(data)
        import hashlib
        body["checksum"] = "sha256:" + hashlib.sha256(sets._canonical(data)).hexdigest()
        assert resealed
        with pytest.raises(BackupError, match="not complete"):
            sets.parse_manifest(json.dumps(body))

    def test_path_escape_is_refused(self, sample_manifest):
        data = sample_manifest()
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

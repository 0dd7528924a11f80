"""Unit tests for backup set ids, object paths, manifests and retention."""

import datetime
import hashlib
import json

import pytest
from conftest import KEY, STACK  # noqa: E402 - the unit tests' backup key and stack

from ansible_collections.mlops.stack.plugins.module_utils._backup import manifest as sets
from ansible_collections.mlops.stack.plugins.module_utils._backup import seal
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

    @pytest.mark.parametrize("key", ["ü" * 300, "a/" + "%" * 100 + "/b", "x" * 1000, "é" * 81 + "~+/z~"])
    def test_long_keys_fit_file_names_and_round_trip(self, key):
        path = sets.object_path("mlflow", key)
        assert sets.key_from_path(path) == ("mlflow", key)
        assert all(len(s.encode("utf-8")) <= 255 for s in path.split("/"))

    def test_a_key_and_a_tilde_directory_do_not_collide(self):
        file_path, nested = sets.object_path("b", "a"), sets.object_path("b", "a~/b")
        assert not nested.startswith(file_path + "/")

    def test_file_and_directory_of_one_name_do_not_collide(self):
        paths = [sets.object_path("b", k) for k in ("a", "a/b", "a/", "a~", "a%7E")]
        assert len(set(paths)) == len(paths)
        files = set(paths)
        directories = set("/".join(p.split("/")[:i]) for p in paths for i in range(1, len(p.split("/"))))
        assert not files & directories


def resign(data):
    """data signed again with the unit tests' key, as someone holding it would."""
    body = dict(data)
    body.pop("signature", None)
    body["signature"] = KEY.sign(sets._canonical(body))
    return body


def unsigned(data):
    """data as 0.1.0 sealed a manifest: format 1 with an unkeyed checksum."""
    body = dict(data)
    for name in ("signature", "stack", "encryption", "key_id", "skipped"):
        body.pop(name, None)
    body["format"] = sets.UNSIGNED_FORMAT
    body["checksum"] = "sha256:" + hashlib.sha256(sets._canonical(body)).hexdigest()
    return body


TRUSTED = sets.Trust(KEY)


class TestManifest:
    def test_round_trip(self, sample_manifest):
        built = sample_manifest()
        parsed = sets.parse_manifest(sets.serialize_manifest(built), "20261126T061500Z", TRUSTED)
        assert parsed["status"] == "complete"
        assert parsed["totals"] == dict(files=2, bytes=15, objects=1, object_bytes=5, database_bytes=10,
                                        skipped_objects=0)
        assert parsed["stack"] == STACK and parsed["key_id"] == KEY.key_id

    def test_any_altered_value_is_detected(self, sample_manifest):
        data = json.loads(sets.serialize_manifest(sample_manifest()))
        data["files"][0]["sha256"] = "f" * 64
        with pytest.raises(BackupError, match="signature"):
            sets.parse_manifest(json.dumps(data), trust=TRUSTED)

    def test_flipped_byte_is_detected(self, sample_manifest):
        data = bytearray(sets.serialize_manifest(sample_manifest()))
        position = data.index(b'"size": 10') + len('"size": 1')
        data[position] = ord("1")
        with pytest.raises(BackupError):
            sets.parse_manifest(bytes(data), trust=TRUSTED)

    def test_resealed_with_an_unkeyed_checksum_is_refused(self, sample_manifest):
        data = json.loads(sets.serialize_manifest(sample_manifest()))
        data["files"][0]["sha256"] = "f" * 64
        with pytest.raises(sets.UnsignedSet, match="unsigned"):
            sets.parse_manifest(json.dumps(unsigned(data)), trust=TRUSTED)

    def test_signed_with_another_key_is_refused_naming_both_keys(self, sample_manifest):
        other = seal.SetKey("another-stack-backup-key-0123456789")
        with pytest.raises(BackupError, match="signed with another key .*this key is %s" % other.key_id):
            sets.parse_manifest(sets.serialize_manifest(sample_manifest()), trust=sets.Trust(other))

    def test_no_signature_is_refused(self, sample_manifest):
        data = sample_manifest()
        data.pop("signature")
        with pytest.raises(BackupError, match="not signed"):
            sets.parse_manifest(json.dumps(data), trust=TRUSTED)

    def test_unsigned_sets_of_0_1_0_only_when_trusted(self, sample_manifest):
        old = json.dumps(unsigned(sample_manifest()))
        with pytest.raises(sets.UnsignedSet, match="trust_unsigned=true"):
            sets.parse_manifest(old, trust=TRUSTED)
        parsed = sets.parse_manifest(old, trust=sets.Trust(KEY, trust_unsigned=True))
        assert not sets.is_signed(parsed) and sets.stack_of(parsed) == {}

    def test_not_json(self):
        with pytest.raises(BackupError, match="not valid JSON"):
            sets.parse_manifest(b"{\x00")

    def test_other_id(self, sample_manifest):
        with pytest.raises(BackupError, match="another backup id"):
            sets.parse_manifest(sets.serialize_manifest(sample_manifest()), "20261126T061501Z", TRUSTED)

    def test_status_must_be_complete(self, sample_manifest):
        data = sample_manifest()
        data["status"] = "running"
        with pytest.raises(BackupError, match="not complete"):
            sets.parse_manifest(json.dumps(resign(data)), trust=TRUSTED)

    def test_path_escape_is_refused(self, sample_manifest):
        data = sample_manifest()
        data["files"][1]["path"] = "../outside"
        with pytest.raises(BackupError, match="invalid file entry"):
            sets.parse_manifest(json.dumps(resign(data)), trust=TRUSTED)


class TestStacks:
    def test_a_set_belongs_to_its_namespace_and_id(self, sample_manifest):
        manifest = sample_manifest()
        assert sets.belongs_to(manifest, dict(namespace="mlops", id="unit-stack"))
        assert sets.belongs_to(manifest, dict(namespace="mlops", id=None))
        assert not sets.belongs_to(manifest, dict(namespace="mlops", id="other"))
        assert not sets.belongs_to(manifest, dict(namespace="prod", id="unit-stack"))

    def test_future_beyond_clock_skew(self):
        assert not sets.is_future(sets.new_backup_id(NOW + datetime.timedelta(seconds=60)), NOW)
        assert sets.is_future(sets.new_backup_id(NOW + datetime.timedelta(days=1)), NOW)


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


class TestHashedObjectPaths:
    """A key too long for the store's paths (S3: 1,024 bytes a key) is kept under its sha256."""

    LONG = "/".join(["ü" * 120] * 4) + "/" + "m" * 36  # 1,000 bytes, 6,000 once percent-encoded

    def test_a_long_key_is_hashed_and_read_back_from_its_entry(self):
        path = sets.object_path("mlflow", self.LONG, max_bytes=700)
        assert len(path) <= 700 and sets.is_hashed_path(path)
        assert sets.entry_key(dict(path=path, bucket="mlflow", key=self.LONG)) == ("mlflow", self.LONG)

    def test_a_key_that_fits_keeps_its_encoding(self):
        path = sets.object_path("mlflow", "1/abc/model.pkl", max_bytes=700)
        assert path == sets.object_path("mlflow", "1/abc/model.pkl") and not sets.is_hashed_path(path)
        assert sets.entry_key(dict(path=path)) == ("mlflow", "1/abc/model.pkl")

    @pytest.mark.parametrize("entry", [
        dict(bucket="mlflow", key="another key"), dict(bucket="other", key=LONG), dict(bucket="mlflow"), dict()])
    def test_an_entry_whose_key_does_not_hash_to_its_path_is_refused(self, entry):
        path = sets.object_path("mlflow", self.LONG, max_bytes=700)
        with pytest.raises(BackupError, match="does not match its path"):
            sets.entry_key(dict(entry, path=path))

    def test_a_hashed_path_never_decodes_as_a_key(self):
        with pytest.raises(BackupError, match="Invalid object path"):
            sets.key_from_path(sets.object_path("mlflow", self.LONG, max_bytes=700))

    def test_no_key_encodes_to_the_hashed_directory(self):
        for key in ("~h/x", "~h", "%7Eh/x", "a/~h/b"):
            assert not sets.is_hashed_path(sets.object_path("mlflow", key))


def test_a_manifest_whose_hashed_entry_names_another_key_is_refused(sample_manifest):
    body = sample_manifest()
    path = sets.object_path("mlflow", "k" * 2000, max_bytes=700)
    body["files"].append(dict(path=path, size=1, sha256="2" * 64, bucket="mlflow", key="another key"))
    with pytest.raises(BackupError, match="does not match its path"):
        sets.parse_manifest(json.dumps(resign(body)), body["backup_id"], TRUSTED)

"""The release habit: galaxy.yml's version, the charts' versions, every other
place that names the collection's version, and the changelog move together.

Between releases galaxy.yml holds the version being prepared (newer than the
last release in changelogs/changelog.yaml); at a release, `antsibull-changelog
release` records exactly that version (docs/upgrading.md). The charts'
versions are held to galaxy.yml's in tests/unit/charts/test_charts.py.
"""

import glob
import os
import re

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEMVER = r"(\d+\.\d+\.\d+)"

# Files that name the collection's version outside galaxy.yml: the
# execution-environment tarball, the ee image's default tag, and a fallback
# for a checkout without galaxy.yml.
VERSION_REFERENCES = [
    ("execution-environment.yml", r"context-src/mlops-stack-" + SEMVER + r"\.tar\.gz"),
    ("playbooks/awx_job_templates.yml", r"/mlops-stack/ee:" + SEMVER),
    ("roles/backup/vars/main.yml", r"\.version \| default\('" + SEMVER + r"'\)"),
    ("docs/local-cluster.md", r"`localhost/mlops-stack/ee:<collection version>` \(" + SEMVER + r"\)"),
    ("docs/awx.md", r"/mlops-stack/ee:" + SEMVER),
]
# A version constant in the plugins (written into every backup manifest).
VERSION_CONSTANT = re.compile(r"^[A-Z_]*VERSION\s*=\s*[\"']" + SEMVER + r"[\"']", re.M)


def _yaml(*path):
    with open(os.path.join(REPO, *path), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _read(*path):
    with open(os.path.join(REPO, *path), encoding="utf-8") as handle:
        return handle.read()


def _key(version):
    return tuple(int(part) for part in version.split("."))


COLLECTION_VERSION = _yaml("galaxy.yml")["version"]
RELEASES = sorted((_yaml("changelogs", "changelog.yaml").get("releases") or {}), key=_key)


@pytest.mark.parametrize("path,pattern", VERSION_REFERENCES)
def test_references_name_the_collection_version(path, pattern):
    found = re.findall(pattern, _read(path))
    assert found, f"{path} no longer names the collection's version as {pattern!r}: update this test"
    assert set(found) == {COLLECTION_VERSION}, f"{path} names {found}, galaxy.yml {COLLECTION_VERSION}"


def test_plugin_version_constants_follow_the_collection():
    for path in glob.glob(os.path.join(REPO, "plugins", "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            for version in VERSION_CONSTANT.findall(handle.read()):
                assert version == COLLECTION_VERSION, f"{os.path.relpath(path, REPO)} says {version}"


def test_galaxy_version_is_the_last_release_or_the_next_one():
    assert RELEASES, "changelogs/changelog.yaml holds no release"
    last = RELEASES[-1]
    assert _key(COLLECTION_VERSION) >= _key(last), (
        f"galaxy.yml says {COLLECTION_VERSION}, older than the last release {last} in changelogs/changelog.yaml")


def test_every_release_has_a_date():
    releases = _yaml("changelogs", "changelog.yaml")["releases"]
    undated = [version for version in RELEASES if not releases[version].get("release_date")]
    assert not undated, f"releases without release_date: {undated}"


def test_generated_changelog_holds_every_release():
    # CHANGELOG.rst is antsibull-changelog's output of changelog.yaml: a release
    # recorded by hand without `antsibull-changelog generate` shows here.
    config = _yaml("changelogs", "config.yaml")
    for output in config["output"]:
        headings = re.findall(r"^v" + SEMVER + r"\n=+$", _read(output["file"]), re.M)
        assert sorted(headings, key=_key) == RELEASES, f"{output['file']} is not generated from changelog.yaml"

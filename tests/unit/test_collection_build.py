"""The collection tarball holds the collection and none of the build leftovers."""

import os
import subprocess
import sys
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def tarball_members(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # Leftovers a developer's tree typically holds, which must not be shipped.
    leftover = os.path.join(REPO, "plugins", "modules", "__pycache__")
    os.makedirs(leftover, exist_ok=True)
    marker = os.path.join(leftover, "leftover.cpython-311.pyc")
    with open(marker, "wb") as handle:
        handle.write(b"\0")
    try:
        galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
        subprocess.run([galaxy, "collection", "build", "--force", "--output-path", str(out), REPO],
                       check=True, capture_output=True, cwd=REPO)
    finally:
        os.unlink(marker)
    (tarball,) = list(out.iterdir())
    with tarfile.open(str(tarball)) as archive:
        return tarball.name, archive.getnames()


def test_tarball_is_named_after_galaxy_yml(tarball_members):
    name, _members = tarball_members
    assert name.startswith("mlops-stack-") and name.endswith(".tar.gz")


@pytest.mark.parametrize("required", [
    "MANIFEST.json", "FILES.json", "meta/runtime.yml", "README.md", "LICENSE",
    "plugins/modules/minio_bucket.py", "plugins/modules/postgresql_bootstrap.py",
    "plugins/modules/backup.py", "plugins/modules/restore.py", "plugins/modules/backup_info.py",
])
def test_tarball_holds_the_collection(tarball_members, required):
    assert required in tarball_members[1]


def test_tarball_has_no_leftovers(tarball_members):
    leftovers = [member for member in tarball_members[1]
                 if "__pycache__" in member or member.endswith(".pyc")
                 or member.startswith((".tools", ".git/", ".ci", "tests/output"))
                 or ".pytest_cache" in member]
    assert leftovers == []

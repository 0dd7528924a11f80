#!/usr/bin/env bash
# Runs ansible-test sanity on a copy of the tracked files laid out as
# ansible_collections/mlops/stack, the only layout ansible-test accepts.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/mlops/stack"
mkdir -p "$dest"
# Tracked and new (not ignored) files, as a fresh clone would hold them.
(cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
cd "$dest"
git init -q && git add -A
python_version=$("$repo/.tools/venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
"$repo/.tools/venv/bin/ansible-test" sanity --python "$python_version" --color no \
  --skip-test shellcheck "$@"

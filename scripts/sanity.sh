#!/usr/bin/env bash
# Runs ansible-test sanity on a copy of the tracked files laid out as
# ansible_collections/mlops/stack, the only layout ansible-test accepts.
#
# ansible-test's --venv mode downloads a pip bootstrap script from a host these
# machines cannot reach, so the sanity tools live in a virtualenv of their own,
# pinned to ansible-test's own requirement files and cached like the main one.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${MLOPS_STACK_CACHE:-/var/cache/mlops-stack}
project_python="$repo/.tools/venv/bin/python"
requirements_dir=$("$project_python" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_data", "requirements"))')
core_version=$("$project_python" -c 'import ansible.release; print(ansible.release.__version__)')
tests="ansible-doc changelog import import.plugin integration-aliases pep8 pylint runtime-metadata validate-modules yamllint"

pins=$(for t in $tests; do grep -v '^#' "$requirements_dir/sanity.$t.txt"; done | sort -u)
key=$(printf '%s\n%s\n' "$core_version" "$pins" | sha256sum | cut -c1-16)
venv="$cache/sanity-venv-$key"
if [ ! -f "$venv/.complete" ]; then
  echo "[sanity] creating $venv" >&2
  rm -rf "$venv"
  "$(readlink -f "$project_python")" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q "ansible-core==$core_version" $pins
  touch "$venv/.complete"
fi

# ansible-test still makes a small virtualenv per test and bootstraps pip in it.
pip_version=$("$venv/bin/python" - "$requirements_dir" <<'PY'
import re, sys, pathlib
source = pathlib.Path(sys.argv[1]).parent.parent / "_internal" / "python_requirements.py"
print(re.search(r"\bpip='([^']+)'", source.read_text()).group(1))
PY
)
bootstrap="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$bootstrap")"
cp "$repo/scripts/offline/get_pip.py" "$bootstrap"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/mlops/stack"
mkdir -p "$dest"
# Tracked and new (not ignored) files, as a fresh clone would hold them. Chart
# templates are Go templates, not YAML: helm lint and tests/unit/charts check
# them, and ansible-test's YAML parser cannot.
(cd "$repo" && git ls-files -co --exclude-standard -z | grep -zv '^charts/[^/]*/templates/' |
  xargs -0 cp -P --parents -t "$dest")
cd "$dest"
git init -q && git add -A
# The collection's dependencies resolve from the main virtualenv's bundle.
bundled=$("$project_python" -c 'import ansible_collections, os; print(os.path.dirname(list(ansible_collections.__path__)[0]))')
export ANSIBLE_COLLECTIONS_PATH="$work:$bundled"
PATH="$venv/bin:$PATH" "$venv/bin/ansible-test" sanity --color no \
  --python "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --skip-test shellcheck "$@"

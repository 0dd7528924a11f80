#!/usr/bin/env bash
# Runs the end-to-end suite (make e2e) in two lanes at once on the cluster of
# $KUBECONFIG, each in namespaces of its own, so one lane's waits for pods and
# Helm overlap the other's work:
#   lane own:    the tests that install stacks of their own (the lifecycle,
#                which runs the molecule default scenario's steps, upgrade from
#                the first release, schema migration on the upgraded stack,
#                check mode on a new namespace);
#   lane shared: the tests sharing one installed stack (backup/restore,
#                downloads, browser, check mode, isolation, TLS, schedule, bad input,
#                and last the external endpoints, whose settings are not taken back).
# Each lane's output goes to tests/output/e2e-lanes/<lane>.log and is printed
# when both have ended; the exit status is non-zero when either lane failed.
# usage: scripts/e2e-lanes.sh PYTEST
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
pytest=${1:?usage: scripts/e2e-lanes.sh PYTEST}
logs=tests/output/e2e-lanes
mkdir -p "$logs"

# check mode on a namespace of its own goes with the own lane, which ends first.
own=(tests/e2e/test_lifecycle.py tests/e2e/test_upgrade_e2e.py tests/e2e/test_migration_e2e.py
     tests/e2e/test_check_mode_e2e.py::test_site_check_on_a_new_namespace)
shared=(tests/e2e/test_backup_restore_e2e.py tests/e2e/test_downloads_e2e.py tests/e2e/test_browser_e2e.py
        tests/e2e/test_check_mode_e2e.py::test_check_mode_leaves_an_installed_stack_as_it_was
        tests/e2e/test_isolation_e2e.py tests/e2e/test_tls_e2e.py
        tests/e2e/test_backup_schedule_e2e.py
        tests/e2e/test_bad_input_e2e.py
        tests/e2e/test_external_e2e.py)

started=$SECONDS
"$pytest" -q --durations=30 "${own[@]}" >"$logs/own.log" 2>&1 &
own_pid=$!
"$pytest" -q --durations=30 "${shared[@]}" >"$logs/shared.log" 2>&1 &
shared_pid=$!

# A line now and then, so a long run is visibly alive.
while kill -0 "$own_pid" 2>/dev/null || kill -0 "$shared_pid" 2>/dev/null; do
  sleep 60
  printf '[e2e-lanes %dm] own: %s, shared: %s\n' $(((SECONDS - started) / 60)) \
    "$(kill -0 "$own_pid" 2>/dev/null && echo running || echo ended)" \
    "$(kill -0 "$shared_pid" 2>/dev/null && echo running || echo ended)"
done
wait "$own_pid"; own_rc=$?
wait "$shared_pid"; shared_rc=$?

for lane in own shared; do
  rc_var=${lane}_rc
  printf '\n===== e2e lane %s (rc %d) =====\n' "$lane" "${!rc_var}"
  cat "$logs/$lane.log"
done
printf '\n[e2e-lanes] both lanes ended in %d min: own rc %d, shared rc %d\n' \
  $(((SECONDS - started) / 60)) "$own_rc" "$shared_rc"
[ "$own_rc" -eq 0 ] && [ "$shared_rc" -eq 0 ]

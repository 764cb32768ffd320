#!/usr/bin/env bash
# The tests: install what is missing, build with warnings as errors, run the
# unit tests, start a throwaway cluster, run pg_regress (make installcheck) and
# the TAP tests (prove test/t), then print "N passed, N failed".
set -uo pipefail
. "$(dirname "$0")/lib.sh"

cs_ensure_packages $CS_BUILD_PACKAGES $CS_TEST_PACKAGES || exit 1
cs_build_install strict || { echo "0 passed, 1 failed"; exit 1; }
cs_ensure_citus || cs_log "Citus could not be built: test/t/citus.t will fail"
cs_start_cluster || { echo "0 passed, 1 failed"; exit 1; }
cd "$CS_ROOT"
passed=0
failed=0

cs_log "unit tests (pure C math)"
unit_out=$(make -s PG_CFLAGS="$CS_STRICT_CFLAGS" unitcheck 2>&1)
echo "$unit_out"
if [[ $unit_out =~ unit:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
else
    failed=$((failed + 1))
fi

cs_log "pg_regress (make installcheck)"
regress_out=$(make -s installcheck PG_CONFIG="$PG_CONFIG" 2>&1)
echo "$regress_out"
total=$(ls sql/*.sql | wc -l)
if [[ $regress_out =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
    failed=$((failed + BASH_REMATCH[1])); passed=$((passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
    [ -f regression.diffs ] && head -200 regression.diffs
elif [[ $regress_out =~ All\ ([0-9]+)\ tests\ passed ]]; then
    passed=$((passed + BASH_REMATCH[1]))
else
    failed=$((failed + total))
fi

cs_log "TAP tests (prove test/t)"
mkdir -p test/out
[ "$(id -u)" -eq 0 ] && chown postgres: test/out
if prove -v test/t/ >test/out/prove.log 2>&1; then prove_ok=1; else prove_ok=0; fi
cat test/out/prove.log
tap_skip=$(grep -cE '^\s*ok [0-9]+ # skip' test/out/prove.log)
tap_pass=$(( $(grep -cE '^\s*ok [0-9]+' test/out/prove.log) - tap_skip ))
tap_fail=$(grep -cE '^\s*not ok [0-9]+' test/out/prove.log)
if [ "$prove_ok" -eq 0 ] && [ "$tap_fail" -eq 0 ]; then tap_fail=1; fi   # a script that died
passed=$((passed + tap_pass)); failed=$((failed + tap_fail))

[ "$tap_skip" -gt 0 ] && echo "$tap_skip TAP assertions skipped (see test/out/prove.log)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

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

# prove -v TESTS... into test/out/LOG; adds its assertions to passed, failed and skipped.
skipped=0
run_tap() {
    local log=test/out/$1 ok=1 pass fail skip
    shift
    prove -v "$@" >"$log" 2>&1 || ok=0
    cat "$log"
    skip=$(grep -cE '^\s*ok [0-9]+ # skip' "$log")
    pass=$(( $(grep -cE '^\s*ok [0-9]+' "$log") - skip ))
    fail=$(grep -cE '^\s*not ok [0-9]+' "$log")
    if [ "$ok" -eq 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi   # a script that died
    passed=$((passed + pass)); failed=$((failed + fail)); skipped=$((skipped + skip))
}

cs_log "TAP tests (prove test/t)"
mkdir -p test/out
rm -f test/out/prove*.log
[ "$(id -u)" -eq 0 ] && chown postgres: test/out
run_tap prove.log test/t/

# A clone on its own has no ../shared (data, Citus source): the tests that read it run once more as if it
# were absent, so that such a clone keeps passing (CS_WITHOUT_SHARED=1 runs everything that way).
if [ -z "${CS_WITHOUT_SHARED:-}" ] && [ -d "$CS_ROOT/../shared" ]; then
    cs_log "TAP tests that read ../shared, once more without it (CS_WITHOUT_SHARED=1)"
    CS_WITHOUT_SHARED=1 run_tap prove_without_shared.log $(grep -lE 'shared_d(ata|ir)|citus_archive' test/t/*.t)
fi

if [ "$skipped" -gt 0 ] || grep -q ' skipped: ' test/out/prove*.log; then
    echo "skipped, with the reason:"
    awk '/^test\/t\/[^ ]*\.t \.\./ { file = $1 } / skipped: / { print "  " $0; next }
         /^[[:space:]]*ok [0-9]+ # skip/ { sub(/^[[:space:]]*/, ""); print "  " file ": " $0 }' test/out/prove*.log
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# The tests: install what is missing, build with warnings as errors, run the unit tests, start a throwaway
# cluster, run pg_regress (make installcheck) and the TAP tests (prove test/t) on the system's PostgreSQL
# (pg_config on PG_CONFIG, 15 on Debian 12), then pg_regress and the TAP tests again on each other major of
# CS_MAJORS (17 18; fetched once per machine, see cs_ensure_major in test/lib.sh; CS_MAJORS= skips them).
# Prints a summary per major, then "N passed, N failed" over all of them.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$CS_ROOT"

cs_ensure_packages $CS_BUILD_PACKAGES $CS_TEST_PACKAGES || exit 1
default_major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
passed=0
failed=0
skipped=0
summary=()

# The other majors first (each build starts from make clean), so the tree ends built for the default one.
# CS_MAJOR_PG_CONFIGS ("major:pg_config ...") tells test/t/majors.t where every installed major is.
majors=()
CS_MAJOR_PG_CONFIGS="$default_major:$PG_CONFIG"
for m in $CS_MAJORS; do
    [ "$m" = "$default_major" ] && continue
    if cs_ensure_major "$m" && PG_CONFIG=$(cs_major_pg_config "$m") cs_build_install strict; then
        majors+=("$m")
        CS_MAJOR_PG_CONFIGS+=" $m:$(cs_major_pg_config "$m")"
    else
        cs_log "PostgreSQL $m: could not fetch it or build the extension against it"
        failed=$((failed + 1))
        summary+=("PostgreSQL $m: build failed")
    fi
done
export CS_MAJOR_PG_CONFIGS
cs_build_install strict || { echo "0 passed, 1 failed"; exit 1; }
cs_ensure_citus || cs_log "Citus could not be built: test/t/citus.t will fail"

cs_log "unit tests (pure C math)"
unit_out=$(make -s PG_CFLAGS="$CS_STRICT_CFLAGS" unitcheck 2>&1)
echo "$unit_out"
if [[ $unit_out =~ unit:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
    passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
else
    failed=$((failed + 1))
fi

# make installcheck against $PG_CONFIG; adds its suites to passed and failed.
run_regress() {
    local out total
    cs_log "pg_regress (make installcheck) on PostgreSQL $1"
    out=$(make -s installcheck PG_CONFIG="$PG_CONFIG" 2>&1)
    echo "$out"
    total=$(ls sql/*.sql | wc -l)
    if [[ $out =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
        failed=$((failed + BASH_REMATCH[1])); passed=$((passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
        [ -f regression.diffs ] && head -200 regression.diffs
    elif [[ $out =~ All\ ([0-9]+)\ tests\ passed ]]; then
        passed=$((passed + BASH_REMATCH[1]))
    else
        failed=$((failed + total))
    fi
}

# prove -v TESTS... into test/out/LOG; adds its assertions to passed, failed and skipped.
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

# Adds "PostgreSQL M: N passed, N failed" for what ran since the counts were p0 and f0.
note_major() { summary+=("PostgreSQL $1: $((passed - $2)) passed, $((failed - $3)) failed"); }

mkdir -p test/out
rm -f test/out/prove*.log
[ "$(id -u)" -eq 0 ] && chown postgres: test/out

p0=$passed f0=$failed
cs_start_cluster || { echo "0 passed, 1 failed"; exit 1; }
run_regress "$default_major"
cs_log "TAP tests (prove test/t) on PostgreSQL $default_major"
run_tap prove.log test/t/
# A clone on its own has no ../shared (data, Citus source): the tests that read it run once more as if it
# were absent, so that such a clone keeps passing (CS_WITHOUT_SHARED=1 runs everything that way).
if [ -z "${CS_WITHOUT_SHARED:-}" ] && [ -d "$CS_ROOT/../shared" ]; then
    cs_log "TAP tests that read ../shared, once more without it (CS_WITHOUT_SHARED=1)"
    CS_WITHOUT_SHARED=1 run_tap prove_without_shared.log $(grep -lE 'shared_d(ata|ir)|citus_archive|cdnow_csv|load_cdnow' test/t/*.t)
fi
cs_stop_cluster
note_major "$default_major (unit tests included)" "$p0" "$f0"

# The same suites on each other major (test/t/majors.t compares them all at once, above).
for m in "${majors[@]}"; do
    p0=$passed f0=$failed
    (
        PG_CONFIG=$(cs_major_pg_config "$m")
        PATH=$(dirname "$PG_CONFIG"):$PATH   # its psql, pg_dump and pg_restore
        export PG_CONFIG PATH
        cs_start_cluster || exit 1
        run_regress "$m"
        cs_log "TAP tests (prove test/t) on PostgreSQL $m"
        run_tap "prove_pg$m.log" $(ls test/t/*.t | grep -v '/majors\.t$')
        echo "counts $passed $failed $skipped"
    ) > "test/out/major_$m.out" 2>&1
    cat "test/out/major_$m.out"
    if counts=$(grep -E '^counts [0-9]+ [0-9]+ [0-9]+$' "test/out/major_$m.out" | tail -1); then
        read -r _ passed failed skipped <<<"$counts"
    else
        failed=$((failed + 1))   # the cluster did not start
    fi
    note_major "$m" "$p0" "$f0"
done

if [ "$skipped" -gt 0 ] || grep -q ' skipped: ' test/out/prove*.log; then
    echo "skipped, with the reason:"
    for log in test/out/prove*.log; do
        awk -v run="$(basename "$log" .log)" '/^test\/t\/[^ ]*\.t \.\./ { file = $1 }
             / skipped: / { print "  [" run "] " $0; next }
             /^[[:space:]]*ok [0-9]+ # skip/ { sub(/^[[:space:]]*/, ""); print "  [" run "] " file ": " $0 }' "$log"
    done
fi
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

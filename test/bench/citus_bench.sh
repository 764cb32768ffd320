#!/usr/bin/env bash
# Citus benchmark: per-month queries over the sample store's orders distributed by customer on a coordinator
# and two workers of this machine (all three share its 2 cores: the numbers show the traffic saved, not a
# speed-up from more machines).  Each query runs two-phase (partial states on the workers, combined on the
# coordinator, what 1.5's state types allow) and with the rows gathered to the coordinator first (what
# Citus did with the internal states before 1.5: the same query over a subquery with OFFSET 0), and on a
# local copy on the coordinator.  Best of REPS runs each.
# Usage: bash test/bench/citus_bench.sh [customers]   (default 200000, ~1.8M orders)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
cs_ensure_packages $CS_BUILD_PACKAGES perl
cs_build_install
cs_ensure_citus
[ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ] || { cs_log "Citus is not available ($CS_CITUS_ARCHIVE)"; exit 1; }
cd "$CS_ROOT"
exec perl test/bench/citus_bench.pl "${1:-200000}"

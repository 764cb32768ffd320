#!/usr/bin/env bash
# Incremental refresh benchmark: a source over the sample store's orders (default 1M customers, ~9.2M orders)
# with order_id as its change column, against a twin source over the same orders refreshed in full.  After
# both are built, 1% more orders arrive (late orders dated up to two years back, refunds, new customers); then
# the twin's full refresh and the incremental refresh are timed in the same run, their six helper views
# compared row for row, and the parts of the incremental refresh timed on their own: bringing the states up
# to date, and computing the customers view from them.
# Usage: bash test/bench/incremental_bench.sh [customers]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

CUSTOMERS=${1:-1000000}
cs_ensure_packages $CS_BUILD_PACKAGES bc
cs_build_install
cs_start_cluster
cs_restart_with "shared_buffers = '4GB'" "work_mem = '256MB'" "maintenance_work_mem = '1GB'" "jit = off" "max_parallel_workers_per_gather = 0"

t() { local s; s=$(date +%s.%N); psql -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; echo "$(date +%s.%N) - $s" | bc; }

cs_log "generating $CUSTOMERS customers"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION customer_segment" -c "CREATE SCHEMA b" \
     -c "SELECT * FROM customer_segment.create_sample_store('b', $CUSTOMERS, 1)" -c "VACUUM ANALYZE b.orders"
psql -X -q -v ON_ERROR_STOP=1 <<SQL
SELECT count(*) FROM customer_segment.register_source('inc', 'b.orders', 'customer_id', 'ordered_at', 'amount',
    as_of => DATE '2026-01-31', time_zone => 'UTC');
SELECT count(*) FROM customer_segment.register_source('ref', 'b.orders', 'customer_id', 'ordered_at', 'amount',
    as_of => DATE '2026-01-31', time_zone => 'UTC');
SELECT customer_segment.set_source_change_column('inc', 'order_id');
SQL
build_inc=$(t "SELECT customer_segment.refresh('inc')")
build_ref=$(t "SELECT customer_segment.refresh('ref')")
ORDERS=$(psql -X -A -t -c "SELECT count(*) FROM b.orders")
NEW=$((ORDERS / 100))
psql -X -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO b.orders
SELECT (SELECT max(order_id) FROM b.orders) + g,
       CASE WHEN g % 10 = 0 THEN 10 * $CUSTOMERS + g ELSE 1 + (g * 7919) % $CUSTOMERS END,
       TIMESTAMPTZ '2024-01-01 10:00+00' + (g * 37 % 760) * interval '1 day',
       CASE WHEN g % 9 = 0 THEN -(g % 60) ELSE 5 + g % 250 END
  FROM generate_series(1, $NEW) g;
VACUUM ANALYZE b.orders;
SQL
full=$(t "SELECT customer_segment.refresh('ref')")
inc=$(t "SELECT customer_segment.refresh('inc')")
note=$(psql -X -A -t -c "SELECT note FROM customer_segment.refresh_log WHERE source = 'inc' ORDER BY id DESC LIMIT 1")
diff=$(psql -X -A -t -c "SELECT sum(n) FROM (
    SELECT (SELECT count(*) FROM (SELECT * FROM b.inc_customers EXCEPT ALL SELECT * FROM b.ref_customers) x) n UNION ALL
    SELECT (SELECT count(*) FROM (SELECT * FROM b.ref_customers EXCEPT ALL SELECT * FROM b.inc_customers) x) UNION ALL
    SELECT (SELECT count(*) FROM (SELECT * FROM b.inc_segments EXCEPT ALL SELECT * FROM b.ref_segments) x) UNION ALL
    SELECT (SELECT count(*) FROM (SELECT * FROM b.inc_rf_grid EXCEPT ALL SELECT * FROM b.ref_rf_grid) x) UNION ALL
    SELECT (SELECT count(*) FROM (SELECT * FROM b.inc_lifecycle EXCEPT ALL SELECT * FROM b.ref_lifecycle) x) UNION ALL
    SELECT (SELECT count(*) FROM (SELECT * FROM b.inc_tiers EXCEPT ALL SELECT * FROM b.ref_tiers) x) UNION ALL
    SELECT (SELECT count(*) FROM (SELECT * FROM b.inc_cohorts EXCEPT ALL SELECT * FROM b.ref_cohorts) x) UNION ALL
    SELECT (SELECT count(*) FROM (SELECT * FROM b.ref_cohorts EXCEPT ALL SELECT * FROM b.inc_cohorts) x)) d")
# The parts, timed alone on the same data: the orders read by a full refresh, the states read by an incremental one.
orders_rfm=$(t "SELECT count(*) FROM customer_segment.rfm_analyze('b.orders', 'customer_id', 'ordered_at', 'amount', DATE '2026-01-31', zone => 'UTC')")
states_rfm=$(t "SELECT count(*) FROM customer_segment.rfm_analyze_states('b.inc_states', DATE '2026-01-31')")
customers_view=$(t "SELECT count(*) FROM customer_segment.source_customers('inc')")
echo
echo "$CUSTOMERS customers, $ORDERS orders, then $NEW new orders (1%)"
echo "build: incremental source $build_inc s (states + views), full source $build_ref s"
echo "| refresh after 1% new orders | time |"
echo "|---|---|"
echo "| full (twin source) | $full s |"
echo "| incremental | $inc s |"
echo "| full / incremental | $(echo "scale=2; $full / $inc" | bc) |"
echo "incremental note: $note"
echo "rows that differ between the two sources' helper views: $diff"
echo "parts: rfm_analyze over the orders $orders_rfm s, rfm_analyze_states over the states $states_rfm s, the customers view from the states (scores, fits, predictions) $customers_view s"

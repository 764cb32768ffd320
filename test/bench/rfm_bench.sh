#!/usr/bin/env bash
# RFM benchmark: the extension against plain SQL, measured in one run.
#   (a) floor: GROUP BY customer with min/max/count/sum
#   (b) idiomatic plain-SQL RFM: GROUP BY + NTILE windows + CASE segment map
#   (c) the extension: rfm_analyze (summary + tie-safe scores + segment), one call
#   (d) the same pipeline written as one query over the extension's aggregates and functions
#       (what a view would run; no set-returning-function materialisation)
# Each query runs REPS times (best time kept), serially and with 2 parallel
# workers, at each work_mem of WORK_MEMS: PostgreSQL's default 4MB (hash
# aggregates and sorts spill to temporary files), 64MB, and 4GB (everything in
# memory).  Prints the times, c/a and b/c, and the hash-aggregate memory per customer.
# Usage: bash test/bench/rfm_bench.sh [customers]   (default 1000000, ~9M orders)
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

CUSTOMERS=${1:-1000000}
REPS=${REPS:-3}
WORK_MEMS=${WORK_MEMS:-4MB 64MB 4GB}
cs_ensure_packages $CS_BUILD_PACKAGES bc
cs_build_install
cs_start_cluster
cs_restart_with "shared_buffers = '4GB'" "max_parallel_workers_per_gather = 2" "jit = off"

cs_log "generating $CUSTOMERS customers"
start=$(date +%s.%N)
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION customer_segment" -c "CREATE SCHEMA b" \
     -c "SELECT * FROM customer_segment.create_sample_store('b', $CUSTOMERS, 1)" -c "VACUUM ANALYZE b.orders"
psql -X -q -A -t -c "SELECT 'orders: ' || count(*) || ', customers with orders: ' || count(DISTINCT customer_id) || ', table ' || pg_size_pretty(pg_relation_size('b.orders')) FROM b.orders"
cs_log "generated in $(echo "$(date +%s.%N) - $start" | bc) s"

# Every output column is consumed, so the planner cannot skip an aggregate.
Q_FLOOR="SELECT count(*) FROM (SELECT customer_id, min(ordered_at) mn, max(ordered_at) mx, count(*) n, sum(amount) s
  FROM b.orders GROUP BY 1) x WHERE mn IS NOT NULL AND mx IS NOT NULL AND n > 0 AND s IS NOT NULL"
Q_PLAIN="WITH s AS (
    SELECT customer_id,
           DATE '2025-12-31' - max(ordered_at::date) FILTER (WHERE amount >= 0) AS recency_days,
           count(*) FILTER (WHERE amount >= 0) AS frequency,
           sum(amount) AS monetary
      FROM b.orders WHERE ordered_at::date <= DATE '2025-12-31' GROUP BY customer_id
), scored AS (
    SELECT s.*, ntile(5) OVER (ORDER BY recency_days DESC) AS r,
           ntile(5) OVER (ORDER BY frequency) AS f, ntile(5) OVER (ORDER BY monetary) AS m
      FROM s WHERE frequency > 0
)
SELECT count(*) FROM (
    SELECT customer_id, r, f, m, r::text || f || m AS cell,
           CASE WHEN r >= 4 AND f >= 4 AND m >= 4 THEN 'Champions'
                WHEN r >= 3 AND f >= 3 AND m >= 3 THEN 'Loyal Customers'
                WHEN r = 1 AND f >= 4 AND m >= 4 THEN 'Can''t Lose Them'
                WHEN r <= 2 AND f >= 2 AND m >= 2 THEN 'At Risk'
                WHEN r >= 4 AND f = 1 AND m = 1 THEN 'New Customers'
                WHEN r BETWEEN 3 AND 4 AND f = 1 AND m = 1 THEN 'Promising'
                WHEN r BETWEEN 2 AND 3 AND f BETWEEN 2 AND 3 AND m BETWEEN 2 AND 3 THEN 'Need Attention'
                WHEN r = 1 AND f <= 2 AND m <= 2 THEN 'Lost'
                WHEN r <= 2 AND f <= 2 AND m <= 2 THEN 'Hibernating'
                WHEN r BETWEEN 2 AND 3 AND f <= 2 AND m <= 2 THEN 'About To Sleep'
                WHEN r >= 3 AND f <= 3 AND m <= 3 THEN 'Potential Loyalist'
                ELSE 'Others' END AS segment
      FROM scored) x WHERE segment IS NOT NULL AND cell IS NOT NULL"
Q_EXT="SELECT count(*) FROM customer_segment.rfm_analyze('b.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31')
  WHERE segment IS NOT NULL AND rfm_cell IS NOT NULL"

Q_BLOCKS="WITH s AS (
    SELECT customer_id, (customer_segment.rfm_summary(ordered_at, amount, DATE '2025-12-31')).*
      FROM b.orders GROUP BY customer_id
), cuts AS (
    SELECT customer_segment.score_breakpoints(recency_days, 5) AS r,
           customer_segment.score_breakpoints(orders, 5) AS f,
           customer_segment.score_breakpoints(monetary_total, 5) AS m
      FROM s WHERE orders > 0
), map AS (
    SELECT array_agg(segment ORDER BY r, f, m) AS segments FROM customer_segment.rfm_segment_map()
), scored AS (
    SELECT s.customer_id, customer_segment.score(recency_days, cuts.r, false) AS r,
           customer_segment.score(orders, cuts.f) AS f, customer_segment.score(monetary_total, cuts.m) AS m
      FROM s, cuts WHERE orders > 0
)
SELECT count(*) FROM (
    SELECT customer_id, customer_segment.rfm_cell(r, f, m) AS cell, map.segments[(r - 1) * 25 + (f - 1) * 5 + m] AS segment
      FROM scored, map) x WHERE segment IS NOT NULL AND cell IS NOT NULL"

best_ms() {   # best_ms WORKERS SQL [WORK_MEM]
    local workers=$1 sql=$2 wm=${3:-4GB} best="" t
    for _ in $(seq "$REPS"); do
        t=$(psql -X -q -c "SET max_parallel_workers_per_gather = $workers" -c "SET work_mem = '$wm'" -c '\timing on' -c "$sql" \
              | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

printf '\n%-8s %-8s %11s %11s %11s %11s %7s %7s %7s %7s\n' work_mem workers "a floor" "b plain" "c ext" "d blocks" \
    "c/a" "b/c" "d/a" "b/d"
for wm in $WORK_MEMS; do
    for w in 0 2; do
        a=$(best_ms $w "$Q_FLOOR" $wm); b=$(best_ms $w "$Q_PLAIN" $wm); c=$(best_ms $w "$Q_EXT" $wm); d=$(best_ms $w "$Q_BLOCKS" $wm)
        printf '%-8s %-8s %9.0fms %9.0fms %9.0fms %9.0fms %7.2f %7.2f %7.2f %7.2f\n' "$wm" "$w" "$a" "$b" "$c" "$d" \
            "$(echo "$c / $a" | bc -l)" "$(echo "$b / $c" | bc -l)" "$(echo "$d / $a" | bc -l)" "$(echo "$b / $d" | bc -l)"
    done
done

# Summary aggregate alone vs the floor (same GROUP BY, serial), and hash-table memory.
Q_SUM="SELECT count(*) FROM (SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-12-31') s
  FROM b.orders GROUP BY 1) x WHERE NOT (s IS NULL)"
sa=$(best_ms 0 "$Q_FLOOR"); ss=$(best_ms 0 "$Q_SUM")
printf '\nsummary aggregate alone, serial: %.0f ms (floor %.0f ms, ratio %.2f)\n' "$ss" "$sa" "$(echo "$ss / $sa" | bc -l)"
mem() {   # with work_mem 4GB, so the hash table holds every customer
    psql -X -q -A -t -c "SET max_parallel_workers_per_gather = 0" -c "SET enable_sort = off" -c "SET work_mem = '4GB'" \
         -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) $1" | sed -n 's/.*Memory Usage: \([0-9]*\)kB.*/\1/p' | head -1
}
customers=$(psql -X -q -A -t -c "SELECT count(DISTINCT customer_id) FROM b.orders")
mf=$(mem "SELECT customer_id, min(ordered_at), max(ordered_at), count(*), sum(amount) FROM b.orders GROUP BY 1")
ms=$(mem "SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-12-31') FROM b.orders GROUP BY 1")
printf 'hash aggregate memory: floor %s kB (%.0f B/customer), rfm_summary %s kB (%.0f B/customer)\n' \
    "$mf" "$(echo "$mf * 1024 / $customers" | bc -l)" "$ms" "$(echo "$ms * 1024 / $customers" | bc -l)"

# Bounded state: 1,000 customers buying over the same three years, with 10 and with 1,000 orders each.
for n in 10 1000; do
    m=$(mem "SELECT c, customer_segment.rfm_summary(DATE '2023-01-01' + (i * 7919 % 1095), 1.0, DATE '2025-12-31')
               FROM generate_series(1, 1000) c, generate_series(1, $n) i GROUP BY c")
    printf 'rfm_summary state, 1000 customers x %4d orders over 3 years: %s kB hash table\n' "$n" "$m"
done

#!/usr/bin/env bash
# The two RFM ratios (issue #31, which replaced #13's), measured in one run on one server, serial, at PostgreSQL's default
# work_mem (4MB), for each sample-store size given (default: 200,000 and 1,000,000 customers):
#   floor  GROUP BY customer with min/max/count/sum, every column consumed;
#   plain  hand-written SQL computing the *same* segments as rfm_analyze: percentile_disc breakpoints,
#          value > q scores (recency: fewer days is better), the standard rule set as a CASE map in
#          priority order, segment counts;
#   ext    rfm_analyze, segment counts.
# Prints ext/floor (target: at most 1.5) and plain/ext (target: at least 1.25), best of REPS runs, and
# checks that plain and ext give identical segment counts.
# Usage: bash test/bench/rfm_ratios.sh [customers ...]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

SIZES=${*:-200000 1000000}
REPS=${REPS:-3}
cs_ensure_packages $CS_BUILD_PACKAGES bc
cs_build_install
cs_start_cluster
cs_restart_with "shared_buffers = '4GB'" "jit = off" "max_parallel_workers_per_gather = 0" "TimeZone = 'UTC'"
psql -X -q -c "CREATE EXTENSION customer_segment"
CASE_MAP=$(psql -X -A -t -c "SELECT 'CASE ' || string_agg(format('WHEN r BETWEEN %s AND %s AND f BETWEEN %s AND %s AND m BETWEEN %s AND %s THEN %L',
    r_min, r_max, f_min, f_max, m_min, m_max, segment), ' ' ORDER BY priority) || ' END'
  FROM customer_segment.rfm_segment_rules WHERE rule_set = 'standard' AND enabled")

best_ms() {
    local best="" t
    for _ in $(seq "$REPS"); do
        t=$(psql -X -q -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    echo "$best"
}

printf '| customers | orders | floor | plain SQL | rfm_analyze | rfm_analyze / floor | plain / rfm_analyze | same segments |\n|---|---|---|---|---|---|---|---|\n'
for n in $SIZES; do
    s="b$n"
    psql -X -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA $s" -c "SELECT * FROM customer_segment.create_sample_store('$s', $n, 1)" \
         -c "VACUUM ANALYZE $s.orders" >/dev/null
    orders=$(psql -X -A -t -c "SELECT count(*) FROM $s.orders")
    Q_FLOOR="SELECT count(*) FROM (SELECT customer_id, min(ordered_at) mn, max(ordered_at) mx, count(*) n, sum(amount) a
      FROM $s.orders GROUP BY 1) x WHERE mn IS NOT NULL AND mx IS NOT NULL AND n > 0 AND a IS NOT NULL"
    Q_PLAIN="WITH s AS (
        SELECT customer_id, DATE '2025-12-31' - max(ordered_at::date) FILTER (WHERE amount >= 0) AS recency_days,
               count(*) FILTER (WHERE amount >= 0) AS orders, sum(amount)::float8 AS monetary_total
          FROM $s.orders WHERE ordered_at::date <= DATE '2025-12-31' GROUP BY customer_id
    ), q AS (
        SELECT percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY recency_days) AS r,
               percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY orders) AS f,
               percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY monetary_total) AS m
          FROM s WHERE orders > 0
    ), scored AS (
        SELECT 5 - (q.r[1] < recency_days)::int - (q.r[2] < recency_days)::int - (q.r[3] < recency_days)::int - (q.r[4] < recency_days)::int AS r,
               1 + (q.f[1] < orders)::int + (q.f[2] < orders)::int + (q.f[3] < orders)::int + (q.f[4] < orders)::int AS f,
               1 + (q.m[1] < monetary_total)::int + (q.m[2] < monetary_total)::int + (q.m[3] < monetary_total)::int
                 + (q.m[4] < monetary_total)::int AS m
          FROM s, q WHERE orders > 0
    )
    SELECT string_agg(segment || ':' || n, ',' ORDER BY segment) FROM (
        SELECT $CASE_MAP AS segment, count(*) AS n FROM scored GROUP BY 1) x"
    Q_EXT="SELECT string_agg(segment || ':' || n, ',' ORDER BY segment) FROM (
        SELECT segment, count(*) AS n FROM customer_segment.rfm_analyze('$s.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31')
         WHERE orders > 0 GROUP BY 1) x"
    same=$([ "$(psql -X -A -t -c "$Q_PLAIN")" = "$(psql -X -A -t -c "$Q_EXT")" ] && echo yes || echo NO)
    a=$(best_ms "$Q_FLOOR"); b=$(best_ms "$Q_PLAIN"); c=$(best_ms "$Q_EXT")
    printf '| %s | %s | %.2f s | %.2f s | %.2f s | %.2f | %.2f | %s |\n' "$n" "$orders" "$(echo "$a / 1000" | bc -l)" \
        "$(echo "$b / 1000" | bc -l)" "$(echo "$c / 1000" | bc -l)" "$(echo "$c / $a" | bc -l)" "$(echo "$b / $c" | bc -l)" "$same"
done

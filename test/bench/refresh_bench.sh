#!/usr/bin/env bash
# Refresh against the bare scan of the orders (issue #31), in one run on one server, serial, at PostgreSQL's
# default work_mem (4MB), for each sample-store size given (default: 200,000 and 1,000,000 customers).
# Two sources over the same orders with the defaults (BG/NBD + Gamma-Gamma predictions, no history): "full"
# refreshes from all orders, "inc" incrementally (change column order_id).  Each round adds 1% new orders
# (late orders up to two years back, refunds, new customers), then times, side by side:
#   floor  GROUP BY customer with min/max/count/sum, every output used;
#   full   refresh of the full source;
#   inc    refresh of the incremental source, while a reader queries its customers and segments views in a
#          loop and records its longest query.
# Prints the median of ROUNDS rounds (default 3) of each, the ratios to the floor, the rows that differ
# between the two sources' helper views after the last round, the reader's longest query, and what reading
# every row of the customers view right after the last refresh costs against a fresh table of the same rows.
# Usage: bash test/bench/refresh_bench.sh [customers ...]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

SIZES=${*:-200000 1000000}
ROUNDS=${ROUNDS:-3}
cs_ensure_packages $CS_BUILD_PACKAGES bc
cs_build_install
cs_start_cluster
cs_restart_with "shared_buffers = '4GB'" "jit = off" "max_parallel_workers_per_gather = 0" "TimeZone = 'UTC'"
psql -X -q -c "CREATE EXTENSION customer_segment"

ms() { psql -X -q -v ON_ERROR_STOP=1 -c '\timing on' -c "$1" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
ratio() { echo "scale=2; $1 / $2" | bc; }

printf '| customers | orders | floor s | full s | incremental s | full / floor | incremental / floor | rows that differ | reader longest s | read view / read table |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for n in $SIZES; do
    s="b$n"
    psql -X -q -v ON_ERROR_STOP=1 -c "CREATE SCHEMA $s" -c "SELECT * FROM customer_segment.create_sample_store('$s', $n, 1)" \
         -c "VACUUM ANALYZE $s.orders" >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT count(*) FROM customer_segment.register_source('${s}_full', '$s.orders', 'customer_id', 'ordered_at', 'amount',
    as_of => DATE '2026-01-31', time_zone => 'UTC');
SELECT count(*) FROM customer_segment.register_source('${s}_inc', '$s.orders', 'customer_id', 'ordered_at', 'amount',
    as_of => DATE '2026-01-31', time_zone => 'UTC');
SELECT customer_segment.set_source_change_column('${s}_inc', 'order_id');
SELECT customer_segment.refresh('${s}_full'), customer_segment.refresh('${s}_inc');
SQL
    floor=(); full=(); inc=(); longest=0
    for r in $(seq "$ROUNDS"); do
        psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO $s.orders
SELECT m.top + g,
       CASE WHEN g % 10 = 0 THEN 10 * $n + $r * $n + g ELSE 1 + (g * 7919 + $r) % $n END,
       TIMESTAMPTZ '2024-01-01 10:00+00' + ((g * 37 + $r) % 760) * interval '1 day',
       CASE WHEN g % 9 = 0 THEN -(g % 60) ELSE 5 + g % 250 END
  FROM (SELECT max(order_id) AS top, count(*) / 100 AS new FROM $s.orders) m, generate_series(1, m.new) g;
VACUUM ANALYZE $s.orders;
SQL
        floor+=("$(ms "SELECT count(*) FROM (SELECT customer_id, min(ordered_at) mn, max(ordered_at) mx, count(*) n, sum(amount) a
                       FROM $s.orders GROUP BY 1) x WHERE (mn, mx, n, a) IS NOT NULL")")
        full+=("$(ms "SELECT customer_segment.refresh('${s}_full')")")
        # the reader: until the refresh is done, the longest of its queries (ms)
        ( best=0; while [ ! -e "$CS_TMP/done" ]; do
              t=$(ms "SELECT count(*), sum(clv_12m) FROM $s.${s}_inc_customers WHERE segment IN (SELECT segment FROM $s.${s}_inc_segments)")
              if [ "$(echo "$t > $best" | bc)" = 1 ]; then best=$t; fi
          done; echo "$best" > "$CS_TMP/reader" ) &
        reader=$!
        inc+=("$(ms "SELECT customer_segment.refresh('${s}_inc')")")
        touch "$CS_TMP/done"; wait "$reader"; rm -f "$CS_TMP/done"
        t=$(cat "$CS_TMP/reader")
        if [ "$(echo "$t > $longest" | bc)" = 1 ]; then longest=$t; fi
    done
    status=$(psql -X -A -t -c "SELECT string_agg(DISTINCT status, ',') FROM customer_segment.refresh_log WHERE source LIKE '${s}%'")
    [ "$status" = ok ] || { echo "a refresh failed: $(psql -X -A -t -c "SELECT error FROM customer_segment.refresh_log WHERE status <> 'ok' LIMIT 1")"; exit 1; }
    # Rows of the two sources' helper views that differ; the prediction columns compared within the fits'
    # convergence tolerance (the two fits see the same summaries, but may stop at different iterations).
    diff=$(psql -X -A -t -c "
      WITH a AS (SELECT * FROM $s.${s}_full_customers), b AS (SELECT * FROM $s.${s}_inc_customers)
      SELECT (SELECT count(*) FROM a FULL JOIN b USING (customer_id)
               WHERE a IS NULL OR b IS NULL
                  OR (a.first_purchase, a.last_purchase, a.orders, a.purchase_days, a.refunds_count, a.recency_days, a.tenure_days,
                      a.revenue, a.refunds, a.frequency, a.recency, a.t, a.r_score, a.f_score, a.m_score, a.segment, a.lifecycle_stage,
                      a.quadrant, a.tier, a.as_of)
                     IS DISTINCT FROM
                     (b.first_purchase, b.last_purchase, b.orders, b.purchase_days, b.refunds_count, b.recency_days, b.tenure_days,
                      b.revenue, b.refunds, b.frequency, b.recency, b.t, b.r_score, b.f_score, b.m_score, b.segment, b.lifecycle_stage,
                      b.quadrant, b.tier, b.as_of)
                  OR abs(a.monetary_total - b.monetary_total) > 1e-6 * greatest(1, abs(a.monetary_total))
                  OR abs(a.p_alive - b.p_alive) > 1e-6 OR abs(a.clv_12m - b.clv_12m) > 1e-4 * greatest(1, abs(a.clv_12m)))
           + (SELECT count(*) FROM (SELECT * FROM $s.${s}_full_segments EXCEPT ALL SELECT * FROM $s.${s}_inc_segments) x)
           + (SELECT count(*) FROM (SELECT * FROM $s.${s}_full_rf_grid EXCEPT ALL SELECT * FROM $s.${s}_inc_rf_grid) x)
           + (SELECT count(*) FROM (SELECT * FROM $s.${s}_full_lifecycle EXCEPT ALL SELECT * FROM $s.${s}_inc_lifecycle) x)
           + (SELECT count(*) FROM (SELECT * FROM $s.${s}_full_tiers EXCEPT ALL SELECT * FROM $s.${s}_inc_tiers) x)
           + (SELECT count(*) FROM (SELECT * FROM $s.${s}_full_cohorts EXCEPT ALL SELECT * FROM $s.${s}_inc_cohorts) x)")
    # Every row of the customers view read (each column formatted, as a client gets it), against a table of
    # the same rows written once; the view's table still holds the previous refresh's rows, dead.
    psql -X -q -c "CREATE TABLE $s.copy AS SELECT * FROM $s.${s}_full_customers" -c "VACUUM ANALYZE $s.copy"
    read_view=(); read_copy=()
    for _ in 1 2 3; do
        read_view+=("$(ms "SELECT sum(length(x::text)) FROM $s.${s}_full_customers x")")
        read_copy+=("$(ms "SELECT sum(length(x::text)) FROM $s.copy x")")
    done
    orders=$(psql -X -A -t -c "SELECT count(*) FROM $s.orders")
    f=$(median "${floor[@]}"); u=$(median "${full[@]}"); i=$(median "${inc[@]}")
    printf '| %s | %s | %.2f | %.2f | %.2f | %s | %s | %s | %.3f | %s |\n' "$n" "$orders" "$(ratio "$f" 1000)" "$(ratio "$u" 1000)" \
        "$(ratio "$i" 1000)" "$(ratio "$u" "$f")" "$(ratio "$i" "$f")" "$diff" "$(ratio "$longest" 1000)" \
        "$(ratio "$(median "${read_view[@]}")" "$(median "${read_copy[@]}")")"
    psql -X -q -c "SELECT customer_segment.unregister_source('${s}_full'), customer_segment.unregister_source('${s}_inc')" \
         -c "DROP SCHEMA $s CASCADE" >/dev/null
done

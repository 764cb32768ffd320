#!/usr/bin/env bash
# Covariate fits against the plain fits, in one run: BG/NBD, Pareto/NBD and Gamma-Gamma on the calibration
# summaries of N customers of the sample store (default 1M), plain and with covariates (the channel as two
# dummies on every process; then also the signup month, standardised, as a third, many-valued covariate).
# Prints each fit's time, iterations and distinct rows, and its ratio to the plain BG/NBD fit of the same run
# (the issue's target: each new fit within 2x of it).
# Usage: bash test/bench/covariates_bench.sh [customers]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

CUSTOMERS=${1:-1000000}
cs_ensure_packages $CS_BUILD_PACKAGES
cs_build_install
cs_start_cluster
cs_restart_with "shared_buffers = '2GB'" "work_mem = '2GB'" "jit = off"

cs_log "generating $CUSTOMERS customers and their calibration summaries with covariates"
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION customer_segment;
CREATE SCHEMA b;
SELECT customers_created, orders_created FROM customer_segment.create_sample_store('b', $CUSTOMERS, 1);
CREATE TABLE b.cal AS
SELECT s.customer_id, s.frequency::float8 AS frequency, s.recency, s.t, s.monetary_value,
       ARRAY[(c.channel = 'web')::int, (c.channel = 'app')::int]::float8[] AS channel,
       ARRAY[(c.channel = 'web')::int, (c.channel = 'app')::int,
             (extract(epoch FROM date_trunc('month', c.signup_date)) / 86400 - 19000) / 365]::float8[] AS channel_month
  FROM (SELECT customer_id, (customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'week', 'UTC')).*
          FROM b.orders GROUP BY 1) s JOIN b.customers c USING (customer_id)
 WHERE s.orders > 0;
VACUUM ANALYZE b.cal;
SQL

# Each fit runs in its own statement; the time is the statement's (scan, transition, fit).
run() {
    local label=$1 sql=$2
    local t0 t1
    t0=$(date +%s.%N)
    local out
    out=$(PGOPTIONS="-c max_parallel_workers_per_gather=0 -c client_min_messages=warning" psql -X -At -F ' ' -c "$sql")
    t1=$(date +%s.%N)
    printf '%s %s %s\n' "$label" "$(echo "$t1 - $t0" | bc)" "$out"
}
{
    run bgnbd_plain "SELECT (m).iterations, (m).distinct_rows FROM (SELECT customer_segment.bgnbd_fit(frequency, recency, t) m FROM b.cal) x"
    run bgnbd_channel "SELECT (m).iterations, (m).distinct_rows FROM (SELECT customer_segment.bgnbd_covariate_fit(frequency, recency, t, channel, channel) m FROM b.cal) x"
    run bgnbd_channel_month "SELECT (m).iterations, (m).distinct_rows FROM (SELECT customer_segment.bgnbd_covariate_fit(frequency, recency, t, channel_month, channel_month) m FROM b.cal) x"
    run pareto_nbd_plain "SELECT (m).iterations, (m).distinct_rows FROM (SELECT customer_segment.pareto_nbd_fit(frequency, recency, t) m FROM b.cal) x"
    run pareto_nbd_channel "SELECT (m).iterations, (m).distinct_rows FROM (SELECT customer_segment.pareto_nbd_covariate_fit(frequency, recency, t, channel, channel) m FROM b.cal) x"
    run gamma_gamma_plain "SELECT (m).iterations, (m).distinct_rows FROM (SELECT customer_segment.gamma_gamma_fit(frequency, monetary_value) m FROM b.cal WHERE frequency = 0 OR monetary_value > 0) x"
    run gamma_gamma_channel "SELECT (m).iterations, (m).distinct_rows FROM (SELECT customer_segment.gamma_gamma_covariate_fit(frequency, monetary_value, channel) m FROM b.cal WHERE frequency = 0 OR monetary_value > 0) x"
    run gamma_gamma_channel_month "SELECT (m).iterations, (m).distinct_rows FROM (SELECT customer_segment.gamma_gamma_covariate_fit(frequency, monetary_value, channel_month) m FROM b.cal WHERE frequency = 0 OR monetary_value > 0) x"
} > "$CS_TMP/times"
customers=$(psql -X -At -c "SELECT count(*) FROM b.cal")
echo "== $customers calibration customers (of $CUSTOMERS), serial; ratio = time / plain BG/NBD fit time of this run"
awk 'NR == 1 { base = $2 } { printf "%-26s %7.2f s  %5.2fx  iterations %-4s distinct rows %s\n", $1, $2, $2 / base, $3, $4 }' "$CS_TMP/times"

#!/usr/bin/env bash
# BTYD benchmark: fit BG/NBD, Pareto/NBD and Gamma-Gamma on the summaries of N customers
# (default 1M, from the sample store), then score every customer; prints times,
# iterations, the fit state's size and the scoring rate.
# Usage: bash test/bench/btyd_bench.sh [customers]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

CUSTOMERS=${1:-1000000}
cs_ensure_packages $CS_BUILD_PACKAGES
cs_build_install
cs_start_cluster
cs_restart_with "shared_buffers = '2GB'" "work_mem = '2GB'" "jit = off"

cs_log "generating $CUSTOMERS customers and their calibration summaries"
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION customer_segment;
CREATE SCHEMA b;
SELECT customers_created, orders_created FROM customer_segment.create_sample_store('b', $CUSTOMERS, 1);
CREATE TABLE b.cal AS
SELECT customer_id, (customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'week')).*
  FROM b.orders GROUP BY 1;
DELETE FROM b.cal WHERE orders IS NULL OR orders = 0;
VACUUM ANALYZE b.cal;
SQL

psql -X -q <<'SQL'
\pset footer off
SET max_parallel_workers_per_gather = 0;
\timing on
\echo '== BG/NBD fit, serial'
CREATE TABLE b.model AS SELECT customer_segment.bgnbd_fit(frequency, recency, t) AS bg FROM b.cal;
SELECT (bg).customers, (bg).distinct_rows, pg_size_pretty((bg).distinct_rows * 32) AS state_size,
       (bg).iterations, (bg).converged, round((bg).r::numeric, 4) AS r, round((bg).alpha::numeric, 4) AS alpha,
       round((bg).a::numeric, 4) AS a, round((bg).b::numeric, 4) AS b FROM b.model;
\echo '== Gamma-Gamma fit, serial'
CREATE TABLE b.spend AS SELECT customer_segment.gamma_gamma_fit(frequency, monetary_value) AS gg FROM b.cal
 WHERE frequency = 0 OR monetary_value > 0;
SELECT (gg).customers, (gg).distinct_rows, (gg).iterations, (gg).converged,
       round((gg).p::numeric, 4) AS p, round((gg).q::numeric, 4) AS q, round((gg).gamma::numeric, 4) AS gamma FROM b.spend;
\echo '== Pareto/NBD fit, serial (analytic gradient through 2F1)'
SELECT (m).customers, (m).distinct_rows, (m).iterations, (m).converged, round((m).r::numeric, 4) AS r,
       round((m).alpha::numeric, 4) AS alpha, round((m).s::numeric, 4) AS s, round((m).beta::numeric, 4) AS beta
  FROM (SELECT customer_segment.pareto_nbd_fit(frequency, recency, t) AS m FROM b.cal) f;
\echo '== BG/NBD fit with 2 parallel workers'
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT (customer_segment.bgnbd_fit(frequency, recency, t)).iterations FROM b.cal;
SET max_parallel_workers_per_gather = 0;
\echo '== scoring every customer: P(alive)'
SELECT count(*) FILTER (WHERE customer_segment.bgnbd_p_alive(bg, frequency, recency, t) > 0.5) FROM b.cal, b.model;
\echo '== scoring every customer: expected purchases in 26 weeks'
SELECT round(sum(customer_segment.bgnbd_expected_purchases(bg, 26, frequency, recency, t))) FROM b.cal, b.model;
\echo '== scoring every customer: 12-month CLV with Gamma-Gamma spend'
SELECT round(sum(customer_segment.bgnbd_clv(bg, frequency, recency, t,
           customer_segment.gamma_gamma_expected_spend(gg, frequency, greatest(monetary_value, 0)), 12, 0.01, 4.345, 0.3)))
  FROM b.cal, b.model, b.spend;
\echo '== baseline: reading the same rows with a trivial expression'
SELECT count(*) FILTER (WHERE frequency + recency + t > 0) FROM b.cal;
SQL

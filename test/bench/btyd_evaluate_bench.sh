#!/usr/bin/env bash
# Holdout evaluation and the newer models at scale: on N sample-store customers (default 1M), serial, default
# work_mem: the calibration/holdout split alone, both models evaluated (split, BG/NBD and Pareto/NBD fits,
# per-customer forecasts and probabilities, the metrics: the issue's 15 s target), btyd_evaluate (the same with
# MBG/NBD as a third model), then the BG/NBD, MBG/NBD and Pareto/NBD fits on the split and the
# BG/BB fit on monthly histories, timed in the same run.
# Usage: bash test/bench/btyd_evaluate_bench.sh [customers]
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

CUSTOMERS=${1:-1000000}
cs_ensure_packages $CS_BUILD_PACKAGES
cs_build_install
cs_start_cluster

cs_log "generating $CUSTOMERS customers"
psql -X -q -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION customer_segment;
CREATE SCHEMA b;
SELECT customers_created, orders_created FROM customer_segment.create_sample_store('b', $CUSTOMERS, 1);
VACUUM ANALYZE b.orders;
SQL

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
\pset footer off
SET max_parallel_workers_per_gather = 0;
SET jit = off;
\timing on
\echo '== split only: btyd_holdout, calibration to 2024-12-31, holdout 2025'
CREATE TABLE b.h AS SELECT * FROM customer_segment.btyd_holdout('b.orders', 'customer_id', 'ordered_at', 'amount',
                                                                DATE '2024-12-31', DATE '2025-12-31', zone => 'UTC');
\echo '== both models evaluated (the target of issue 14: under 15 s): split, BG/NBD and Pareto/NBD fits, every forecast and probability, the metrics'
SELECT count(*) AS customers, sum(frequency_holdout) AS actual, round(sum(bgnbd_expected)::numeric, 1) AS bgnbd,
       round(sum(pareto_nbd_expected)::numeric, 1) AS pareto_nbd,
       round(avg(abs(bgnbd_expected - frequency_holdout))::numeric, 3) AS bgnbd_mae,
       round(avg(abs(pareto_nbd_expected - frequency_holdout))::numeric, 3) AS pareto_nbd_mae,
       round(sqrt(avg((bgnbd_expected - frequency_holdout) ^ 2))::numeric, 3) AS bgnbd_rmse,
       round(sqrt(avg((pareto_nbd_expected - frequency_holdout) ^ 2))::numeric, 3) AS pareto_nbd_rmse,
       round(sum(ln(bgnbd_probability))::numeric) AS bgnbd_ll, round(sum(ln(pareto_nbd_probability))::numeric) AS pareto_nbd_ll
  FROM customer_segment.btyd_holdout_predictions('b.orders', 'customer_id', 'ordered_at', 'amount', DATE '2024-12-31', DATE '2025-12-31', zone => 'UTC');
\echo '== btyd_evaluate: split, three fits (MBG/NBD too), forecasts, metrics'
SELECT model, customers, actual_purchases, round(predicted_purchases::numeric, 1) AS predicted, round(mae::numeric, 3) AS mae,
       round(holdout_log_likelihood::numeric) AS holdout_ll, converged
  FROM customer_segment.btyd_evaluate('b.orders', 'customer_id', 'ordered_at', 'amount', DATE '2024-12-31', DATE '2025-12-31', zone => 'UTC');
\echo '== fits on the split: BG/NBD, MBG/NBD, Pareto/NBD'
SELECT (m).iterations, (m).converged FROM (SELECT customer_segment.bgnbd_fit(frequency_cal, recency_cal, t_cal) AS m FROM b.h) x;
SELECT (m).iterations, (m).converged FROM (SELECT customer_segment.mbgnbd_fit(frequency_cal, recency_cal, t_cal) AS m FROM b.h) x;
SELECT (m).iterations, (m).converged FROM (SELECT customer_segment.pareto_nbd_fit(frequency_cal, recency_cal, t_cal) AS m FROM b.h) x;
\echo '== BG/BB: monthly histories (bgbb_summary), then the fit'
CREATE TABLE b.hist AS SELECT * FROM customer_segment.bgbb_summary('b.orders', 'customer_id', 'ordered_at', 'amount',
                                                                  DATE '2025-12-31', 'month', 'UTC');
SELECT (m).iterations, (m).converged, (m).customers, (m).distinct_rows
  FROM (SELECT customer_segment.bgbb_fit(frequency, recency, n_periods) AS m FROM b.hist) x;
SQL

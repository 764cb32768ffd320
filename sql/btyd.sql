\set SHOW_CONTEXT never
-- BG/NBD and Gamma-Gamma: fits, predictions, edge cases and bad input.
-- (Accuracy against scipy, CDNOW and simulated customers is in test/t/btyd.t.)
CREATE TEMP TABLE m AS SELECT ROW(0.243, 4.414, 0.793, 2.426, 0, 0, 0, 0, true)::customer_segment.bgnbd_model AS bg,
                              ROW(6.25, 3.74, 15.44, 0, 0, 0, 0, true)::customer_segment.gamma_gamma_model AS gg;

-- Edge cases: no repeat purchase (alive for sure), recency = T, a very old customer, extreme parameters.
SELECT x, tx, t, round(customer_segment.bgnbd_p_alive(bg, x, tx, t)::numeric, 6) AS p_alive,
       round(customer_segment.bgnbd_expected_purchases(bg, 39, x, tx, t)::numeric, 6) AS expected_39
  FROM m, (VALUES (0, 0, 39), (2, 39, 39), (2, 5, 39), (10, 30, 39), (1, 1, 1e6), (0, 0, 1e6), (50, 0.5, 1)) v(x, tx, t);
SELECT count(*) AS not_finite FROM (
    SELECT customer_segment.bgnbd_p_alive(ROW(r, al, a, b, 0, 0, 0, 0, true), x, tx, t) AS p,
           customer_segment.bgnbd_expected_purchases(ROW(r, al, a, b, 0, 0, 0, 0, true), 52, x, tx, t) AS e
      FROM (VALUES (1e-3, 1e4, 50.0, 1e-3), (50.0, 1e-2, 0.01, 40.0), (1.0, 1.0, 3.0, 1.0)) p(r, al, a, b),
           (VALUES (0, 0, 10), (5, 9.9, 10), (100, 1, 500)) o(x, tx, t)) z
 WHERE NOT (p BETWEEN 0 AND 1) OR e <> e OR e < 0 OR e = 'Infinity';
-- A new customer: expectations grow with the horizon; probabilities of n purchases sum to 1.
SELECT round(customer_segment.bgnbd_expected_purchases_new(bg, 0)::numeric, 6) AS e0,
       round(customer_segment.bgnbd_expected_purchases_new(bg, 39)::numeric, 6) AS e39,
       round(customer_segment.bgnbd_expected_purchases_new(bg, 78)::numeric, 6) AS e78,
       round((SELECT sum(customer_segment.bgnbd_probability_purchases(bg, 39, n)) FROM generate_series(0, 300) n)::numeric, 9) AS total
  FROM m;
-- The conditional P(n purchases in 39 weeks | history) sums to 1 and its mean is the conditional expectation.
SELECT x, tx, t,
       round((SELECT sum(customer_segment.bgnbd_probability_purchases(bg, 39, n, x, tx, t)) FROM generate_series(0, 400) n)::numeric, 9) AS total,
       round((SELECT sum(n * customer_segment.bgnbd_probability_purchases(bg, 39, n, x, tx, t)) FROM generate_series(0, 400) n)::numeric, 9) AS mean,
       round(customer_segment.bgnbd_expected_purchases(bg, 39, x, tx, t)::numeric, 9) AS expected
  FROM m, (VALUES (0, 0, 39), (2, 30.43, 38.86), (2, 5, 39), (10, 30, 39)) v(x, tx, t);
-- Gamma-Gamma: shrinks a customer's mean towards the population mean gamma p / (q - 1).
SELECT round(customer_segment.gamma_gamma_expected_spend(gg, 0, 0)::numeric, 4) AS population,
       round((15.44 * 6.25 / 2.74)::numeric, 4) AS by_hand,
       round(customer_segment.gamma_gamma_expected_spend(gg, 1, 100)::numeric, 4) AS one_purchase_of_100,
       round(customer_segment.gamma_gamma_expected_spend(gg, 20, 100)::numeric, 4) AS twenty_of_100
  FROM m;
-- CLV: one month of 30 days, spend 40, margin 25%, 1% a month = E[X(30)] * 40 * 0.25 / 1.01.
SELECT round(customer_segment.bgnbd_clv(bg, 2, 30, 39, 40, 1, 0.01, 30, 0.25)::numeric, 8) AS one_month,
       round((customer_segment.bgnbd_expected_purchases(bg, 30, 2, 30, 39) * 40 * 0.25 / 1.01)::numeric, 8) AS by_hand,
       round(customer_segment.bgnbd_clv(bg, 2, 30, 39, 40, 0)::numeric, 8) AS zero_months
  FROM m;

-- Fits on the sample store: the state keeps distinct (x, t_x, T) rows only; serial = parallel.
CREATE SCHEMA btyd_store;
SELECT customers_created FROM customer_segment.create_sample_store('btyd_store', 3000, 17);
CREATE TABLE btyd_store.cal AS
SELECT customer_id, (customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'week')).*
  FROM btyd_store.orders GROUP BY 1;
DELETE FROM btyd_store.cal WHERE orders IS NULL OR orders = 0;
ANALYZE btyd_store.cal;
CREATE TABLE btyd_store.hb AS
SELECT * FROM customer_segment.bgbb_summary('btyd_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', 'month', 'UTC');
ANALYZE btyd_store.hb;
CREATE TEMP TABLE serial AS
SELECT customer_segment.bgnbd_fit(frequency, recency, t) AS bg,
       customer_segment.gamma_gamma_fit(frequency, monetary_value) AS gg,
       customer_segment.mbgnbd_fit(frequency, recency, t) AS mb,
       (SELECT customer_segment.bgbb_fit(frequency, recency, n_periods) FROM btyd_store.hb) AS bb FROM btyd_store.cal;
SELECT (bg).customers, (bg).distinct_rows < (bg).customers AS compressed, (bg).converged,
       (gg).customers AS repeat_customers, (gg).converged AS gg_converged FROM serial;
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT customer_segment.bgnbd_fit(frequency, recency, t) FROM btyd_store.cal;
EXPLAIN (COSTS OFF) SELECT customer_segment.bgbb_fit(frequency, recency, n_periods) FROM btyd_store.hb;
SELECT abs((p.bg).r - (s.bg).r) < 1e-9 * (s.bg).r AS same_r,
       abs((p.bg).log_likelihood - (s.bg).log_likelihood) < 1e-9 * abs((s.bg).log_likelihood) AS same_ll,
       abs((p.gg).p - (s.gg).p) < 1e-9 * (s.gg).p AS same_p,
       abs((p.mb).r - (s.mb).r) < 1e-9 * (s.mb).r AS same_mbgnbd_r,
       abs((p.bb).alpha - (s.bb).alpha) < 1e-9 * (s.bb).alpha AS same_bgbb_alpha
  FROM serial s, (SELECT customer_segment.bgnbd_fit(frequency, recency, t) AS bg,
                         customer_segment.gamma_gamma_fit(frequency, monetary_value) AS gg,
                         customer_segment.mbgnbd_fit(frequency, recency, t) AS mb,
                         (SELECT customer_segment.bgbb_fit(frequency, recency, n_periods) FROM btyd_store.hb) AS bb
                    FROM btyd_store.cal) p;
RESET ALL;
SET TimeZone = 'UTC';
-- A penalizer shrinks the parameters.
SELECT (customer_segment.bgnbd_fit(frequency, recency, t, 0.1)).a < (SELECT (bg).a FROM serial) AS penalised_smaller
  FROM btyd_store.cal;

-- One call: fit and score a whole orders table.
SELECT count(*) AS customers,
       count(*) FILTER (WHERE p_alive < 0 OR p_alive > 1) AS bad_p_alive,
       count(*) FILTER (WHERE expected_purchases < 0 OR clv < 0 OR expected_spend <= 0) AS bad_values,
       (SELECT count(*) FROM btyd_store.cal) AS summarised
  FROM customer_segment.btyd_analyze('btyd_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30',
                                     horizon => 26, margin => 0.3);

-- Pareto/NBD: both branches of the likelihood, recency = T (A0 = 0), no repeat purchase; fit serial = parallel.
SELECT a, x, tx, t, round(customer_segment.pareto_nbd_loglik(ROW(0.55, a, 0.61, 11.67, 0, 0, 0, 0, true), x, tx, t)::numeric, 8) AS ll,
       round(customer_segment.pareto_nbd_p_alive(ROW(0.55, a, 0.61, 11.67, 0, 0, 0, 0, true), x, tx, t)::numeric, 6) AS p_alive,
       round(customer_segment.pareto_nbd_expected_purchases(ROW(0.55, a, 0.61, 11.67, 0, 0, 0, 0, true), 39, x, tx, t)::numeric, 6) AS expected
  FROM (VALUES (10.58), (20.0), (3.0)) p(a), (VALUES (0, 0, 39), (2, 39, 39), (2, 5, 39), (10, 30, 39)) o(x, tx, t)
 ORDER BY a, x, tx;
SELECT (m).customers, (m).converged, (m).distinct_rows < (m).customers AS compressed
  FROM (SELECT customer_segment.pareto_nbd_fit(frequency, recency, t) AS m FROM btyd_store.cal) x;
SELECT customer_segment.pareto_nbd_p_alive(ROW(0.55, 0, 0.61, 11.67, 0, 0, 0, 0, true), 1, 1, 2);
SELECT customer_segment.pareto_nbd_expected_purchases(ROW(0.55, 10, 0.61, 11.67, 0, 0, 0, 0, true), 39, 3, 4, 2);
-- 1.1: new-customer expectation, P(X = n) with and without history, CLV; s = 1 is defined.
SELECT round(customer_segment.pareto_nbd_expected_purchases_new(m, 39)::numeric, 8) AS expected_new,
       round(customer_segment.pareto_nbd_probability_purchases(m, 39, 0)::numeric, 8) AS p0_new,
       round(customer_segment.pareto_nbd_probability_purchases(m, 39, 0, 0, 0, 0)::numeric, 8) AS p0_no_history,
       round(customer_segment.pareto_nbd_probability_purchases(m, 39, 2, 2, 30.43, 38.86)::numeric, 8) AS p2,
       customer_segment.pareto_nbd_probability_purchases(m, 0, 0, 2, 30.43, 38.86) AS p0_at_horizon_0,
       round(customer_segment.pareto_nbd_clv(m, 2, 30.43, 38.86, 40, 12, 0.01, 4.345, 0.3)::numeric, 8) AS clv,
       customer_segment.pareto_nbd_clv(m, 2, 30.43, 38.86, 40, 0) AS clv_zero_months
  FROM (SELECT ROW(0.553, 10.578, 0.606, 11.669, 0, 0, 0, 0, true)::customer_segment.pareto_nbd_model AS m) x;
SELECT round(customer_segment.pareto_nbd_expected_purchases(ROW(0.55, 10.6, 1, 11.7, 0, 0, 0, 0, true), 39, 2, 30, 38)::numeric, 8) AS s_is_1;

-- Bad input.
SELECT customer_segment.bgnbd_fit(x, 0, 10) FROM generate_series(1, 5) x;
SELECT customer_segment.bgnbd_fit(0, 0, 10) FROM generate_series(1, 50);
SELECT customer_segment.bgnbd_fit(1.5, 1, 10);
SELECT customer_segment.bgnbd_fit(-1, 1, 10);
SELECT customer_segment.bgnbd_fit(1, 11, 10);
SELECT customer_segment.bgnbd_fit(1, 'NaN', 10);
SELECT customer_segment.bgnbd_fit(1, 1, 10, -0.1);
SELECT customer_segment.bgnbd_fit(NULL, 1, 10) IS NULL AS only_nulls;
SELECT customer_segment.gamma_gamma_fit(2, -5);
SELECT customer_segment.gamma_gamma_fit(0, 5) IS NULL AS no_repeat_customers FROM generate_series(1, 20);
SELECT customer_segment.bgnbd_p_alive(ROW(-1, 4, 0.8, 2.4, 0, 0, 0, 0, true), 1, 1, 2);
SELECT customer_segment.bgnbd_p_alive(ROW('NaN', 4, 0.8, 2.4, 0, 0, 0, 0, true), 1, 1, 2);
SELECT customer_segment.bgnbd_p_alive(ROW(NULL, 4, 0.8, 2.4, 0, 0, 0, 0, true), 1, 1, 2);
SELECT customer_segment.bgnbd_expected_purchases(bg, -1, 1, 1, 2) FROM m;
SELECT customer_segment.bgnbd_expected_purchases(bg, 'Infinity', 1, 1, 2) FROM m;
SELECT customer_segment.bgnbd_probability_purchases(bg, 39, -1) FROM m;
SELECT customer_segment.gamma_gamma_expected_spend(ROW(6, 0.9, 15, 0, 0, 0, 0, true), 1, 10);
SELECT customer_segment.bgnbd_clv(bg, 1, 1, 2, 40, 12, -1) FROM m;
SELECT customer_segment.pareto_nbd_fit(0, 0, 10) FROM generate_series(1, 50);
SELECT customer_segment.pareto_nbd_probability_purchases(ROW(0.55, 10, 0.61, 11.67, 0, 0, 0, 0, true), 39, -1, 2, 3, 4);
SELECT customer_segment.pareto_nbd_probability_purchases(ROW(0.55, 10, 0.61, 11.67, 0, 0, 0, 0, true), 39, 1, 2, 5, 4);
SELECT customer_segment.pareto_nbd_expected_purchases_new(ROW(0.55, 10, 0.61, 11.67, 0, 0, 0, 0, true), 'NaN');
SELECT customer_segment.pareto_nbd_clv(ROW(0.55, 10, 0.61, 11.67, 0, 0, 0, 0, true), 2, 3, 4, 40, 12, 0.01, 0);
DROP SCHEMA btyd_store CASCADE;

-- At a = 1 the closed form of the expectations is 0/0: they take the limit, continuous on both sides.
SELECT a, round(customer_segment.bgnbd_expected_purchases(ROW(0.24, 4.4, a, 2.4, 0, 0, 0, 0, true), 39, 1, 1, 2)::numeric, 10) AS expected,
       round(customer_segment.bgnbd_expected_purchases_new(ROW(0.24, 4.4, a, 2.4, 0, 0, 0, 0, true), 39)::numeric, 10) AS expected_new
  FROM unnest(ARRAY[0.999999999, 1, 1.000000001, 1.01]::float8[]) a ORDER BY a;

-- The purchase models in one list (btyd_models): btyd_analyze, the sources' CHECK (is_source_model),
-- btyd_evaluate (holdout) and the report's names (btyd_model_label) read it.
SELECT * FROM customer_segment.btyd_models();
SELECT x.model, customer_segment.is_source_model(x.model) AS source_model, customer_segment.btyd_model_label(x.model) AS label
  FROM (SELECT m.model FROM customer_segment.btyd_models() m UNION ALL SELECT 'nonesuch') x;
CREATE TEMP TABLE model_orders AS SELECT 1 AS customer_id, DATE '2025-01-01' AS ordered_at, 10.0 AS amount;
SELECT * FROM customer_segment.btyd_analyze('model_orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30',
                                            model => 'nonesuch');

-- The CLV of BG/NBD and MBG/NBD keeps each (frequency, T)'s monthly horizons per call site: customers that share
-- them, two models in one query, again the first: equal to the discounted differences of the expectations in SQL.
WITH m(k, bg, mb) AS (
    VALUES (1, ROW(0.24, 4.4, 0.79, 2.4, 0, 0, 0, 0, true)::customer_segment.bgnbd_model,
               ROW(0.24, 4.4, 0.79, 2.4, 0, 0, 0, 0, true)::customer_segment.mbgnbd_model),
           (2, ROW(0.5, 10, 1.5, 3, 0, 0, 0, 0, true)::customer_segment.bgnbd_model,
               ROW(0.5, 10, 1.5, 3, 0, 0, 0, 0, true)::customer_segment.mbgnbd_model),
           (3, ROW(0.24, 4.4, 0.79, 2.4, 0, 0, 0, 0, true)::customer_segment.bgnbd_model,
               ROW(0.24, 4.4, 0.79, 2.4, 0, 0, 0, 0, true)::customer_segment.mbgnbd_model)
), h(x, tx, tt) AS (
    VALUES (2, 5, 40), (2, 30, 40), (2, 39, 40), (0, 0, 40), (5, 10, 60), (2, 5, 80), (2, 5, 40)
), v AS (
    SELECT customer_segment.bgnbd_clv(m.bg, h.x, h.tx, h.tt, 10, 6, 0.01, 30, 1) AS bg_clv,
           customer_segment.mbgnbd_clv(m.mb, h.x, h.tx, h.tt, 10, 6, 0.01, 30, 1) AS mb_clv,
           (SELECT sum((customer_segment.bgnbd_expected_purchases(m.bg, i * 30, h.x, h.tx, h.tt)
                        - CASE WHEN i > 1 THEN customer_segment.bgnbd_expected_purchases(m.bg, (i - 1) * 30, h.x, h.tx, h.tt) ELSE 0 END)
                       * 10 / 1.01 ^ i) FROM generate_series(1, 6) i) AS bg_sql,
           (SELECT sum((customer_segment.mbgnbd_expected_purchases(m.mb, i * 30, h.x, h.tx, h.tt)
                        - CASE WHEN i > 1 THEN customer_segment.mbgnbd_expected_purchases(m.mb, (i - 1) * 30, h.x, h.tx, h.tt) ELSE 0 END)
                       * 10 / 1.01 ^ i) FROM generate_series(1, 6) i) AS mb_sql
      FROM m CROSS JOIN h ORDER BY m.k
)
SELECT count(*) AS customers, max(abs(bg_clv - bg_sql) / bg_sql) < 1e-12 AS bgnbd_equal,
       max(abs(mb_clv - mb_sql) / mb_sql) < 1e-12 AS mbgnbd_equal
  FROM v;

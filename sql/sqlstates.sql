\set SHOW_CONTEXT never
-- Every kind of bad input fails with a specific SQLSTATE (the other suites show the messages).
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
CREATE TEMP TABLE o AS SELECT 1 AS c, DATE '2025-01-01' AS d, 10.0 AS a;
CREATE TEMP TABLE st AS SELECT c::text AS customer_id, customer_segment.rfm_state(d, a) AS state FROM o GROUP BY 1;
SELECT pg_temp.sqlstate_of(q) AS sqlstate, q AS statement FROM (VALUES
    -- rfm_summary
    ($$SELECT customer_segment.rfm_summary(d, a, NULL) FROM o$$),
    ($$SELECT customer_segment.rfm_summary(d, 'NaN'::numeric, DATE '2025-02-01') FROM o$$),
    ($$SELECT customer_segment.rfm_summary(d, 'Infinity'::float8, DATE '2025-02-01') FROM o$$),
    ($$SELECT customer_segment.rfm_summary(DATE 'infinity', a, DATE '2025-02-01') FROM o$$),
    ($$SELECT customer_segment.rfm_summary(d, a, DATE '2025-02-01', 'year', 'day') FROM o$$),
    ($$SELECT customer_segment.rfm_summary(d, a, DATE '2025-02-01', NULL, 'day') FROM o$$),
    -- stored states and incremental refresh
    ($$SELECT customer_segment.rfm_state_summary(state, NULL) FROM st$$),
    ($$SELECT customer_segment.rfm_state_summary(state, DATE '2024-12-31') FROM st$$),
    ($$SELECT customer_segment.rfm_state_activity(state, DATE '2025-02-01', 'year') FROM st$$),
    ($$SELECT count(*) FROM customer_segment.rfm_analyze_states('st', NULL)$$),
    ($$SELECT count(*) FROM customer_segment.rfm_analyze_states('st', DATE '2025-02-01', 101)$$),
    ($$SELECT count(*) FROM customer_segment.rfm_analyze_states('o', DATE '2025-02-01')$$),
    ($$SELECT count(*) FROM customer_segment.cohort_retention_states('st', DATE '2025-02-01', NULL)$$),
    ($$SELECT count(*) FROM customer_segment.cohort_retention_states('st', DATE '2025-02-01', 'fortnight')$$),
    ($$SELECT customer_segment.set_source_change_column('nope', 'order_id')$$),
    -- aggregate states read from text: not base64 (22P02), not a state of that kind (22P03)
    ($$SELECT 'not base64!'::customer_segment.btyd_fit_state$$),
    ($$SELECT 'AAAA'::customer_segment.btyd_fit_state$$),
    ($$SELECT 'AAAA'::customer_segment.kmeans_state$$),
    ($$SELECT 'AAAA'::customer_segment.score_breakpoints_state$$),
    ($$SELECT 'AAAA'::customer_segment.retention_curve_state$$),
    ($$SELECT 'AAAA'::customer_segment.clv_historical_state$$),
    ($$SELECT 'AAAA'::customer_segment.rfm_summary_state$$),
    -- scores
    ($$SELECT customer_segment.score_breakpoints(a, 1) FROM o$$),
    ($$SELECT customer_segment.score_breakpoints(a, NULL) FROM o$$),
    ($$SELECT customer_segment.score('NaN', ARRAY[1, 2])$$),
    ($$SELECT customer_segment.score(1, ARRAY[2, 1])$$),
    ($$SELECT customer_segment.rfm_cell(0, 1, 1)$$),
    ($$SELECT customer_segment.rfm_weighted_score(1, 1, 1, -1, 1, 1)$$),
    ($$SELECT customer_segment.rfm_segment(6, 1, 1)$$),
    ($$SELECT customer_segment.rfm_segment(1, 1, 1, 5, 'nope')$$),
    ($$UPDATE customer_segment.rfm_segment_rules SET priority = 0 WHERE rule_set = 'standard'$$),
    ($$SELECT * FROM customer_segment.rfm_analyze('o', 'nope', 'd', 'a')$$),
    ($$SELECT * FROM customer_segment.rfm_analyze('o', 'c', 'c', 'a')$$),
    ($$SELECT * FROM customer_segment.rfm_analyze('o', 'c', 'd', 'a', NULL)$$),
    ($$SELECT * FROM customer_segment.create_sample_store('pg_catalog', 0)$$),
    ($$SELECT * FROM customer_segment.create_sample_store('pg_catalog', 10, 1, DATE '2025-01-01', 'infinity')$$),
    ($$SELECT * FROM customer_segment.report('nope', NULL)$$),
    ($$SELECT * FROM customer_segment.report('nope', -1)$$),
    ($$SELECT customer_segment.report_html('nope')$$),
    ($$SELECT customer_segment.report_html('nope', NULL)$$),
    ($$SELECT customer_segment.report_html('nope', -1)$$),
    ($$SELECT customer_segment.report_html('nope', 521)$$),
    ($$SELECT customer_segment.rfm_summary(d, 1e308::float8, DATE '2025-02-01') FROM o, generate_series(1, 2)$$),
    -- CLV
    ($$SELECT customer_segment.clv_retention(100, 1.5, 0.1)$$),
    ($$SELECT customer_segment.clv_retention(100, 1, 0)$$),
    ($$SELECT customer_segment.clv_retention(1e308, 1, 0, 10)$$),
    ($$SELECT customer_segment.clv_retention(100, 0.8, 0.1, timing => NULL)$$),
    ($$SELECT customer_segment.period_rate(-1, 'month')$$),
    ($$SELECT customer_segment.clv_historical(d, a, DATE '2025-01-01', -2) FROM o$$),
    ($$SELECT customer_segment.clv_historical(d, a, NULL, 0.1) FROM o$$),
    ($$SELECT customer_segment.retention_curve(B'01')$$),
    ($$SELECT customer_segment.purchase_activity(d, a, DATE '294276-12-31', 'day') FROM o$$),
    ($$SELECT customer_segment.retention_curve(B'1' || repeat('0', 100000)::varbit)$$),
    ($$SELECT customer_segment.clv_historical(DATE '2000-01-01', 1::float8, DATE '2025-01-01', 1e308)$$),
    ($$SELECT customer_segment.clv_historical(d, 1e308::float8, DATE '2025-01-01', 0.1) FROM o, generate_series(1, 2)$$),
    ($$SELECT * FROM customer_segment.cohort_retention('o', 'c', 'd', 'a', period => 'year')$$),
    ($$SELECT * FROM customer_segment.clv_analyze('o', 'c', 'd', 'a', margin_rate => 2)$$),
    -- tiers, quadrants, lifecycle
    ($$SELECT customer_segment.tier_for('nope', 1)$$),
    ($$SELECT customer_segment.tier_for('nope', 'NaN'::numeric)$$),
    ($$SELECT customer_segment.quadrant('NaN', 1, 1, 1)$$),
    ($$SELECT customer_segment.lifecycle_stage(DATE '2025-02-01', DATE '2025-02-01', 1, DATE '2025-01-01')$$),
    ($$SELECT customer_segment.lifecycle_stage(NULL, NULL, 1, DATE '2025-01-01')$$),
    ($$SELECT customer_segment.lifecycle_stage(NULL, NULL, 0, DATE '2025-01-01', churn_days => 0)$$),
    ($$SELECT customer_segment.last_reactivation(B'1', DATE '2025-01-01', 0)$$),
    ($$SELECT customer_segment.last_reactivation(B'101', DATE '5874897-12-31', 1)$$),
    ($$SELECT customer_segment.last_reactivation(B'1' || repeat('0', 3000000)::varbit || B'1', DATE '5874897-01-01', 1)$$),
    ($$SELECT * FROM customer_segment.migration_matrix('o', 'o', state_column => 'nope')$$),
    ($$SELECT * FROM customer_segment.migration_matrix('o', 'o', state_column => 'c', value_column => 'd')$$),
    ($$SELECT customer_segment.number_sql('o', 'd')$$),
    ($$SELECT customer_segment.safe_key_sql('o', 'nope')$$),
    -- BTYD
    ($$SELECT customer_segment.bgnbd_fit(1, 1, 10) FROM generate_series(1, 5)$$),
    ($$SELECT customer_segment.bgnbd_fit(1, 11, 10)$$),
    ($$SELECT customer_segment.bgnbd_fit(1.5, 1, 10)$$),
    ($$SELECT customer_segment.bgnbd_fit(1, 1, 10, -1)$$),
    ($$SELECT customer_segment.gamma_gamma_fit(1, -1)$$),
    ($$SELECT customer_segment.bgnbd_fit(1e308, 1, 10)$$),
    ($$SELECT customer_segment.gamma_gamma_expected_spend(ROW(6.25, 3.74, 15.44, 0, 0, 0, 0, true), 10, 1e308)$$),
    ($$SELECT customer_segment.gamma_gamma_loglik(ROW(6.25, 3.74, 15.44, 0, 0, 0, 0, true), 10, 1e308)$$),
    ($$SELECT customer_segment.bgnbd_p_alive(ROW(-1, 1, 1, 1, 0, 0, 0, 0, true), 1, 1, 2)$$),
    ($$SELECT customer_segment.bgnbd_p_alive(ROW(NULL, 1, 1, 1, 0, 0, 0, 0, true), 1, 1, 2)$$),
    ($$SELECT customer_segment.bgnbd_expected_purchases(ROW(1, 1, 2, 1, 0, 0, 0, 0, true), -1, 1, 1, 2)$$),
    ($$SELECT customer_segment.pareto_nbd_p_alive(ROW(1, 1, 1, 'Infinity', 0, 0, 0, 0, true), 1, 1, 2)$$),
    ($$SELECT customer_segment.gamma_gamma_expected_spend(ROW(1, 0.5, 1, 0, 0, 0, 0, true), 1, 1)$$),
    ($$SELECT customer_segment.bgnbd_clv(ROW(1, 1, 2, 1, 0, 0, 0, 0, true), 1, 1, 2, 10, -1)$$),
    ($$SELECT customer_segment.pareto_nbd_probability_purchases(ROW(1, 1, 1, 1, 0, 0, 0, 0, true), 1, -1)$$),
    ($$SELECT customer_segment.pareto_nbd_expected_purchases_new(ROW(1, 1, 1, 1, 0, 0, 0, 0, true), -1)$$),
    ($$SELECT customer_segment.pareto_nbd_clv(ROW(1, 1, 1, 1, 0, 0, 0, 0, true), 1, 1, 2, 10, 12, -1)$$)
) v(q);

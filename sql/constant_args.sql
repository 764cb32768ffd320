\set SHOW_CONTEXT never
-- Arguments that must be the same on every row of a group are checked on every row (trans) and between
-- partial states (combine): a partitioned table aggregated partition-wise has constant arguments within
-- each partition and different ones between them, so only combine can see the difference.
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
CREATE TABLE pt (part int, d date, a numeric, rate float8, knob text, pen float8, x float8, tx float8, t float8, bins int)
    PARTITION BY LIST (part);
CREATE TABLE pt1 PARTITION OF pt FOR VALUES IN (1);
CREATE TABLE pt2 PARTITION OF pt FOR VALUES IN (2);
INSERT INTO pt SELECT p, DATE '2025-01-01' + g, 10 + g % 7, 0.1 * p, CASE p WHEN 1 THEN 'day' ELSE 'week' END,
                      0.01 * (p - 1), g % 4, CASE WHEN g % 4 = 0 THEN 0 ELSE 1 + g % 9 END, 12, 3 + p
  FROM generate_series(1, 2) p, generate_series(1, 60) g;
SET enable_partitionwise_aggregate = on;
SET max_parallel_workers_per_gather = 0;
-- The plan: one partial aggregate per partition, combined at the top.
EXPLAIN (COSTS OFF) SELECT customer_segment.clv_historical(d, a, DATE '2025-12-31', rate) FROM pt;

SELECT q AS statement, pg_temp.sqlstate_of(q) AS result FROM (VALUES
    -- within a partition the value varies: the transition function sees it
    ($$SELECT customer_segment.clv_historical(d, a, DATE '2025-12-31', rate + (d - DATE '2025-01-01') * 1e-3) FROM pt1$$),
    ($$SELECT customer_segment.clv_historical(d, a, DATE '2025-12-31', 0.1, 1, CASE WHEN d < DATE '2025-02-01' THEN 'annual' ELSE 'continuous' END) FROM pt1$$),
    ($$SELECT customer_segment.clv_historical(d, a, DATE '2025-12-31' + (d - DATE '2025-01-01'), 0.1) FROM pt1$$),
    ($$SELECT customer_segment.rfm_summary(d, a, DATE '2025-12-31', CASE WHEN d < DATE '2025-02-01' THEN 'day' ELSE 'week' END, 'day') FROM pt1$$),
    ($$SELECT customer_segment.rfm_summary(d, a, DATE '2025-12-31', 'day', CASE WHEN d < DATE '2025-02-01' THEN 'day' ELSE 'week' END) FROM pt1$$),
    ($$SELECT customer_segment.bgnbd_fit(x, tx, t, (d - DATE '2025-01-01') * 1e-3) FROM pt1$$),
    ($$SELECT customer_segment.score_breakpoints(x, 3 + (d - DATE '2025-01-01') % 2) FROM pt1$$),
    -- constant within each partition, different between them: combine sees it
    ($$SELECT customer_segment.clv_historical(d, a, DATE '2025-12-31', rate) FROM pt$$),
    ($$SELECT customer_segment.rfm_summary(d, a, DATE '2025-12-31', knob, 'day') FROM pt$$),
    ($$SELECT customer_segment.purchase_activity(d, a, DATE '2025-12-31', knob) FROM pt$$),
    ($$SELECT customer_segment.bgnbd_fit(x, tx, t, pen) FROM pt$$),
    ($$SELECT customer_segment.pareto_nbd_fit(x, tx, t, pen) FROM pt$$),
    ($$SELECT customer_segment.gamma_gamma_fit(x, 10 + tx, pen) FROM pt$$),
    ($$SELECT customer_segment.score_breakpoints(x, bins) FROM pt$$),
    -- the same value on every row, though not a constant of the query, is fine
    ($$SELECT customer_segment.clv_historical(d, a, DATE '2025-12-31', 0.1 * part / part) IS NOT NULL FROM pt$$),
    ($$SELECT customer_segment.rfm_summary(d, a, DATE '2025-12-31', 'day', lower(upper(knob))) IS NOT NULL FROM pt1$$)
) v(q);

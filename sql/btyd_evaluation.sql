\set SHOW_CONTEXT never
-- Bad input to the holdout evaluation, the uncertainty interval, the matrix, the P(alive) history and the
-- source clusters: NULL, non-finite and out-of-range arguments are errors with their SQLSTATE.
CREATE TABLE ev_orders (c int, d date, a numeric);
INSERT INTO ev_orders SELECT g % 50, DATE '2024-01-01' + (g * 7) % 700, 10 + g % 9 FROM generate_series(1, 2000) g;
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.sqlstate_of(q) FROM (VALUES
    ('SELECT count(*) FROM customer_segment.btyd_holdout(''ev_orders'', ''c'', ''d'', ''a'', NULL, DATE ''2025-12-31'')'),
    ('SELECT count(*) FROM customer_segment.btyd_holdout(''ev_orders'', ''c'', ''d'', ''a'', DATE ''2024-12-31'', NULL)'),
    ('SELECT count(*) FROM customer_segment.btyd_holdout(''ev_orders'', ''c'', ''d'', ''a'', DATE ''2024-12-31'', DATE ''2024-06-30'')'),
    ('SELECT count(*) FROM customer_segment.btyd_holdout(''ev_orders'', ''c'', ''d'', ''a'', DATE ''2024-12-31'', ''infinity'')'),
    ('SELECT count(*) FROM customer_segment.btyd_holdout(''ev_orders'', ''c'', ''d'', ''a'', DATE ''2024-12-31'', DATE ''2025-12-31'', NULL)'),
    ('SELECT count(*) FROM customer_segment.btyd_evaluate(''ev_orders'', ''c'', ''d'', ''a'', DATE ''2024-12-31'', DATE ''2025-12-31'', ''year'')'),
    ('SELECT count(*) FROM customer_segment.btyd_tracking(''ev_orders'', ''c'', ''d'', ''a'', DATE ''2024-12-31'', DATE ''2024-12-31'')'),
    ('SELECT count(*) FROM customer_segment.btyd_holdout(''ev_orders'', ''c'', ''missing'', ''a'', DATE ''2024-12-31'', DATE ''2025-12-31'')'),
    ('SELECT count(*) FROM customer_segment.btyd_frequency_recency_matrix(NULL, NULL, NULL, 52)'),
    ('SELECT count(*) FROM customer_segment.btyd_frequency_recency_matrix(NULL, NULL, ''Infinity'', 52)'),
    ('SELECT count(*) FROM customer_segment.btyd_frequency_recency_matrix(NULL, NULL, 104, 52, -1)'),
    ('SELECT count(*) FROM customer_segment.btyd_frequency_recency_matrix(NULL, NULL, 104, 52, 10, 0)'),
    ('SELECT count(*) FROM customer_segment.btyd_p_alive_history(''ev_orders'', ''c'', ''d'', ''a'', NULL, ROW(1, 1, 1, 1, 0, 0, 0, 0, true)::customer_segment.bgnbd_model, DATE ''2025-01-01'')'),
    ('SELECT count(*) FROM customer_segment.btyd_p_alive_history(''ev_orders'', ''c'', ''d'', ''a'', ''1'', ROW(1, 1, 1, 1, 0, 0, 0, 0, true)::customer_segment.bgnbd_model, ''infinity'')'),
    ('SELECT count(*) FROM customer_segment.btyd_analyze(''ev_orders'', ''c'', ''d'', ''a'', DATE ''2024-12-31'', model => NULL)'),
    ('SELECT customer_segment.bgnbd_fit_uncertainty(x, 0, ''NaN'') FROM generate_series(1, 20) x'),
    ('SELECT customer_segment.bgnbd_fit_uncertainty(1, 2, 1) FROM generate_series(1, 20) x'),
    ('SELECT customer_segment.gamma_gamma_fit_uncertainty(x, 10, -1) FROM generate_series(1, 20) x')
) v(q);
-- A NULL model or uncertainty gives NULLs, not an error; a model of an empty group is NULL.
SELECT (customer_segment.bgnbd_expected_purchases_interval(NULL, NULL, 52, 1, 1, 2)).* ;
SELECT customer_segment.bgnbd_fit_uncertainty(x, 0, 10) IS NULL AS empty_is_null FROM generate_series(1, 20) x WHERE false;
-- The frequency x recency grid: frequency 0 only at recency 0; NULL models give NULL columns.
SELECT count(*) AS cells, count(*) FILTER (WHERE frequency = 0) AS zero_frequency_cells, count(bgnbd_p_alive) AS with_model
  FROM customer_segment.btyd_frequency_recency_matrix(NULL, NULL, 104, 52, 10, 8);
DROP TABLE ev_orders;

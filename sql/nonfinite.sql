\set SHOW_CONTEXT never
-- No function returns NaN or +/-Infinity: every call either gives finite numbers or fails with an error
-- (22003 when the result itself overflows).  Each float argument is swept through extreme values, one at a
-- time and all together, with the others at an ordinary value; the table counts calls, errors and
-- non-finite results per function (the last column must be 0).
CREATE TEMP TABLE sweep (fn text, sql text, base float8[]);
INSERT INTO sweep VALUES
    ('rfm_weighted_score', 'SELECT customer_segment.rfm_weighted_score(5, 4, 3, $1[1], $1[2], $1[3])', '{1,1,1}'),
    ('period_rate', 'SELECT customer_segment.period_rate($1[1], ''month'')', '{0.1}'),
    ('clv_retention', 'SELECT customer_segment.clv_retention($1[1], $1[2], $1[3], 10, ''end'', $1[4], $1[5])', '{100,0.8,0.1,0,0}'),
    ('clv_retention infinite', 'SELECT customer_segment.clv_retention($1[1], $1[2], $1[3], NULL, ''start'', $1[4], $1[5])', '{100,0.8,0.1,0,0}'),
    ('clv_historical', 'SELECT customer_segment.clv_historical(d, a * $1[1], DATE ''2025-01-01'', $1[2], $1[3], ''continuous'')
        FROM (VALUES (DATE ''2000-01-01'', 1.0::float8), (DATE ''2024-06-01'', 2.0)) v(d, a)', '{1,0.1,1}'),
    ('rfm_summary', 'SELECT (s).monetary_total + (s).monetary_avg + (s).monetary_value + (s).recency + (s).t
        FROM (SELECT customer_segment.rfm_summary(d, a * $1[1], DATE ''2025-01-01'', ''week'', ''month'') s
                FROM (VALUES (DATE ''2020-01-01'', 1.0::float8), (DATE ''2024-06-01'', 2.0), (DATE ''2024-07-01'', -0.5)) v(d, a)) x', '{1}'),
    ('bgnbd_p_alive', 'SELECT customer_segment.bgnbd_p_alive(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[5], $1[6], $1[7])', '{0.24,4.41,0.79,2.43,2,30,38}'),
    ('bgnbd_expected_purchases', 'SELECT customer_segment.bgnbd_expected_purchases(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[8], $1[5], $1[6], $1[7])', '{0.24,4.41,0.79,2.43,2,30,38,39}'),
    ('bgnbd_expected_purchases_new', 'SELECT customer_segment.bgnbd_expected_purchases_new(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[5])', '{0.24,4.41,0.79,2.43,39}'),
    ('bgnbd_probability_purchases', 'SELECT customer_segment.bgnbd_probability_purchases(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[8], 2, $1[5], $1[6], $1[7])', '{0.24,4.41,0.79,2.43,2,30,38,39}'),
    ('bgnbd_probability_purchases new', 'SELECT customer_segment.bgnbd_probability_purchases(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[5], 3)', '{0.24,4.41,0.79,2.43,39}'),
    ('bgnbd_loglik', 'SELECT customer_segment.bgnbd_loglik(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[5], $1[6], $1[7])', '{0.24,4.41,0.79,2.43,2,30,38}'),
    ('bgnbd_clv', 'SELECT customer_segment.bgnbd_clv(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[5], $1[6], $1[7], $1[8], 12, $1[9], $1[10], $1[11])', '{0.24,4.41,0.79,2.43,2,30,38,40,0.01,4.345,1}'),
    ('pareto_nbd_p_alive', 'SELECT customer_segment.pareto_nbd_p_alive(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[5], $1[6], $1[7])', '{0.55,10.6,0.61,11.7,2,30,38}'),
    ('pareto_nbd_expected_purchases', 'SELECT customer_segment.pareto_nbd_expected_purchases(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[8], $1[5], $1[6], $1[7])', '{0.55,10.6,0.61,11.7,2,30,38,39}'),
    ('pareto_nbd_expected_purchases_new', 'SELECT customer_segment.pareto_nbd_expected_purchases_new(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[5])', '{0.55,10.6,0.61,11.7,39}'),
    ('pareto_nbd_probability_purchases', 'SELECT customer_segment.pareto_nbd_probability_purchases(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[8], 1, $1[5], $1[6], $1[7])', '{0.55,10.6,0.61,11.7,2,30,38,39}'),
    ('pareto_nbd_loglik', 'SELECT customer_segment.pareto_nbd_loglik(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[5], $1[6], $1[7])', '{0.55,10.6,0.61,11.7,2,30,38}'),
    ('pareto_nbd_clv', 'SELECT customer_segment.pareto_nbd_clv(ROW($1[1], $1[2], $1[3], $1[4], 0, 0, 0, 0, true), $1[5], $1[6], $1[7], $1[8], 12, $1[9], $1[10], $1[11])', '{0.55,10.6,0.61,11.7,2,30,38,40,0.01,4.345,1}'),
    ('gamma_gamma_expected_spend', 'SELECT customer_segment.gamma_gamma_expected_spend(ROW($1[1], $1[2], $1[3], 0, 0, 0, 0, true), $1[4], $1[5])', '{6.25,3.74,15.44,3,35}'),
    ('gamma_gamma_loglik', 'SELECT customer_segment.gamma_gamma_loglik(ROW($1[1], $1[2], $1[3], 0, 0, 0, 0, true), $1[4], $1[5])', '{6.25,3.74,15.44,3,35}'),
    ('quadrant', 'SELECT length(customer_segment.quadrant($1[1], $1[2], $1[3], $1[4]))::float8', '{1,2,1,1}');
CREATE TEMP TABLE extremes AS
    SELECT unnest('{0,-0,1e-308,1e-300,1e-12,0.5,1,1.0000000001,3,1e6,1e12,1e100,1e300,1e308,-1,-1e308,NaN,Infinity,-Infinity}'::float8[]) AS x;
CREATE FUNCTION pg_temp.run(q text, args float8[], OUT ok boolean, OUT finite boolean) LANGUAGE plpgsql AS $$
DECLARE
    r float8;
BEGIN
    EXECUTE q INTO r USING args;
    ok := true;
    finite := r IS NULL OR (r = r AND r <> 'Infinity' AND r <> '-Infinity');
EXCEPTION WHEN OTHERS THEN
    ok := false;
    finite := true;
END
$$;
CREATE TEMP TABLE results AS
SELECT s.fn, c.args, (pg_temp.run(s.sql, c.args)).*
  FROM sweep s,
       LATERAL (SELECT (SELECT array_agg(CASE WHEN j = i THEN e.x ELSE s.base[j] END ORDER BY j)
                          FROM generate_subscripts(s.base, 1) j) AS args
                  FROM generate_subscripts(s.base, 1) i, extremes e
                UNION ALL
                SELECT array_fill(e.x, ARRAY[cardinality(s.base)]) FROM extremes e) c;
SELECT fn, count(*) AS calls, count(*) FILTER (WHERE ok) AS answered, count(*) FILTER (WHERE NOT finite) AS non_finite
  FROM results GROUP BY fn ORDER BY fn;
-- The calls that gave a non-finite number, if any.
SELECT fn, args FROM results WHERE NOT finite ORDER BY fn, args::text;

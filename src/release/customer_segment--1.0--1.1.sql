-- customer_segment 1.0 -> 1.1: Pareto/NBD predictions on a par with BG/NBD.
-- A fresh CREATE EXTENSION runs the 1.0 script and then this one, so every
-- installation of 1.1 has the same objects, however it got there.
\echo Use "ALTER EXTENSION customer_segment UPDATE TO '1.1'" to load this file. \quit

CREATE FUNCTION customer_segment.pareto_nbd_expected_purchases_new(model customer_segment.pareto_nbd_model, horizon float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_expected_purchases_new(customer_segment.pareto_nbd_model, float8) IS
    'Expected repeat purchases in horizon time units of a newly acquired customer: r beta / (alpha (s-1)) (1 - (beta/(beta+t))^(s-1)); r beta/alpha log(1 + t/beta) at s = 1';

CREATE FUNCTION customer_segment.pareto_nbd_probability_purchases(model customer_segment.pareto_nbd_model,
    horizon float8, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_probability_purchases(customer_segment.pareto_nbd_model, float8, bigint) IS
    'P(X(horizon) = n): probability a newly acquired customer makes exactly n repeat purchases in horizon time units';

CREATE FUNCTION customer_segment.pareto_nbd_probability_purchases(model customer_segment.pareto_nbd_model,
    horizon float8, n bigint, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_probability_purchases(customer_segment.pareto_nbd_model, float8, bigint, float8, float8, float8) IS
    'P(n purchases in the next horizon units | frequency, recency, T) under the Pareto/NBD model (Fader & Hardie, note 028, eq. 16)';

CREATE FUNCTION customer_segment.pareto_nbd_clv(model customer_segment.pareto_nbd_model, frequency float8,
    recency float8, t float8, spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_clv(customer_segment.pareto_nbd_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months under Pareto/NBD: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month';

-- 1.1 defines the expectation at s = 1 too (its limit, log(1 + t / (beta + T))).
COMMENT ON FUNCTION customer_segment.pareto_nbd_expected_purchases(customer_segment.pareto_nbd_model, float8, float8, float8, float8) IS
    'Pareto/NBD expected purchases in the next horizon time units: (r+x)(beta+T)/((alpha+T)(s-1)) (1 - ((beta+T)/(beta+T+t))^(s-1)) P(alive); log((beta+T+t)/(beta+T)) replaces the bracket over s-1 at s = 1';

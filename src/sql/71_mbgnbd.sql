-- MBG/NBD (Batislam, Denizel & Filiztekin 2007): the BG/NBD in which a customer may also drop out right after
-- the first purchase, so one with x repeat purchases has had x + 1 dropout chances (doc/btyd.md).  The same
-- inputs, state and fitting as bgnbd_fit; the model type has the same fields.  mbgnbd_fit_uncertainty is with
-- the other uncertainty aggregates (72_btyd_evaluation.sql).

CREATE TYPE customer_segment.mbgnbd_model AS (
    r float8, alpha float8, a float8, b float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.mbgnbd_model IS
    'Fitted MBG/NBD model: purchase rate ~ Gamma(r, alpha), dropout probability at the first purchase and after each repeat purchase ~ Beta(a, b); '
    'alpha in the time unit of recency and T';
CREATE FUNCTION customer_segment.mbgnbd_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.mbgnbd_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.mbgnbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.mbgnbd_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.mbgnbd_fit(frequency float8, recency float8, t float8) IS
    'Maximum-likelihood MBG/NBD fit over per-customer (frequency, recency, T), optionally with an L2 penalty penalizer * sum(params^2); state holds weighted distinct triples';
CREATE AGGREGATE customer_segment.mbgnbd_fit(frequency float8, recency float8, t float8, penalizer float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.mbgnbd_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.mbgnbd_fit(frequency float8, recency float8, t float8, penalizer float8) IS
    'Maximum-likelihood MBG/NBD fit over per-customer (frequency, recency, T), optionally with an L2 penalty penalizer * sum(params^2); state holds weighted distinct triples';

CREATE FUNCTION customer_segment.mbgnbd_p_alive(model customer_segment.mbgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_p_alive(customer_segment.mbgnbd_model, float8, float8, float8) IS
    'MBG/NBD probability the customer is still alive: 1 / (1 + a / (b + x) ((alpha + T) / (alpha + t_x))^(r + x)), below 1 also at x = 0';
CREATE FUNCTION customer_segment.mbgnbd_expected_purchases(model customer_segment.mbgnbd_model, horizon float8,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_expected_purchases(customer_segment.mbgnbd_model, float8, float8, float8, float8) IS
    'MBG/NBD expected purchases in the next horizon units given (frequency, recency, T): '
    '(a + b + x) / (a - 1) (1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x + 1; a + b + x; t / (alpha + T + t))) P(alive)';
CREATE FUNCTION customer_segment.mbgnbd_expected_purchases_new(model customer_segment.mbgnbd_model, horizon float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_expected_purchases_new(customer_segment.mbgnbd_model, float8) IS
    'MBG/NBD expected repeat purchases in horizon units of a newly acquired customer: b / (a - 1) (1 - (alpha / (alpha + t))^r 2F1(r, b + 1; a + b; t / (alpha + t)))';
CREATE FUNCTION customer_segment.mbgnbd_probability_purchases(model customer_segment.mbgnbd_model, horizon float8, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_probability_purchases(customer_segment.mbgnbd_model, float8, bigint) IS
    'MBG/NBD P(X(horizon) = n) for a newly acquired customer (who may drop out right after the first purchase)';
CREATE FUNCTION customer_segment.mbgnbd_probability_purchases(model customer_segment.mbgnbd_model, horizon float8, n bigint,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_probability_purchases(customer_segment.mbgnbd_model, float8, bigint, float8, float8, float8) IS
    'MBG/NBD P(n purchases in the next horizon units | frequency, recency, T) = [n = 0] (1 - P(alive)) + P(alive) * BG/NBD P_new(n) under the posterior (r + x, alpha + T, a, b + x + 1)';
CREATE FUNCTION customer_segment.mbgnbd_loglik(model customer_segment.mbgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_loglik(customer_segment.mbgnbd_model, float8, float8, float8) IS
    'Log-likelihood of one customer under the MBG/NBD model';
CREATE FUNCTION customer_segment.mbgnbd_clv(model customer_segment.mbgnbd_model, frequency float8, recency float8, t float8,
    spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_clv(customer_segment.mbgnbd_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months under MBG/NBD: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month';

-- btyd_predict for an MBG/NBD model: the same columns, the spend from btyd_predict's Gamma-Gamma rule.
CREATE FUNCTION customer_segment.btyd_predict_mbgnbd(mb customer_segment.mbgnbd_model, gg customer_segment.gamma_gamma_model,
    frequency float8, recency float8, t float8, monetary_value float8, horizon float8, months integer DEFAULT 12,
    monthly_discount float8 DEFAULT 0.01, periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS TABLE (p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT customer_segment.mbgnbd_p_alive(mb, frequency, recency, t),
           customer_segment.mbgnbd_expected_purchases(mb, horizon, frequency, recency, t),
           p.expected_spend,
           customer_segment.mbgnbd_clv(mb, frequency, recency, t, p.expected_spend, months, monthly_discount, periods_per_month, margin)
      FROM customer_segment.btyd_predict(NULL, NULL, gg, frequency, recency, t, monetary_value, horizon, months,
                                         monthly_discount, periods_per_month, margin) p;
END;
COMMENT ON FUNCTION customer_segment.btyd_predict_mbgnbd(customer_segment.mbgnbd_model, customer_segment.gamma_gamma_model, float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'P(alive), expected purchases in horizon, expected spend (Gamma-Gamma, as btyd_predict) and CLV of one customer from an MBG/NBD model; NULLs for NULL models';

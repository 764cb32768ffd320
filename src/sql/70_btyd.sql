-- "Buy till you die": BG/NBD and Gamma-Gamma fitted as aggregates, predictions per customer.

CREATE TYPE customer_segment.bgnbd_model AS (
    r float8, alpha float8, a float8, b float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.bgnbd_model IS
    'Fitted BG/NBD model: purchase rate ~ Gamma(r, alpha), dropout probability ~ Beta(a, b); alpha in the time unit of recency and T';
CREATE TYPE customer_segment.pareto_nbd_model AS (
    r float8, alpha float8, s float8, beta float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.pareto_nbd_model IS
    'Fitted Pareto/NBD model: purchase rate ~ Gamma(r, alpha), dropout rate ~ Gamma(s, beta); alpha and beta in the time unit of recency and T';
CREATE TYPE customer_segment.gamma_gamma_model AS (
    p float8, q float8, gamma float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.gamma_gamma_model IS 'Fitted Gamma-Gamma spend model (shape p, q, scale gamma)';

CREATE TYPE customer_segment.btyd_fit_state;
CREATE FUNCTION customer_segment.btyd_fit_state_in(cstring) RETURNS customer_segment.btyd_fit_state
    AS 'MODULE_PATHNAME', 'btyd_fit_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.btyd_fit_state_out(customer_segment.btyd_fit_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'btyd_fit_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.btyd_fit_state_recv(internal) RETURNS customer_segment.btyd_fit_state
    AS 'MODULE_PATHNAME', 'btyd_fit_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.btyd_fit_state_send(customer_segment.btyd_fit_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'btyd_fit_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE customer_segment.btyd_fit_state (INPUT = customer_segment.btyd_fit_state_in,
    OUTPUT = customer_segment.btyd_fit_state_out, RECEIVE = customer_segment.btyd_fit_state_recv, SEND = customer_segment.btyd_fit_state_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended);
COMMENT ON TYPE customer_segment.btyd_fit_state IS
    'State of the BTYD fits: the penalizer, the rows skipped and the weighted distinct rows (frequency, recency, T) or (frequency, monetary_value)';
CREATE FUNCTION customer_segment.btyd_fit_combine(customer_segment.btyd_fit_state, customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.bgnbd_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.pareto_nbd_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.gamma_gamma_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION customer_segment.bgnbd_fit_trans(customer_segment.btyd_fit_state, frequency float8, recency float8, t float8)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME', 'bgnbd_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.bgnbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.bgnbd_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgnbd_fit(frequency float8, recency float8, t float8) IS
    'Maximum-likelihood BG/NBD fit over per-customer (frequency, recency, T); state holds weighted distinct triples';
CREATE FUNCTION customer_segment.bgnbd_fit_trans(customer_segment.btyd_fit_state, frequency float8, recency float8, t float8, penalizer float8)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME', 'bgnbd_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.bgnbd_fit(frequency float8, recency float8, t float8, penalizer float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.bgnbd_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgnbd_fit(frequency float8, recency float8, t float8, penalizer float8) IS
    'BG/NBD fit with an L2 penalty penalizer * sum(params^2) on the mean negative log-likelihood (as lifetimes)';
CREATE AGGREGATE customer_segment.pareto_nbd_fit(frequency float8, recency float8, t float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.pnbd_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.pareto_nbd_fit(frequency float8, recency float8, t float8) IS
    'Maximum-likelihood Pareto/NBD fit over per-customer (frequency, recency, T), likelihood in log space with both 2F1 branches';
CREATE AGGREGATE customer_segment.pareto_nbd_fit(frequency float8, recency float8, t float8, penalizer float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.pnbd_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.pareto_nbd_fit(frequency float8, recency float8, t float8, penalizer float8) IS
    'Pareto/NBD fit with an L2 penalty on the mean negative log-likelihood';
CREATE FUNCTION customer_segment.gg_fit_trans(customer_segment.btyd_fit_state, frequency float8, monetary_value float8)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME', 'gg_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.gamma_gamma_fit(frequency float8, monetary_value float8) (
    SFUNC = customer_segment.gg_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.gg_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.gamma_gamma_fit(frequency float8, monetary_value float8) IS
    'Maximum-likelihood Gamma-Gamma fit over customers with frequency > 0 (others are skipped)';
CREATE FUNCTION customer_segment.gg_fit_trans(customer_segment.btyd_fit_state, frequency float8, monetary_value float8, penalizer float8)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME', 'gg_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.gamma_gamma_fit(frequency float8, monetary_value float8, penalizer float8) (
    SFUNC = customer_segment.gg_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.gg_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.gamma_gamma_fit(frequency float8, monetary_value float8, penalizer float8) IS
    'Gamma-Gamma fit with an L2 penalty on the mean negative log-likelihood';

CREATE FUNCTION customer_segment.bgnbd_p_alive(model customer_segment.bgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_p_alive(customer_segment.bgnbd_model, float8, float8, float8) IS
    'Probability the customer is still alive: 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))';
CREATE FUNCTION customer_segment.bgnbd_expected_purchases(model customer_segment.bgnbd_model, horizon float8,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_expected_purchases(customer_segment.bgnbd_model, float8, float8, float8, float8) IS
    'Expected purchases in the next horizon time units of a customer with history (frequency, recency, T)';
CREATE FUNCTION customer_segment.bgnbd_expected_purchases_new(model customer_segment.bgnbd_model, horizon float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_expected_purchases_new(customer_segment.bgnbd_model, float8) IS
    'Expected repeat purchases in horizon time units of a newly acquired customer';
CREATE FUNCTION customer_segment.bgnbd_probability_purchases(model customer_segment.bgnbd_model, horizon float8, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_probability_purchases(customer_segment.bgnbd_model, float8, bigint) IS
    'P(X(horizon) = n): probability a newly acquired customer makes exactly n repeat purchases in horizon time units';
CREATE FUNCTION customer_segment.bgnbd_probability_purchases(model customer_segment.bgnbd_model, horizon float8, n bigint,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_pmf_conditional_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_probability_purchases(customer_segment.bgnbd_model, float8, bigint, float8, float8, float8) IS
    'P(n purchases in the next horizon units | frequency, recency, T) = [n = 0] (1 - P(alive)) + P(alive) * P_new(n) under the posterior (r + x, alpha + T, a, b + x)';
CREATE FUNCTION customer_segment.bgnbd_loglik(model customer_segment.bgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_loglik(customer_segment.bgnbd_model, float8, float8, float8) IS
    'Log-likelihood of one customer under the model';
CREATE FUNCTION customer_segment.gamma_gamma_expected_spend(model customer_segment.gamma_gamma_model,
    frequency float8, monetary_value float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'gg_expected_spend_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.gamma_gamma_expected_spend(customer_segment.gamma_gamma_model, float8, float8) IS
    'Conditional expected spend per purchase: p (gamma + x m) / (p x + q - 1); the population mean gamma p / (q - 1) when x = 0';
CREATE FUNCTION customer_segment.gamma_gamma_loglik(model customer_segment.gamma_gamma_model, frequency float8, monetary_value float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'gg_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.gamma_gamma_loglik(customer_segment.gamma_gamma_model, float8, float8) IS
    'Log-likelihood of one repeat customer under the Gamma-Gamma model';
CREATE FUNCTION customer_segment.bgnbd_clv(model customer_segment.bgnbd_model, frequency float8, recency float8, t float8,
    spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_clv(customer_segment.bgnbd_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month';

CREATE FUNCTION customer_segment.pareto_nbd_p_alive(model customer_segment.pareto_nbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_p_alive(customer_segment.pareto_nbd_model, float8, float8, float8) IS
    'Pareto/NBD probability the customer is still alive';
CREATE FUNCTION customer_segment.pareto_nbd_expected_purchases(model customer_segment.pareto_nbd_model, horizon float8,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_expected_purchases(customer_segment.pareto_nbd_model, float8, float8, float8, float8) IS
    'Pareto/NBD expected purchases in the next horizon time units: (r+x)(beta+T)/((alpha+T)(s-1)) (1 - ((beta+T)/(beta+T+t))^(s-1)) P(alive); log((beta+T+t)/(beta+T)) replaces the bracket over s-1 at s = 1';
CREATE FUNCTION customer_segment.pareto_nbd_loglik(model customer_segment.pareto_nbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_loglik(customer_segment.pareto_nbd_model, float8, float8, float8) IS
    'Log-likelihood of one customer under the Pareto/NBD model';

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

-- The purchase models, each once, with what it takes and where it serves: btyd_analyze, the sources' CHECK
-- (is_source_model), btyd_evaluate and btyd_model_choice (holdout) and the report's names read this list.
CREATE FUNCTION customer_segment.btyd_models()
RETURNS TABLE (model text, display_name text, history text, covariates boolean, holdout boolean, sources boolean)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT v.model, v.display_name, v.history, v.covariates, v.holdout, v.sources
      FROM (VALUES (1, 'bgnbd', 'BG/NBD', 'transactions', true, true, true),
                   (2, 'pareto_nbd', 'Pareto/NBD', 'transactions', true, true, true),
                   (3, 'mbgnbd', 'MBG/NBD', 'transactions', false, true, true),
                   (4, 'bgbb', 'BG/BB', 'periods', false, false, false))
           v(ord, model, display_name, history, covariates, holdout, sources)
     ORDER BY v.ord;
END;
COMMENT ON FUNCTION customer_segment.btyd_models() IS
    'The purchase models of btyd_analyze: name, display name, history (transactions: frequency, recency, T; periods: '
    'BG/BB''s discrete opportunities), whether btyd_analyze takes covariates with it, whether btyd_evaluate and '
    'btyd_model_choice compare it on a holdout, whether a source can predict with it (prediction_model)';

-- Whether a source can predict with a model (the CHECK on sources.prediction_model).
CREATE FUNCTION customer_segment.is_source_model(model text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce((SELECT m.sources FROM customer_segment.btyd_models() m WHERE m.model = is_source_model.model), false);
END;
COMMENT ON FUNCTION customer_segment.is_source_model(text) IS
    'true for a model of btyd_models that a source can predict with (its sources column), false otherwise';

-- Fit both models on an orders table and score every customer in one call.
-- The per-customer predictions of btyd_analyze and of a source's customers view: one definition, from the
-- BG/NBD model or, when it is NULL, the Pareto/NBD one.  A standard-SQL body, so it is parsed once here and
-- inlined into the queries that call it.
CREATE FUNCTION customer_segment.btyd_predict(bg customer_segment.bgnbd_model, pn customer_segment.pareto_nbd_model,
    gg customer_segment.gamma_gamma_model, frequency float8, recency float8, t float8, monetary_value float8,
    horizon float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01, periods_per_month float8 DEFAULT 30,
    margin float8 DEFAULT 1)
RETURNS TABLE (p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(customer_segment.bgnbd_p_alive(bg, frequency, recency, t),
                    customer_segment.pareto_nbd_p_alive(pn, frequency, recency, t)),
           coalesce(customer_segment.bgnbd_expected_purchases(bg, horizon, frequency, recency, t),
                    customer_segment.pareto_nbd_expected_purchases(pn, horizon, frequency, recency, t)),
           e.spend,
           coalesce(customer_segment.bgnbd_clv(bg, frequency, recency, t, e.spend, months, monthly_discount, periods_per_month, margin),
                    customer_segment.pareto_nbd_clv(pn, frequency, recency, t, e.spend, months, monthly_discount, periods_per_month, margin))
      FROM (SELECT CASE WHEN (gg).q OPERATOR(pg_catalog.>) 1
                        THEN customer_segment.gamma_gamma_expected_spend(gg, frequency, pg_catalog.float8larger(monetary_value, 0)) END AS spend) e;
END;
COMMENT ON FUNCTION customer_segment.btyd_predict(customer_segment.bgnbd_model, customer_segment.pareto_nbd_model, customer_segment.gamma_gamma_model, float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'P(alive), expected purchases in horizon, expected spend (Gamma-Gamma; NULL when its q <= 1 leaves the mean spend undefined) and CLV '
    'of one customer from a BG/NBD model, or the Pareto/NBD one when that is NULL; NULLs for NULL models';

CREATE FUNCTION customer_segment.btyd_analyze(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, horizon float8 DEFAULT 12, unit text DEFAULT 'week',
    margin float8 DEFAULT 1, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    penalizer float8 DEFAULT 0, zone text DEFAULT NULL, model text DEFAULT 'bgnbd', covariates regclass DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency bigint, recency float8, t float8, monetary_value float8,
               p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    per_month float8;
    missing text;
    spec record;
    t record;
BEGIN
    IF calibration_end IS NULL OR horizon IS NULL OR unit IS NULL OR margin IS NULL OR months IS NULL
       OR monthly_discount IS NULL OR penalizer IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'btyd_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT m.* INTO spec FROM customer_segment.btyd_models() m WHERE m.model = btyd_analyze.model;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'unknown purchase model "%"', model USING ERRCODE = 'invalid_parameter_value',
            HINT = (SELECT format('Use %s (btyd_models lists what each supports).', string_agg(quote_literal(m.model), ', '))
                      FROM customer_segment.btyd_models() m);
    END IF;
    IF covariates IS NOT NULL THEN
        IF NOT spec.covariates THEN
            RAISE EXCEPTION 'covariates are available for the % models, not %',
                (SELECT string_agg(m.model, ' and ') FROM customer_segment.btyd_models() m WHERE m.covariates), model
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT string_agg(c.col, ', ') INTO missing
          FROM (VALUES ('customer_id', NULL), ('purchase_covariates', 'float8[]'), ('dropout_covariates', 'float8[]'),
                       ('spend_covariates', 'float8[]')) c(col, typ)
         WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = covariates AND a.attname = c.col AND a.attnum > 0
                             AND NOT a.attisdropped AND (c.typ IS NULL OR a.atttypid = 'float8[]'::regtype));
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'covariates relation % lacks %', covariates, missing USING ERRCODE = 'undefined_column',
                HINT = 'It needs customer_id and the float8[] columns purchase_covariates, dropout_covariates and spend_covariates (''{}'' for none).';
        END IF;
    END IF;
    per_month := CASE customer_segment.check_period(unit, 'unit') WHEN 'day' THEN 30 WHEN 'week' THEN 4.345 ELSE 1 END;
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    -- the timestamptz and its zone to the C aggregate (aggregate_time_sql), each order's day taken there
    t := customer_segment.aggregate_time_sql(source, time_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT %1$s::text AS customer_id, (customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $2%7$s)).*
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), cv AS MATERIALIZED (    -- one row of covariates per customer (customers without one: no predictions)
            SELECT %6$s::text AS customer_id, c.purchase_covariates, c.dropout_covariates, c.spend_covariates
              FROM %5$s c WHERE c.customer_id IS NOT NULL
        ), hb AS MATERIALIZED (    -- BG/BB: histories of calendar periods of unit
            SELECT h.customer_id, h.frequency::float8 AS frequency, h.recency::float8 AS recency, h.n_periods::float8 AS n_periods
              FROM customer_segment.bgbb_summary($10, $11, $12, $13, $1, $2, $14) h WHERE $9 = 'bgbb'
        ), models AS (
            SELECT customer_segment.bgnbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'bgnbd' AND NOT $15) AS bg,
                   customer_segment.pareto_nbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'pareto_nbd' AND NOT $15) AS pn,
                   customer_segment.mbgnbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'mbgnbd') AS mb,
                   (SELECT customer_segment.bgbb_fit(hb.frequency, hb.recency, hb.n_periods) FROM hb WHERE $9 = 'bgbb') AS bb,
                   customer_segment.gamma_gamma_fit(s.frequency, s.monetary_value, $8)
                       FILTER (WHERE (s.frequency = 0 OR s.monetary_value > 0) AND NOT $15) AS gg,
                   customer_segment.bgnbd_covariate_fit(s.frequency, s.recency, s.t, cv.purchase_covariates, cv.dropout_covariates, $8)
                       FILTER (WHERE $9 = 'bgnbd' AND $15) AS bgc,
                   customer_segment.pareto_nbd_covariate_fit(s.frequency, s.recency, s.t, cv.purchase_covariates, cv.dropout_covariates, $8)
                       FILTER (WHERE $9 = 'pareto_nbd' AND $15) AS pnc,
                   customer_segment.gamma_gamma_covariate_fit(s.frequency, s.monetary_value, cv.spend_covariates, $8)
                       FILTER (WHERE (s.frequency = 0 OR s.monetary_value > 0) AND $15) AS ggc
              FROM s LEFT JOIN cv USING (customer_id) WHERE s.orders > 0
        )
        SELECT s.customer_id, coalesce(hb.frequency::bigint, s.frequency), coalesce(hb.recency, s.recency),
               coalesce(hb.n_periods, s.t), s.monetary_value,
               p.p_alive, p.expected_purchases, p.expected_spend, p.clv
          FROM s CROSS JOIN models m LEFT JOIN hb USING (customer_id) LEFT JOIN cv USING (customer_id)
               LEFT JOIN LATERAL (
                   SELECT * FROM customer_segment.btyd_predict(
                       CASE WHEN $15 THEN customer_segment.bgnbd_customer_model(m.bgc, cv.purchase_covariates, cv.dropout_covariates) ELSE m.bg END,
                       CASE WHEN $15 THEN customer_segment.pareto_nbd_customer_model(m.pnc, cv.purchase_covariates, cv.dropout_covariates) ELSE m.pn END,
                       CASE WHEN $15 THEN customer_segment.gamma_gamma_customer_model(m.ggc, cv.spend_covariates) ELSE m.gg END,
                       s.frequency, s.recency, s.t, s.monetary_value, $3, $5, $6, $7, $4) WHERE $9 IN ('bgnbd', 'pareto_nbd')
                   UNION ALL
                   SELECT * FROM customer_segment.btyd_predict_mbgnbd(m.mb, m.gg, s.frequency, s.recency, s.t,
                                                                      s.monetary_value, $3, $5, $6, $7, $4) WHERE $9 = 'mbgnbd'
                   UNION ALL   -- BG/BB: one period of unit is one opportunity; no history (a first purchase in the last, incomplete period): NULLs
                   SELECT * FROM customer_segment.btyd_predict_bgbb(m.bb, m.gg, hb.frequency, hb.recency, hb.n_periods,
                                                                    s.frequency, s.monetary_value, $3, $5, $6, $7, $4)
                    WHERE $9 = 'bgbb' AND hb.customer_id IS NOT NULL) p ON true
         WHERE s.orders > 0
    $q$, src.customer_expr, t.time_expr, src.amount_expr, src.from_clause,
         coalesce(covariates::text, '(SELECT NULL::text AS customer_id, NULL::float8[] AS purchase_covariates, NULL::float8[] AS dropout_covariates, NULL::float8[] AS spend_covariates WHERE false)'),
         CASE WHEN covariates IS NULL THEN 'c.customer_id' ELSE customer_segment.safe_key_sql(covariates, 'customer_id', 'c') END,
         t.zone_arg)
    USING calibration_end, unit, horizon, margin, months, monthly_discount, per_month, penalizer, model,
          source, customer_column, time_column, amount_column, zone, covariates IS NOT NULL;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text, text, regclass) IS
    'Summarises orders up to calibration_end (day purchases, a timestamptz on its date in zone or the session''s TimeZone when NULL, reported in unit), '
    'fits BG/NBD (or Pareto/NBD, MBG/NBD, or BG/BB on calendar periods of unit: model; BG/NBD and Pareto/NBD with the covariates relation''s '
    'per-customer covariates when given) and Gamma-Gamma, and returns per customer P(alive), expected purchases in horizon units, expected spend and discounted CLV '
    '(btyd_predict: spend and CLV NULL when the Gamma-Gamma q <= 1; NULL without a covariates row when covariates are given)';

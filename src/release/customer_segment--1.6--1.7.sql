-- customer_segment 1.6 -> 1.7: time-invariant customer covariates for BG/NBD, Pareto/NBD and Gamma-Gamma
-- (bgnbd_covariate_fit, pareto_nbd_covariate_fit, gamma_gamma_covariate_fit and their _uncertainty forms over a
-- new state type btyd_covariate_fit_state; covariate_scale; bgnbd_customer_model, pareto_nbd_customer_model,
-- gamma_gamma_customer_model give a customer's plain model for every existing prediction).
\echo Use "ALTER EXTENSION customer_segment UPDATE TO '1.7'" to load this file. \quit

-- Install-time helper, dropped at the end of this script: an aggregate over
-- several signatures, each with its transition function declared from one C
-- symbol (CREATE OR REPLACE: aggregates may share transition functions).  An
-- internal state moves between processes through serial/deserial; a state of
-- a real type (stype) through the type itself, and serial/deserial are NULL.
CREATE FUNCTION customer_segment.install_aggregate(agg text, signatures text[], c_trans text, sql_trans text,
    final text, combine text, serial text, deserial text, volatility text, comment text, stype text DEFAULT 'internal')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    sig text;
    st text := CASE WHEN stype = 'internal' THEN 'internal' ELSE format('customer_segment.%I', stype) END;
    moves text := CASE WHEN stype = 'internal' THEN format(', SERIALFUNC = customer_segment.%I, DESERIALFUNC = customer_segment.%I',
                                                          serial, deserial) ELSE '' END;
BEGIN
    FOREACH sig IN ARRAY signatures LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION customer_segment.%I(%s, %s) RETURNS %s
                        AS %L, %L LANGUAGE C %s PARALLEL SAFE', sql_trans, st, sig, st, 'MODULE_PATHNAME', c_trans, volatility);
        EXECUTE format('CREATE AGGREGATE customer_segment.%I(%s) (SFUNC = customer_segment.%I, STYPE = %s,
                        FINALFUNC = customer_segment.%I, COMBINEFUNC = customer_segment.%I%s, PARALLEL = SAFE)',
                       agg, sig, sql_trans, st, final, combine, moves);
        EXECUTE format('COMMENT ON AGGREGATE customer_segment.%I(%s) IS %L', agg, sig, comment);
    END LOOP;
END
$$;

-- Install-time helper, dropped at the end of this script: a state type of
-- aggregates (a varlena whose text form is base64), with its input, output,
-- receive and send functions <type>_in, _out, _recv, _send (C symbols of the
-- same names).
CREATE FUNCTION customer_segment.install_state_type(type text, comment text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    EXECUTE format('CREATE TYPE customer_segment.%I', type);
    EXECUTE format('CREATE FUNCTION customer_segment.%I(cstring) RETURNS customer_segment.%I
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_in', type, 'MODULE_PATHNAME', type || '_in');
    EXECUTE format('CREATE FUNCTION customer_segment.%I(customer_segment.%I) RETURNS cstring
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_out', type, 'MODULE_PATHNAME', type || '_out');
    EXECUTE format('CREATE FUNCTION customer_segment.%I(internal) RETURNS customer_segment.%I
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_recv', type, 'MODULE_PATHNAME', type || '_recv');
    EXECUTE format('CREATE FUNCTION customer_segment.%I(customer_segment.%I) RETURNS bytea
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_send', type, 'MODULE_PATHNAME', type || '_send');
    EXECUTE format('CREATE TYPE customer_segment.%1$I (INPUT = customer_segment.%2$I, OUTPUT = customer_segment.%3$I,
                    RECEIVE = customer_segment.%4$I, SEND = customer_segment.%5$I,
                    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended)',
                   type, type || '_in', type || '_out', type || '_recv', type || '_send');
    EXECUTE format('COMMENT ON TYPE customer_segment.%I IS %L', type, comment);
END
$$;

-- BG/NBD, Pareto/NBD and Gamma-Gamma with time-invariant customer covariates (doc/btyd.md, "Covariates"): a
-- customer's covariates scale the plain model's parameters by exp(coefficients . covariates),
--   BG/NBD      alpha_i = alpha exp(-g_p . z_p), a_i = a exp(g_a . z_d), b_i = b exp(g_b . z_d)
--   Pareto/NBD  alpha_i = alpha exp(-g_p . z_p), beta_i = beta exp(-g_d . z_d)
--   Gamma-Gamma gamma_i = gamma exp(g . z)
-- and every prediction of the plain model holds for the customer with those parameters: *_customer_model gives
-- them as the plain model type.

CREATE TYPE customer_segment.bgnbd_covariate_model AS (
    r float8, alpha float8, a float8, b float8,
    purchase_coefficients float8[], dropout_coefficients_a float8[], dropout_coefficients_b float8[],
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.bgnbd_covariate_model IS
    'Fitted BG/NBD model with covariates: a customer''s purchase rate ~ Gamma(r, alpha exp(-purchase_coefficients . purchase_covariates)), '
    'dropout probability ~ Beta(a exp(dropout_coefficients_a . dropout_covariates), b exp(dropout_coefficients_b . dropout_covariates)); '
    'bgnbd_customer_model gives a customer''s bgnbd_model';
CREATE TYPE customer_segment.pareto_nbd_covariate_model AS (
    r float8, alpha float8, s float8, beta float8,
    purchase_coefficients float8[], dropout_coefficients float8[],
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.pareto_nbd_covariate_model IS
    'Fitted Pareto/NBD model with covariates: a customer''s purchase rate ~ Gamma(r, alpha exp(-purchase_coefficients . purchase_covariates)), '
    'dropout rate ~ Gamma(s, beta exp(-dropout_coefficients . dropout_covariates)); pareto_nbd_customer_model gives a customer''s pareto_nbd_model';
CREATE TYPE customer_segment.gamma_gamma_covariate_model AS (
    p float8, q float8, gamma float8, spend_coefficients float8[],
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.gamma_gamma_covariate_model IS
    'Fitted Gamma-Gamma spend model with covariates: a customer''s scale gamma exp(spend_coefficients . covariates), so the mean spend '
    'p gamma / (q - 1) is multiplied by exp(spend_coefficients . covariates); gamma_gamma_customer_model gives a customer''s gamma_gamma_model';

SELECT customer_segment.install_state_type('btyd_covariate_fit_state',
    'State of the BTYD covariate fits: the penalizer, the rows skipped, the number of covariates per block and the weighted '
    'distinct rows (covariates, frequency, recency or monetary_value, T)');
CREATE FUNCTION customer_segment.btyd_covariate_fit_combine(customer_segment.btyd_covariate_fit_state,
    customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_covariate_fit_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_cov_fit_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.bgnbd_covariate_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_cov_fit_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.pareto_nbd_covariate_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_cov_fit_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.gamma_gamma_covariate_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_cov_uncertainty_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_cov_uncertainty_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_cov_uncertainty_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

SELECT customer_segment.install_aggregate(v.agg, v.sigs, v.c_trans, v.c_trans, v.final, 'btyd_covariate_fit_combine',
                                          NULL, NULL, 'IMMUTABLE', v.comment, 'btyd_covariate_fit_state')
  FROM (VALUES
    ('bgnbd_covariate_fit',
     ARRAY['frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]',
           'frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8'],
     'bgnbd_cov_fit_trans', 'bgnbd_cov_fit_final',
     'Maximum-likelihood BG/NBD fit with time-invariant covariates (up to 8 per array) on the purchase rate and on the dropout '
     'probability; rows with a NULL are skipped; state holds weighted distinct (covariates, history) rows'),
    ('pareto_nbd_covariate_fit',
     ARRAY['frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]',
           'frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8'],
     'bgnbd_cov_fit_trans', 'pnbd_cov_fit_final',
     'Maximum-likelihood Pareto/NBD fit with time-invariant covariates (up to 8 per array) on the purchase and dropout rates; '
     'rows with a NULL are skipped; state holds weighted distinct (covariates, history) rows'),
    ('gamma_gamma_covariate_fit',
     ARRAY['frequency float8, monetary_value float8, covariates float8[]',
           'frequency float8, monetary_value float8, covariates float8[], penalizer float8'],
     'gg_cov_fit_trans', 'gg_cov_fit_final',
     'Maximum-likelihood Gamma-Gamma fit with time-invariant covariates (up to 8) on the scale of spend, over customers with '
     'frequency > 0 (others and rows with a NULL are skipped)'),
    ('bgnbd_covariate_fit_uncertainty',
     ARRAY['frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]',
           'frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8'],
     'bgnbd_cov_fit_trans', 'bgnbd_cov_uncertainty_final',
     'bgnbd_covariate_fit with standard errors and 95% intervals of r, alpha, a, b (log scale) and of every coefficient (linear scale)'),
    ('pareto_nbd_covariate_fit_uncertainty',
     ARRAY['frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]',
           'frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8'],
     'bgnbd_cov_fit_trans', 'pnbd_cov_uncertainty_final',
     'pareto_nbd_covariate_fit with standard errors and 95% intervals of r, alpha, s, beta (log scale) and of every coefficient (linear scale)'),
    ('gamma_gamma_covariate_fit_uncertainty',
     ARRAY['frequency float8, monetary_value float8, covariates float8[]',
           'frequency float8, monetary_value float8, covariates float8[], penalizer float8'],
     'gg_cov_fit_trans', 'gg_cov_uncertainty_final',
     'gamma_gamma_covariate_fit with standard errors and 95% intervals of p, q, gamma (log scale) and of every coefficient (linear scale)')
  ) v(agg, sigs, c_trans, final, comment);

CREATE FUNCTION customer_segment.covariate_scale(coefficients float8[], covariates float8[])
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.covariate_scale(float8[], float8[]) IS
    'exp(sum_j coefficients[j] * covariates[j]): the factor a customer''s covariates scale a base parameter by; both arrays of one length';

CREATE FUNCTION customer_segment.bgnbd_customer_model(model customer_segment.bgnbd_covariate_model,
    purchase_covariates float8[], dropout_covariates float8[])
RETURNS customer_segment.bgnbd_model LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ROW(model.r, model.alpha / customer_segment.covariate_scale(model.purchase_coefficients, purchase_covariates),
           model.a * customer_segment.covariate_scale(model.dropout_coefficients_a, dropout_covariates),
           model.b * customer_segment.covariate_scale(model.dropout_coefficients_b, dropout_covariates),
           model.log_likelihood, model.customers, model.distinct_rows, model.iterations, model.converged)::customer_segment.bgnbd_model;
COMMENT ON FUNCTION customer_segment.bgnbd_customer_model(customer_segment.bgnbd_covariate_model, float8[], float8[]) IS
    'The BG/NBD model of a customer with these covariates (r, alpha exp(-g_p . z_p), a exp(g_a . z_d), b exp(g_b . z_d)): '
    'pass it to bgnbd_p_alive, bgnbd_expected_purchases, bgnbd_clv and the other BG/NBD predictions';
CREATE FUNCTION customer_segment.pareto_nbd_customer_model(model customer_segment.pareto_nbd_covariate_model,
    purchase_covariates float8[], dropout_covariates float8[])
RETURNS customer_segment.pareto_nbd_model LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ROW(model.r, model.alpha / customer_segment.covariate_scale(model.purchase_coefficients, purchase_covariates),
           model.s, model.beta / customer_segment.covariate_scale(model.dropout_coefficients, dropout_covariates),
           model.log_likelihood, model.customers, model.distinct_rows, model.iterations, model.converged)::customer_segment.pareto_nbd_model;
COMMENT ON FUNCTION customer_segment.pareto_nbd_customer_model(customer_segment.pareto_nbd_covariate_model, float8[], float8[]) IS
    'The Pareto/NBD model of a customer with these covariates (r, alpha exp(-g_p . z_p), s, beta exp(-g_d . z_d)): '
    'pass it to pareto_nbd_p_alive, pareto_nbd_expected_purchases and the other Pareto/NBD predictions';
CREATE FUNCTION customer_segment.gamma_gamma_customer_model(model customer_segment.gamma_gamma_covariate_model,
    covariates float8[])
RETURNS customer_segment.gamma_gamma_model LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ROW(model.p, model.q, model.gamma * customer_segment.covariate_scale(model.spend_coefficients, covariates),
           model.log_likelihood, model.customers, model.distinct_rows, model.iterations, model.converged)::customer_segment.gamma_gamma_model;
COMMENT ON FUNCTION customer_segment.gamma_gamma_customer_model(customer_segment.gamma_gamma_covariate_model, float8[]) IS
    'The Gamma-Gamma model of a customer with these covariates (p, q, gamma exp(g . z)): pass it to gamma_gamma_expected_spend';

-- btyd_analyze gains a last parameter, covariates: the old signature is dropped, so objects of users that call
-- it stop the update before anything changes.
DO $update$
DECLARE
    found text;
BEGIN
    SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%s depends on %s', r.ev_class::pg_catalog.regclass,
               'customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text, text)'), '; ')
      INTO found
      FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
     WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.refobjid = 'customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text, text)'::pg_catalog.regprocedure;
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'cannot update customer_segment to 1.7: objects of yours depend on btyd_analyze, whose signature changes'
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = found,
                  HINT = 'Save their definitions, drop them, update, and create them again.';
    END IF;
END
$update$;
DROP FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text, text);
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
BEGIN
    IF calibration_end IS NULL OR horizon IS NULL OR unit IS NULL OR margin IS NULL OR months IS NULL
       OR monthly_discount IS NULL OR penalizer IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'btyd_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF model NOT IN ('bgnbd', 'pareto_nbd', 'mbgnbd', 'bgbb') THEN
        RAISE EXCEPTION 'unknown purchase model "%"', model USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''bgnbd'', ''pareto_nbd'', ''mbgnbd'' or ''bgbb''; btyd_evaluate compares the first two on a holdout.';
    END IF;
    IF covariates IS NOT NULL THEN
        IF model NOT IN ('bgnbd', 'pareto_nbd') THEN
            RAISE EXCEPTION 'covariates are available for the bgnbd and pareto_nbd models, not %', model
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
    RETURN QUERY EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT %1$s::text AS customer_id, (customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $2)).*
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), cv AS MATERIALIZED (    -- one row of covariates per customer (customers without one: no predictions)
            SELECT c.customer_id::text AS customer_id, c.purchase_covariates, c.dropout_covariates, c.spend_covariates
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
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause,
         coalesce(covariates::text, '(SELECT NULL::text AS customer_id, NULL::float8[] AS purchase_covariates, NULL::float8[] AS dropout_covariates, NULL::float8[] AS spend_covariates WHERE false)'))
    USING calibration_end, unit, horizon, margin, months, monthly_discount, per_month, penalizer, model,
          source, customer_column, time_column, amount_column, zone, covariates IS NOT NULL;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text, text, regclass) IS
    'Summarises orders up to calibration_end (day purchases, a timestamptz on its date in zone or the session''s TimeZone when NULL, reported in unit), '
    'fits BG/NBD (or Pareto/NBD, MBG/NBD, or BG/BB on calendar periods of unit: model; BG/NBD and Pareto/NBD with the covariates relation''s '
    'per-customer covariates when given) and Gamma-Gamma, and returns per customer P(alive), expected purchases in horizon units, expected spend and discounted CLV '
    '(btyd_predict: spend and CLV NULL when the Gamma-Gamma q <= 1; NULL without a covariates row when covariates are given)';

-- btyd_holdout tests a window by comparing the time with the day after its end, without a cast per row.
CREATE OR REPLACE FUNCTION customer_segment.btyd_holdout(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency_cal bigint, recency_cal float8, t_cal float8, monetary_value_cal float8,
               frequency_holdout bigint, monetary_value_holdout float8, duration_holdout float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    days_per_unit float8;
    t text;         -- the time as the aggregates take it
    t_zone text;    -- their zone argument
    cal_next text;  -- the first time after each window: a time before it is a day in the window
    obs_next text;
BEGIN
    days_per_unit := customer_segment.check_holdout_window(calibration_end, observation_end, unit);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    IF zone IS NOT NULL AND customer_segment.column_type(source, time_column) = 'timestamptz'::regtype THEN
        -- the raw timestamptz, the aggregates taking its day in zone themselves, and window ends as instants:
        -- the day expression would otherwise be computed once per use, five times a row
        t := format('o.%I', time_column);
        t_zone := format(', %L', zone);
        cal_next := format('(($1 + 1)::timestamp AT TIME ZONE %L)', zone);
        obs_next := format('(($2 + 1)::timestamp AT TIME ZONE %L)', zone);
    ELSE
        -- a day, or a timestamptz taken in the session's TimeZone as its ::date is
        t := src.time_expr;
        t_zone := '';
        cal_next := '($1 + 1)';
        obs_next := '($2 + 1)';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH per_customer AS (   -- one pass over the orders: both windows' summaries
            SELECT %1$s AS customer,
                   customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $3%5$s) FILTER (WHERE %2$s < %6$s) AS cal,
                   customer_segment.rfm_summary(%2$s, %3$s, $2, 'day', $3%5$s)
                       FILTER (WHERE %2$s >= %6$s AND %2$s < %7$s) AS hold
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY 1
        )
        SELECT p.customer::text, (p.cal).frequency, (p.cal).recency, (p.cal).t, (p.cal).monetary_value,
               coalesce((p.hold).purchase_days, 0), coalesce((p.hold).revenue / nullif((p.hold).purchase_days, 0), 0), ($2 - $1) / $4
          FROM per_customer p
         WHERE (p.cal).orders > 0
    $q$, src.customer_expr, t, src.amount_expr, src.from_clause, t_zone, cal_next, obs_next)
    USING calibration_end, observation_end, unit, days_per_unit;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_holdout(regclass, name, name, name, date, date, text, text) IS
    'Calibration/holdout split: per customer who bought by calibration_end, the calibration frequency, recency, T and monetary_value '
    '(rfm_summary, day periods, in unit) and the holdout purchase days, mean spend per purchase day and length (in unit)';

-- period_number and bgbb_summary check the period in one place (period_number raised 22004 for an unknown one).
CREATE FUNCTION customer_segment.check_calendar_period(period text)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF period IS NULL THEN
        RAISE EXCEPTION 'period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF customer_segment.period_number_sql('d', period) IS NULL THEN
        RAISE EXCEPTION 'unknown period "%"', period USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''year'', ''quarter'', ''month'', ''week'' or ''day''.';
    END IF;
    RETURN period;
END
$$;
COMMENT ON FUNCTION customer_segment.check_calendar_period(text) IS
    'Returns period when period_number knows it (year, quarter, month, week, day); 22004 for NULL, 22023 otherwise';

CREATE OR REPLACE FUNCTION customer_segment.period_number(day date, period text)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    k bigint;
BEGIN
    EXECUTE 'SELECT ' || customer_segment.period_number_sql('$1', customer_segment.check_calendar_period(period)) INTO k USING day;
    RETURN k;
END
$$;
COMMENT ON FUNCTION customer_segment.period_number(date, text) IS
    'Consecutive number of the calendar year, quarter, month, week (Monday to Sunday) or day of a date';

CREATE OR REPLACE FUNCTION customer_segment.bgbb_summary(source regclass, customer_column name, time_column name,
    amount_column name, observation_end date, period text DEFAULT 'year', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency bigint, recency bigint, n_periods bigint, first_period date)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    last_complete bigint;
BEGIN
    IF observation_end IS NULL OR period IS NULL THEN
        RAISE EXCEPTION 'observation_end and period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.check_calendar_period(period);
    IF NOT isfinite(observation_end) THEN
        RAISE EXCEPTION 'observation_end must be a finite date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the period of observation_end counts only when observation_end is its last day
    last_complete := customer_segment.period_number(observation_end, period)
                     - CASE WHEN customer_segment.period_number(observation_end + 1, period)
                                 = customer_segment.period_number(observation_end, period) THEN 1 ELSE 0 END;
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH o AS (
            SELECT %1$s AS customer, (%2$s)::date AS day FROM %4$s WHERE %1$s IS NOT NULL AND %3$s >= 0
        ), p AS (
            SELECT o.customer, %5$s AS k, min(o.day) AS first_day FROM o GROUP BY 1, 2 HAVING %5$s <= $1
        ), f AS (
            SELECT p.customer, min(p.k) AS k0, min(p.first_day) AS first_day FROM p GROUP BY 1
        )
        SELECT f.customer::text, count(*) FILTER (WHERE p.k > f.k0), coalesce(max(p.k) FILTER (WHERE p.k > f.k0) - f.k0, 0),
               $1 - f.k0, date_trunc($2, f.first_day)::date
          FROM p JOIN f USING (customer)
         GROUP BY f.customer, f.k0, f.first_day
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause, customer_segment.period_number_sql('o.day', period))
    USING last_complete, period;
END
$$;
COMMENT ON FUNCTION customer_segment.bgbb_summary(regclass, name, name, name, date, text, text) IS
    'BG/BB histories of an orders table: per customer the periods (year, quarter, month, week, day) with a purchase after the first one (frequency), '
    'the number of the last of them counted from the first (recency, 0 without), and the complete periods after the first through observation_end (n_periods)';

DROP FUNCTION customer_segment.install_aggregate(text, text[], text, text, text, text, text, text, text, text, text);
DROP FUNCTION customer_segment.install_state_type(text, text);

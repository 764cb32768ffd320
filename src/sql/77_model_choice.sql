-- Model choice: information criteria of every fit, the likelihood-ratio test between nested fits, and both
-- beside the holdout metrics of btyd_evaluate.  doc/btyd.md, "Choosing a model", has the definitions.

CREATE FUNCTION customer_segment.chi_square_upper_tail(statistic float8, df float8)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.chi_square_upper_tail(float8, float8) IS
    'P(X >= statistic) for X chi-square with df degrees of freedom (the regularized upper incomplete gamma Q(df/2, statistic/2))';

-- A fit's log-likelihood, parameter count and customers, from its fields: every parameter field counts once,
-- every coefficient of an array once (covariate fits); a fit with its uncertainty, its estimates.
CREATE FUNCTION customer_segment.btyd_fit_criteria(model anyelement,
    OUT log_likelihood float8, OUT parameters integer, OUT customers bigint, OUT aic float8, OUT bic float8)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    fields jsonb := to_jsonb(model);
BEGIN
    IF jsonb_typeof(fields) IS DISTINCT FROM 'object' OR NOT fields ?& ARRAY['log_likelihood', 'customers', 'converged'] THEN
        RAISE EXCEPTION 'btyd_fit_criteria needs a fitted model (a BTYD or sBG fit), got type %', pg_typeof(model)
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    log_likelihood := (fields ->> 'log_likelihood')::float8;
    customers := (fields ->> 'customers')::bigint;
    IF fields ? 'estimate' THEN
        parameters := jsonb_array_length(fields -> 'estimate');   -- a fit with its uncertainty
    ELSE
        SELECT sum(CASE jsonb_typeof(f.value) WHEN 'array' THEN jsonb_array_length(f.value) ELSE 1 END)
          INTO parameters
          FROM jsonb_each(fields) f
         WHERE f.key NOT IN ('log_likelihood', 'customers', 'distinct_rows', 'iterations', 'converged');
    END IF;
    IF log_likelihood IS NULL OR customers IS NULL OR customers < 1 THEN
        RAISE EXCEPTION 'the model has no log-likelihood or no customers' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    aic := 2 * parameters - 2 * log_likelihood;
    bic := parameters * ln(customers) - 2 * log_likelihood;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_fit_criteria(anyelement) IS
    'Log-likelihood, number of parameters k (coefficients included), customers n (weights counted), AIC = 2k - 2 log L, '
    'BIC = k ln n - 2 log L of a fitted model';

-- The likelihood-ratio test of a fit against a larger one that contains it (a model without and with
-- covariates, on the same customers): 2 (log L_full - log L_restricted) ~ chi-square with the difference in
-- parameters as degrees of freedom.  Both fits must be maximum likelihood: not penalized.
CREATE FUNCTION customer_segment.btyd_lr_test(restricted_fit anyelement, full_fit anycompatible,
    OUT statistic float8, OUT df integer, OUT p_value float8)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    r record := customer_segment.btyd_fit_criteria(restricted_fit);
    f record := customer_segment.btyd_fit_criteria(full_fit);
BEGIN
    IF r.customers <> f.customers THEN
        RAISE EXCEPTION 'the two fits are of different customers (% and %)', r.customers, f.customers
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Fit both models to the same rows.';
    END IF;
    df := f.parameters - r.parameters;
    IF df <= 0 THEN
        RAISE EXCEPTION 'the full model must have more parameters than the restricted one (% and %)', f.parameters, r.parameters
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    statistic := 2 * (f.log_likelihood - r.log_likelihood);
    IF statistic < 0 THEN
        RAISE NOTICE 'the full model fits worse than the restricted one (statistic %): it did not reach its maximum', statistic;
    END IF;
    p_value := customer_segment.chi_square_upper_tail(greatest(statistic, 0), df);
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_lr_test(anyelement, anycompatible) IS
    'Likelihood-ratio test of nested fits of the same customers: statistic 2 (log L_full - log L_restricted), '
    'df = difference in parameters, p-value from the chi-square upper tail; unpenalized fits only';

-- The fits btyd_evaluate compares, with their criteria beside its holdout metrics.
CREATE FUNCTION customer_segment.btyd_model_choice(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (model text, parameters integer, customers bigint, log_likelihood float8, aic float8, bic float8,
               delta_aic float8, delta_bic float8, mae float8, rmse float8, bias float8, holdout_log_likelihood float8,
               converged boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH h AS MATERIALIZED (
        SELECT * FROM customer_segment.btyd_holdout(source, customer_column, time_column, amount_column,
                                                    calibration_end, observation_end, unit, zone)
    ), fits AS (
        SELECT customer_segment.bgnbd_fit(h.frequency_cal, h.recency_cal, h.t_cal) AS bg,
               customer_segment.pareto_nbd_fit(h.frequency_cal, h.recency_cal, h.t_cal) AS pn,
               customer_segment.mbgnbd_fit(h.frequency_cal, h.recency_cal, h.t_cal) AS mb
          FROM h
    ), criteria AS (
        SELECT 'bgnbd' AS model, (customer_segment.btyd_fit_criteria(fits.bg)).* FROM fits
        UNION ALL
        SELECT 'pareto_nbd', (customer_segment.btyd_fit_criteria(fits.pn)).* FROM fits
        UNION ALL
        SELECT 'mbgnbd', (customer_segment.btyd_fit_criteria(fits.mb)).* FROM fits
    )
    SELECT c.model, c.parameters, c.customers, c.log_likelihood, c.aic, c.bic,
           c.aic - min(c.aic) OVER (), c.bic - min(c.bic) OVER (),
           e.mae, e.rmse, e.bias, e.holdout_log_likelihood, e.converged
      FROM criteria c
      JOIN customer_segment.btyd_evaluate(source, customer_column, time_column, amount_column, calibration_end,
                                          observation_end, unit, zone) e ON e.model = c.model
     ORDER BY c.aic
$$;
COMMENT ON FUNCTION customer_segment.btyd_model_choice(regclass, name, name, name, date, date, text, text) IS
    'Per purchase model fitted on the calibration window (as btyd_evaluate): parameters, customers, log-likelihood, AIC, BIC and '
    'their distance to the best, beside the holdout MAE, RMSE, bias and holdout log-likelihood; best AIC first';

-- How good a BTYD forecast is: a calibration/holdout split of an orders table, the models fitted on the
-- calibration window and scored on the holdout (doc/btyd.md, "Holdout evaluation").

-- Days in one unit of recency and T (rfm_summary's units), and the checks of a calibration/holdout window.
CREATE FUNCTION customer_segment.unit_days(unit text)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE customer_segment.check_period(unit, 'unit') WHEN 'day' THEN 1 WHEN 'week' THEN 7 ELSE 30.436875 END::float8
$$;
COMMENT ON FUNCTION customer_segment.unit_days(text) IS 'Days in a day, week or month (30.436875) unit; 22023 for another';

CREATE FUNCTION customer_segment.check_holdout_window(calibration_end date, observation_end date, unit text)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF calibration_end IS NULL OR observation_end IS NULL OR unit IS NULL THEN
        RAISE EXCEPTION 'the calibration and holdout dates and the unit must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF observation_end <= calibration_end OR NOT isfinite(calibration_end) OR NOT isfinite(observation_end) THEN
        RAISE EXCEPTION 'observation_end must be a finite date after calibration_end' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got calibration_end %s, observation_end %s.', calibration_end, observation_end);
    END IF;
    RETURN customer_segment.unit_days(unit);
END
$$;
COMMENT ON FUNCTION customer_segment.check_holdout_window(date, date, text) IS
    'Raises 22004/22023 unless calibration_end < observation_end are finite and unit is day, week or month; returns the days per unit';

-- Per customer first seen by calibration_end: the calibration summary and what happened in the holdout, as
-- lifetimes' calibration_and_holdout_data (freq 'D') defines them.
CREATE FUNCTION customer_segment.btyd_holdout(source regclass, customer_column name, time_column name,
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
    SELECT a.time_expr, a.zone_arg INTO t, t_zone FROM customer_segment.aggregate_time_sql(source, time_column, zone) a;
    IF t_zone <> '' THEN
        -- the raw timestamptz, the aggregates taking its day in zone themselves, and window ends as instants:
        -- the day expression would otherwise be computed once per use, five times a row
        cal_next := format('(($1 + 1)::timestamp AT TIME ZONE %L)', zone);
        obs_next := format('(($2 + 1)::timestamp AT TIME ZONE %L)', zone);
    ELSE
        -- a day, or a timestamptz taken in the session's TimeZone as its ::date is
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

-- Both models fitted on the calibration window, and each customer's holdout forecast from them.
CREATE FUNCTION customer_segment.btyd_holdout_predictions(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency_cal bigint, recency_cal float8, t_cal float8, frequency_holdout bigint,
               duration_holdout float8, bgnbd_expected float8, pareto_nbd_expected float8,
               bgnbd_probability float8, pareto_nbd_probability float8,
               bgnbd customer_segment.bgnbd_model, pareto_nbd customer_segment.pareto_nbd_model)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH h AS MATERIALIZED (
        SELECT * FROM customer_segment.btyd_holdout(source, customer_column, time_column, amount_column,
                                                    calibration_end, observation_end, unit, zone)
    ), m AS (
        SELECT customer_segment.bgnbd_fit(h.frequency_cal, h.recency_cal, h.t_cal) AS bg,
               customer_segment.pareto_nbd_fit(h.frequency_cal, h.recency_cal, h.t_cal) AS pn
          FROM h
    )
    SELECT h.customer_id, h.frequency_cal, h.recency_cal, h.t_cal, h.frequency_holdout, h.duration_holdout,
           customer_segment.bgnbd_expected_purchases(m.bg, h.duration_holdout, h.frequency_cal, h.recency_cal, h.t_cal),
           customer_segment.pareto_nbd_expected_purchases(m.pn, h.duration_holdout, h.frequency_cal, h.recency_cal, h.t_cal),
           customer_segment.bgnbd_probability_purchases(m.bg, h.duration_holdout, h.frequency_holdout, h.frequency_cal, h.recency_cal, h.t_cal),
           customer_segment.pareto_nbd_probability_purchases(m.pn, h.duration_holdout, h.frequency_holdout, h.frequency_cal, h.recency_cal, h.t_cal),
           m.bg, m.pn
      FROM h, m
$$;
COMMENT ON FUNCTION customer_segment.btyd_holdout_predictions(regclass, name, name, name, date, date, text, text) IS
    'btyd_holdout with BG/NBD and Pareto/NBD fitted on the calibration window: each customer''s expected holdout purchases '
    'and the probability of the holdout purchases observed, by both models';

-- The metrics a user chooses a model by, one row per model.
CREATE FUNCTION customer_segment.btyd_evaluate(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (model text, customers bigint, actual_purchases bigint, predicted_purchases float8, total_error float8,
               mae float8, rmse float8, bias float8, holdout_log_likelihood float8, converged boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH p AS MATERIALIZED (
        SELECT * FROM customer_segment.btyd_holdout_predictions(source, customer_column, time_column, amount_column,
                                                                calibration_end, observation_end, unit, zone)
    ), mb AS (
        SELECT customer_segment.mbgnbd_fit(p.frequency_cal, p.recency_cal, p.t_cal) AS m FROM p
    ), per_model AS (
        SELECT 'bgnbd' AS model, p.frequency_holdout AS actual, p.bgnbd_expected AS predicted,
               p.bgnbd_probability AS probability, (p.bgnbd).converged AS converged FROM p
        UNION ALL
        SELECT 'pareto_nbd', p.frequency_holdout, p.pareto_nbd_expected, p.pareto_nbd_probability, (p.pareto_nbd).converged FROM p
        UNION ALL
        SELECT 'mbgnbd', p.frequency_holdout,
               customer_segment.mbgnbd_expected_purchases(mb.m, p.duration_holdout, p.frequency_cal, p.recency_cal, p.t_cal),
               customer_segment.mbgnbd_probability_purchases(mb.m, p.duration_holdout, p.frequency_holdout, p.frequency_cal, p.recency_cal, p.t_cal),
               (mb.m).converged
          FROM p, mb
    )
    SELECT x.model, count(*), sum(x.actual)::bigint, sum(x.predicted),
           (sum(x.predicted) - sum(x.actual)) / nullif(sum(x.actual), 0),
           avg(abs(x.predicted - x.actual)), sqrt(avg((x.predicted - x.actual) ^ 2)), avg(x.predicted - x.actual),
           CASE WHEN min(x.probability) > 0 THEN sum(ln(x.probability)) END, bool_and(x.converged)
      FROM per_model x
     WHERE x.model IN (SELECT m.model FROM customer_segment.btyd_models() m WHERE m.holdout)
     GROUP BY x.model ORDER BY x.model
$$;
COMMENT ON FUNCTION customer_segment.btyd_evaluate(regclass, name, name, name, date, date, text, text) IS
    'Holdout metrics of BG/NBD, MBG/NBD and Pareto/NBD fitted on the calibration window: total purchases actual and predicted, '
    'relative total error, MAE, RMSE and bias per customer, and the holdout log-likelihood (NULL when a customer''s count has probability 0)';

-- Conditional expectations: holdout purchases, actual and predicted, by calibration repeat purchases (7 = 7+).
CREATE FUNCTION customer_segment.btyd_conditional_expectations(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (frequency_cal integer, customers bigint, actual float8, bgnbd float8, pareto_nbd float8)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT least(p.frequency_cal, 7)::integer, count(*), avg(p.frequency_holdout), avg(p.bgnbd_expected), avg(p.pareto_nbd_expected)
      FROM customer_segment.btyd_holdout_predictions(source, customer_column, time_column, amount_column,
                                                     calibration_end, observation_end, unit, zone) p
     GROUP BY 1 ORDER BY 1
$$;
COMMENT ON FUNCTION customer_segment.btyd_conditional_expectations(regclass, name, name, name, date, date, text, text) IS
    'Mean holdout purchases per customer by calibration frequency (7 = 7 or more), actual and as BG/NBD and Pareto/NBD predict them';

-- Period transactions: customers by calibration repeat purchases (7 = 7+), actual and as each model expects
-- them for customers with the same T (the new-customer P(X(T) = x) summed over the customers).
CREATE FUNCTION customer_segment.btyd_period_transactions(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (frequency_cal integer, actual bigint, bgnbd float8, pareto_nbd float8)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH p AS MATERIALIZED (
        SELECT * FROM customer_segment.btyd_holdout_predictions(source, customer_column, time_column, amount_column,
                                                                calibration_end, observation_end, unit, zone)
    ), m AS (
        SELECT p.bgnbd AS bg, p.pareto_nbd AS pn FROM p LIMIT 1
    ), by_t AS (   -- customers sharing T share the expectation
        SELECT p.t_cal, count(*) AS customers FROM p GROUP BY 1
    ), expected AS (
        SELECT x, sum(b.customers * customer_segment.bgnbd_probability_purchases(m.bg, b.t_cal, x)) AS bg,
                  sum(b.customers * customer_segment.pareto_nbd_probability_purchases(m.pn, b.t_cal, x)) AS pn
          FROM by_t b, m, generate_series(0, 6) x GROUP BY x
    ), actual AS (
        SELECT least(p.frequency_cal, 7)::integer AS x, count(*) AS n FROM p GROUP BY 1
    )
    SELECT g.x, coalesce(a.n, 0),
           CASE WHEN g.x < 7 THEN e.bg ELSE (SELECT count(*) FROM p) - (SELECT sum(bg) FROM expected) END,
           CASE WHEN g.x < 7 THEN e.pn ELSE (SELECT count(*) FROM p) - (SELECT sum(pn) FROM expected) END
      FROM generate_series(0, 7) g(x) LEFT JOIN actual a ON a.x = g.x LEFT JOIN expected e ON e.x = g.x
     ORDER BY g.x
$$;
COMMENT ON FUNCTION customer_segment.btyd_period_transactions(regclass, name, name, name, date, date, text, text) IS
    'Customers by calibration repeat purchases 0..6 and 7+ (the last row), actual and expected by BG/NBD and Pareto/NBD for customers with the same T';

-- Tracking (Fader, Hardie & Lee 2005, figure 2): repeat purchase days per period over calibration and holdout,
-- actual and expected, of the customers acquired by calibration_end; cumulative and incremental.
CREATE FUNCTION customer_segment.btyd_tracking(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (period integer, period_end date, holdout boolean, actual bigint, bgnbd float8, pareto_nbd float8,
               actual_cumulative bigint, bgnbd_cumulative float8, pareto_nbd_cumulative float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    step integer;
    days_per_unit float8;
BEGIN
    days_per_unit := customer_segment.check_holdout_window(calibration_end, observation_end, unit);
    step := CASE unit WHEN 'day' THEN 1 WHEN 'week' THEN 7 ELSE 0 END;   -- months step by calendar month
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH p AS MATERIALIZED (
            SELECT * FROM customer_segment.btyd_holdout_predictions($7, $8, $9, $10, $1, $2, $3, $4)
        ), m AS (
            SELECT p.bgnbd AS bg, p.pareto_nbd AS pn FROM p LIMIT 1
        ), days AS MATERIALIZED (   -- purchase days of the customers in p, up to observation_end
            SELECT DISTINCT %1$s::text AS customer_id, (%2$s)::date AS day
              FROM %4$s WHERE %1$s IS NOT NULL AND %3$s >= 0 AND (%2$s)::date <= $2
        ), firsts AS (
            SELECT d.customer_id, min(d.day) AS first_day FROM days d
             WHERE d.customer_id IN (SELECT p.customer_id FROM p) GROUP BY 1
        ), ends AS (        -- period k runs from start + (k - 1) steps to the day before start + k steps (or observation_end)
            SELECT k, b.period_start, least(CASE WHEN $5 > 0 THEN s.start + k * $5
                                                 ELSE (s.start + make_interval(months => k))::date END - 1, $2) AS period_end
              FROM (SELECT min(first_day) AS start FROM firsts) s, generate_series(1, 100000) k,
                   LATERAL (SELECT CASE WHEN $5 > 0 THEN s.start + (k - 1) * $5
                                        ELSE (s.start + make_interval(months => k - 1))::date END AS period_start) b
             WHERE b.period_start <= $2
        ), by_first AS (
            SELECT first_day, count(*) AS customers FROM firsts GROUP BY 1
        ), expected AS (
            SELECT e.k,
                   sum(b.customers * customer_segment.bgnbd_expected_purchases_new(m.bg, (e.period_end - b.first_day + 1) / $6)) AS bg,
                   sum(b.customers * customer_segment.pareto_nbd_expected_purchases_new(m.pn, (e.period_end - b.first_day + 1) / $6)) AS pn
              FROM ends e, by_first b, m WHERE b.first_day <= e.period_end GROUP BY e.k
        ), actual AS (      -- repeat purchase days (after each customer's first) by period
            SELECT width_bucket(d.day, s.starts) AS k, count(*) AS n
              FROM days d JOIN firsts f USING (customer_id), (SELECT array_agg(period_start ORDER BY k) AS starts FROM ends) s
             WHERE d.day > f.first_day GROUP BY 1
        )
        SELECT e.k::integer, e.period_end, e.period_end > $1,
               coalesce(a.n, 0), coalesce(x.bg, 0) - coalesce(lag(x.bg) OVER w, 0),
               coalesce(x.pn, 0) - coalesce(lag(x.pn) OVER w, 0),
               (sum(coalesce(a.n, 0)) OVER w)::bigint, coalesce(x.bg, 0), coalesce(x.pn, 0)
          FROM ends e LEFT JOIN actual a USING (k) LEFT JOIN expected x USING (k)
        WINDOW w AS (ORDER BY e.k)
         ORDER BY e.k
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING calibration_end, observation_end, unit, zone, step, days_per_unit, source, customer_column, time_column, amount_column;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_tracking(regclass, name, name, name, date, date, text, text) IS
    'Repeat purchase days per period (unit; periods from the first purchase day) of the customers acquired by calibration_end, '
    'actual and expected by BG/NBD and Pareto/NBD fitted on the calibration window, incremental and cumulative, through the holdout';

-- Heat maps: expected purchases in horizon and P(alive) over a grid of frequency (0..max_frequency) and
-- recency (0..t in recency_steps equal steps) for customers observed for t, as each model predicts them.
CREATE FUNCTION customer_segment.btyd_frequency_recency_matrix(bgnbd customer_segment.bgnbd_model,
    pareto_nbd customer_segment.pareto_nbd_model, t float8, horizon float8, max_frequency integer DEFAULT 20,
    recency_steps integer DEFAULT 20)
RETURNS TABLE (frequency integer, recency float8, bgnbd_expected float8, bgnbd_p_alive float8,
               pareto_nbd_expected float8, pareto_nbd_p_alive float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF t IS NULL OR horizon IS NULL OR max_frequency IS NULL OR recency_steps IS NULL THEN
        RAISE EXCEPTION 'btyd_frequency_recency_matrix arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT (t > 0 AND t < 'Infinity') OR max_frequency NOT BETWEEN 0 AND 1000 OR recency_steps NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'btyd_frequency_recency_matrix needs 0 < t, max_frequency 0..1000 and recency_steps 1..1000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT f::integer, t * s / recency_steps,
           customer_segment.bgnbd_expected_purchases(bgnbd, horizon, f, t * s / recency_steps, t),
           customer_segment.bgnbd_p_alive(bgnbd, f, t * s / recency_steps, t),
           customer_segment.pareto_nbd_expected_purchases(pareto_nbd, horizon, f, t * s / recency_steps, t),
           customer_segment.pareto_nbd_p_alive(pareto_nbd, f, t * s / recency_steps, t)
      FROM generate_series(0, max_frequency) f, generate_series(0, recency_steps) s
     WHERE f > 0 OR s = 0      -- without a repeat purchase, recency is 0 by definition
     ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_frequency_recency_matrix(customer_segment.bgnbd_model, customer_segment.pareto_nbd_model, float8, float8, integer, integer) IS
    'Expected purchases in horizon and P(alive) by both models over a frequency x recency grid at observation length t (NULL model: NULL columns)';

-- The P(alive) history of one customer: at the end of every period from the first purchase to end_date,
-- P(alive) given the purchases up to then (the line of lifetimes' plot_history_alive).  One sort of the
-- period ends and purchase days together, running counts over it: n log n in days and periods.
CREATE FUNCTION customer_segment.btyd_p_alive_history(source regclass, customer_column name, time_column name,
    amount_column name, customer text, bgnbd customer_segment.bgnbd_model, end_date date, unit text DEFAULT 'week',
    zone text DEFAULT NULL)
RETURNS TABLE (day date, frequency bigint, recency float8, t float8, p_alive float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    days_per_unit float8;
BEGIN
    IF customer IS NULL OR bgnbd IS NULL OR end_date IS NULL OR unit IS NULL THEN
        RAISE EXCEPTION 'btyd_p_alive_history arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT isfinite(end_date) THEN
        RAISE EXCEPTION 'btyd_p_alive_history end_date must be finite' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', end_date);
    END IF;
    days_per_unit := customer_segment.unit_days(unit);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH d AS MATERIALIZED (
            SELECT DISTINCT (%2$s)::date AS day FROM %4$s
             WHERE %1$s::text = $1 AND %3$s >= 0 AND (%2$s)::date <= $2
        ), first AS (
            SELECT min(d.day) AS first_day FROM d
        ), marks AS (      -- a purchase day sorts before a period end on the same day: it counts there
            SELECT d.day, d.day AS purchase, false AS period_end FROM d
            UNION ALL
            SELECT g.day::date, NULL, true FROM first f, generate_series(f.first_day, $2, make_interval(days => $3::int)) g(day)
             WHERE f.first_day IS NOT NULL
        ), x AS (
            SELECT m.day, m.period_end, count(m.purchase) OVER w AS n, max(m.purchase) OVER w AS last
              FROM marks m WINDOW w AS (ORDER BY m.day, m.period_end ROWS UNBOUNDED PRECEDING)
        )
        SELECT x.day, x.n - 1, (x.last - f.first_day) / $3, (x.day - f.first_day) / $3,
               customer_segment.bgnbd_p_alive($4, x.n - 1, (x.last - f.first_day) / $3, (x.day - f.first_day) / $3)
          FROM x, first f
         WHERE x.period_end
         ORDER BY 1
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING customer, end_date, days_per_unit, bgnbd;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_p_alive_history(regclass, name, name, name, text, customer_segment.bgnbd_model, date, text, text) IS
    'BG/NBD P(alive) of one customer at every period (unit) from the first purchase to end_date, given the purchase days up to then';

-- Parameter uncertainty: the fits again, with standard errors from the observed information.
CREATE TYPE customer_segment.btyd_uncertainty AS (
    parameter text[], estimate float8[], standard_error float8[], lower_95 float8[], upper_95 float8[],
    covariance float8[], log_likelihood float8, customers bigint, converged boolean);
COMMENT ON TYPE customer_segment.btyd_uncertainty IS
    'A BTYD fit with its uncertainty: per parameter the estimate, standard error (observed information, delta method) '
    'and 95% interval (on the log scale, so it stays positive), the covariance matrix of the parameters';
CREATE FUNCTION customer_segment.bgnbd_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.mbgnbd_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.bgnbd_fit_uncertainty(frequency float8, recency float8, t float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.bgnbd_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgnbd_fit_uncertainty(frequency float8, recency float8, t float8) IS
    'bgnbd_fit with standard errors and 95% intervals of r, alpha, a, b from the observed information at the maximum';
CREATE AGGREGATE customer_segment.bgnbd_fit_uncertainty(frequency float8, recency float8, t float8, penalizer float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.bgnbd_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgnbd_fit_uncertainty(frequency float8, recency float8, t float8, penalizer float8) IS
    'bgnbd_fit with standard errors and 95% intervals of r, alpha, a, b from the observed information at the maximum';
CREATE AGGREGATE customer_segment.pareto_nbd_fit_uncertainty(frequency float8, recency float8, t float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.pnbd_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.pareto_nbd_fit_uncertainty(frequency float8, recency float8, t float8) IS
    'pareto_nbd_fit with standard errors and 95% intervals of r, alpha, s, beta from the observed information at the maximum';
CREATE AGGREGATE customer_segment.pareto_nbd_fit_uncertainty(frequency float8, recency float8, t float8, penalizer float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.pnbd_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.pareto_nbd_fit_uncertainty(frequency float8, recency float8, t float8, penalizer float8) IS
    'pareto_nbd_fit with standard errors and 95% intervals of r, alpha, s, beta from the observed information at the maximum';
CREATE AGGREGATE customer_segment.mbgnbd_fit_uncertainty(frequency float8, recency float8, t float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.mbgnbd_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.mbgnbd_fit_uncertainty(frequency float8, recency float8, t float8) IS
    'mbgnbd_fit with standard errors and 95% intervals of r, alpha, a, b from the observed information at the maximum';
CREATE AGGREGATE customer_segment.mbgnbd_fit_uncertainty(frequency float8, recency float8, t float8, penalizer float8) (
    SFUNC = customer_segment.bgnbd_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.mbgnbd_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.mbgnbd_fit_uncertainty(frequency float8, recency float8, t float8, penalizer float8) IS
    'mbgnbd_fit with standard errors and 95% intervals of r, alpha, a, b from the observed information at the maximum';
CREATE AGGREGATE customer_segment.gamma_gamma_fit_uncertainty(frequency float8, monetary_value float8) (
    SFUNC = customer_segment.gg_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.gg_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.gamma_gamma_fit_uncertainty(frequency float8, monetary_value float8) IS
    'gamma_gamma_fit with standard errors and 95% intervals of p, q, gamma from the observed information at the maximum';
CREATE AGGREGATE customer_segment.gamma_gamma_fit_uncertainty(frequency float8, monetary_value float8, penalizer float8) (
    SFUNC = customer_segment.gg_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.gg_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.gamma_gamma_fit_uncertainty(frequency float8, monetary_value float8, penalizer float8) IS
    'gamma_gamma_fit with standard errors and 95% intervals of p, q, gamma from the observed information at the maximum';

-- Intervals from the parameter uncertainty (delta method).  One quantity of a customer as a function of the
-- purchase model's parameters p (r, alpha, a, b or r, alpha, s, beta) and, for CLV, the Gamma-Gamma ones g
-- (p, q, gamma): what btyd_interval differentiates.
CREATE FUNCTION customer_segment.btyd_quantity(quantity text, p float8[], g float8[], horizon float8, frequency float8,
    recency float8, t float8, monetary_value float8, months integer, monthly_discount float8, periods_per_month float8,
    margin float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE quantity
        WHEN 'bgnbd_expected' THEN customer_segment.bgnbd_expected_purchases(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), horizon, frequency, recency, t)
        WHEN 'pareto_nbd_expected' THEN customer_segment.pareto_nbd_expected_purchases(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), horizon, frequency, recency, t)
        WHEN 'bgnbd_clv' THEN customer_segment.bgnbd_clv(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), frequency, recency, t,
            customer_segment.gamma_gamma_expected_spend(ROW(g[1], g[2], g[3], NULL, NULL, NULL, NULL, NULL), frequency, monetary_value),
            months, monthly_discount, periods_per_month, margin)
        WHEN 'pareto_nbd_clv' THEN customer_segment.pareto_nbd_clv(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), frequency, recency, t,
            customer_segment.gamma_gamma_expected_spend(ROW(g[1], g[2], g[3], NULL, NULL, NULL, NULL, NULL), frequency, monetary_value),
            months, monthly_discount, periods_per_month, margin)
    END
$$;
COMMENT ON FUNCTION customer_segment.btyd_quantity(text, float8[], float8[], float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'bgnbd_expected, pareto_nbd_expected, bgnbd_clv or pareto_nbd_clv (Gamma-Gamma spend) of one customer at the parameters p (and g): what btyd_interval differentiates';

-- The estimate at the fitted parameters, the gradient by central differences (step 1e-6 of each parameter),
-- variance g' C g summed over the purchase model and, for CLV, the spend model (two separate fits: their
-- estimates are taken as uncorrelated), and estimate +- 1.96 sd floored at 0.  NULL without a covariance.
CREATE FUNCTION customer_segment.btyd_interval(quantity text, p float8[], p_covariance float8[], g float8[],
    g_covariance float8[], horizon float8, frequency float8, recency float8, t float8, monetary_value float8,
    months integer, monthly_discount float8, periods_per_month float8, margin float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    params float8[];
    cov float8[];
    grad float8[];
    up float8[];
    down float8[];
    h float8;
    v float8 := 0;
BEGIN
    IF p IS NULL OR p_covariance IS NULL OR array_position(p, NULL) IS NOT NULL
       OR (quantity LIKE '%clv' AND (g IS NULL OR g_covariance IS NULL OR array_position(g, NULL) IS NOT NULL)) THEN
        RETURN;   -- no model or no covariance (the fit's information was not positive definite)
    END IF;
    estimate := customer_segment.btyd_quantity(quantity, p, g, horizon, frequency, recency, t, monetary_value,
                                               months, monthly_discount, periods_per_month, margin);
    -- the purchase model's parameters (set 1), then for CLV the spend model's (set 2)
    FOR k IN 1..CASE WHEN quantity LIKE '%clv' THEN 2 ELSE 1 END LOOP
        params := CASE k WHEN 1 THEN p ELSE g END;
        cov := CASE k WHEN 1 THEN p_covariance ELSE g_covariance END;
        grad := '{}';
        FOR i IN 1..cardinality(params) LOOP
            h := 1e-6 * params[i];
            up := params;
            down := params;
            up[i] := params[i] + h;
            down[i] := params[i] - h;
            grad[i] := (customer_segment.btyd_quantity(quantity, CASE k WHEN 1 THEN up ELSE p END, CASE k WHEN 2 THEN up ELSE g END,
                            horizon, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)
                      - customer_segment.btyd_quantity(quantity, CASE k WHEN 1 THEN down ELSE p END, CASE k WHEN 2 THEN down ELSE g END,
                            horizon, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)) / (2 * h);
        END LOOP;
        FOR i IN 1..cardinality(params) LOOP
            FOR j IN 1..cardinality(params) LOOP
                v := v + grad[i] * cov[i][j] * grad[j];
            END LOOP;
        END LOOP;
    END LOOP;
    lower_95 := greatest(estimate - 1.959963984540054 * sqrt(greatest(v, 0)), 0);
    upper_95 := estimate + 1.959963984540054 * sqrt(greatest(v, 0));
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_interval(text, float8[], float8[], float8[], float8[], float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Delta-method 95% interval of a btyd_quantity: central-difference gradient, variance over the purchase model''s covariance '
    'plus, for CLV, the spend model''s (fits taken as uncorrelated), estimate +- 1.96 sd floored at 0';

-- A customer's expected purchases and CLV with 95% intervals from the parameter uncertainty.
CREATE FUNCTION customer_segment.bgnbd_expected_purchases_interval(model customer_segment.bgnbd_model,
    uncertainty customer_segment.btyd_uncertainty, horizon float8, frequency float8, recency float8, t float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('bgnbd_expected', ARRAY[model.r, model.alpha, model.a, model.b],
        uncertainty.covariance, NULL, NULL, horizon, frequency, recency, t, NULL, NULL, NULL, NULL, NULL)
$$;
COMMENT ON FUNCTION customer_segment.bgnbd_expected_purchases_interval(customer_segment.bgnbd_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8) IS
    'bgnbd_expected_purchases with a 95% interval from the parameter uncertainty of bgnbd_fit_uncertainty (delta method, floored at 0)';

CREATE FUNCTION customer_segment.pareto_nbd_expected_purchases_interval(model customer_segment.pareto_nbd_model,
    uncertainty customer_segment.btyd_uncertainty, horizon float8, frequency float8, recency float8, t float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('pareto_nbd_expected', ARRAY[model.r, model.alpha, model.s, model.beta],
        uncertainty.covariance, NULL, NULL, horizon, frequency, recency, t, NULL, NULL, NULL, NULL, NULL)
$$;
COMMENT ON FUNCTION customer_segment.pareto_nbd_expected_purchases_interval(customer_segment.pareto_nbd_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8) IS
    'pareto_nbd_expected_purchases with a 95% interval from the parameter uncertainty of pareto_nbd_fit_uncertainty (delta method, floored at 0)';

CREATE FUNCTION customer_segment.bgnbd_clv_interval(model customer_segment.bgnbd_model,
    uncertainty customer_segment.btyd_uncertainty, spend_model customer_segment.gamma_gamma_model,
    spend_uncertainty customer_segment.btyd_uncertainty, frequency float8, recency float8, t float8,
    monetary_value float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('bgnbd_clv', ARRAY[model.r, model.alpha, model.a, model.b],
        uncertainty.covariance, ARRAY[spend_model.p, spend_model.q, spend_model.gamma], spend_uncertainty.covariance,
        NULL, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)
$$;
COMMENT ON FUNCTION customer_segment.bgnbd_clv_interval(customer_segment.bgnbd_model, customer_segment.btyd_uncertainty, customer_segment.gamma_gamma_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'bgnbd_clv with Gamma-Gamma expected spend, and a 95% interval from the uncertainty of both fits (delta method, fits taken as uncorrelated, floored at 0)';

CREATE FUNCTION customer_segment.pareto_nbd_clv_interval(model customer_segment.pareto_nbd_model,
    uncertainty customer_segment.btyd_uncertainty, spend_model customer_segment.gamma_gamma_model,
    spend_uncertainty customer_segment.btyd_uncertainty, frequency float8, recency float8, t float8,
    monetary_value float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('pareto_nbd_clv', ARRAY[model.r, model.alpha, model.s, model.beta],
        uncertainty.covariance, ARRAY[spend_model.p, spend_model.q, spend_model.gamma], spend_uncertainty.covariance,
        NULL, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)
$$;
COMMENT ON FUNCTION customer_segment.pareto_nbd_clv_interval(customer_segment.pareto_nbd_model, customer_segment.btyd_uncertainty, customer_segment.gamma_gamma_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'pareto_nbd_clv with Gamma-Gamma expected spend, and a 95% interval from the uncertainty of both fits (delta method, fits taken as uncorrelated, floored at 0)';

-- BG/BB (Fader, Hardie & Shang 2010): customers with discrete transaction opportunities (annual donations,
-- events, seasons).  A history is (frequency, recency, n_periods): x transactions in the n opportunities after
-- the first transaction, the last in opportunity t_x (0 when x = 0).  doc/btyd.md, "BG/BB".

CREATE TYPE customer_segment.bgbb_model AS (
    alpha float8, beta float8, gamma float8, delta float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.bgbb_model IS
    'Fitted BG/BB model: transaction probability per opportunity ~ Beta(alpha, beta), dropout probability per opportunity ~ Beta(gamma, delta)';
CREATE FUNCTION customer_segment.bgbb_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.bgbb_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgbb_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgbb_fit_trans(customer_segment.btyd_fit_state, frequency float8, recency float8, n_periods float8)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME', 'bgbb_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.bgbb_fit(frequency float8, recency float8, n_periods float8) (
    SFUNC = customer_segment.bgbb_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.bgbb_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgbb_fit(frequency float8, recency float8, n_periods float8) IS
    'Maximum-likelihood BG/BB fit over (frequency, recency, n_periods) histories, each counted weight times (default 1); state holds weighted distinct histories';
CREATE FUNCTION customer_segment.bgbb_fit_trans(customer_segment.btyd_fit_state, frequency float8, recency float8, n_periods float8, weight float8)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME', 'bgbb_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.bgbb_fit(frequency float8, recency float8, n_periods float8, weight float8) (
    SFUNC = customer_segment.bgbb_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.bgbb_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgbb_fit(frequency float8, recency float8, n_periods float8, weight float8) IS
    'Maximum-likelihood BG/BB fit over (frequency, recency, n_periods) histories, each counted weight times (default 1); state holds weighted distinct histories';
CREATE AGGREGATE customer_segment.bgbb_fit_uncertainty(frequency float8, recency float8, n_periods float8) (
    SFUNC = customer_segment.bgbb_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.bgbb_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgbb_fit_uncertainty(frequency float8, recency float8, n_periods float8) IS
    'bgbb_fit with standard errors and 95% intervals of alpha, beta, gamma, delta from the observed information at the maximum';
CREATE AGGREGATE customer_segment.bgbb_fit_uncertainty(frequency float8, recency float8, n_periods float8, weight float8) (
    SFUNC = customer_segment.bgbb_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.bgbb_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgbb_fit_uncertainty(frequency float8, recency float8, n_periods float8, weight float8) IS
    'bgbb_fit with standard errors and 95% intervals of alpha, beta, gamma, delta from the observed information at the maximum';

CREATE FUNCTION customer_segment.bgbb_p_alive(model customer_segment.bgbb_model, frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_p_alive(customer_segment.bgbb_model, float8, float8, float8) IS
    'BG/BB probability the customer is alive in opportunity n + 1: B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n+1)/B(gamma, delta) / L(x, t_x, n)';
CREATE FUNCTION customer_segment.bgbb_expected_purchases(model customer_segment.bgbb_model, periods float8,
    frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_expected_purchases(customer_segment.bgbb_model, float8, float8, float8, float8) IS
    'BG/BB expected transactions in the next periods opportunities given (x, t_x, n): '
    'B(alpha+x+1, beta+n-x)/B(alpha, beta) / L * sum_{k=1..periods} B(gamma, delta+n+k)/B(gamma, delta)';
CREATE FUNCTION customer_segment.bgbb_expected_purchases_new(model customer_segment.bgbb_model, periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_expected_purchases_new(customer_segment.bgbb_model, float8) IS
    'BG/BB expected transactions of a new customer in its first periods opportunities: alpha / (alpha + beta) sum_{k=1..periods} B(gamma, delta+k)/B(gamma, delta)';
CREATE FUNCTION customer_segment.bgbb_probability_purchases(model customer_segment.bgbb_model, n_periods bigint, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_probability_purchases(customer_segment.bgbb_model, bigint, bigint) IS
    'BG/BB P(X(n_periods) = n): probability a new customer transacts in exactly n of its first n_periods opportunities (FHS 2010 eq. 7)';
CREATE FUNCTION customer_segment.bgbb_probability_purchases(model customer_segment.bgbb_model, periods bigint, n bigint,
    frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_probability_purchases(customer_segment.bgbb_model, bigint, bigint, float8, float8, float8) IS
    'BG/BB P(n transactions in the next periods opportunities | frequency, recency, n_periods): gone before n + 1 (n = 0), '
    'gone at the start of a later opportunity, or alive through n + periods, each with its Beta-Binomial count';
CREATE FUNCTION customer_segment.bgbb_dert(model customer_segment.bgbb_model, discount float8, frequency float8,
    recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_dert_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_dert(customer_segment.bgbb_model, float8, float8, float8, float8) IS
    'BG/BB discounted expected residual transactions at discount per opportunity (> 0), the k-th future one discounted by (1 + discount)^-k (FHS 2010 eq. 14)';
CREATE FUNCTION customer_segment.bgbb_loglik(model customer_segment.bgbb_model, frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_loglik(customer_segment.bgbb_model, float8, float8, float8) IS
    'Log-likelihood of one history under the BG/BB model';

CREATE FUNCTION customer_segment.bgbb_clv(model customer_segment.bgbb_model, frequency float8, recency float8,
    n_periods float8, spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 1, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_clv(customer_segment.bgbb_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months under BG/BB: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month opportunities a month (1 for monthly, 4.345 for weekly, 1/12 for yearly)';

-- btyd_predict for a BG/BB model: P(alive), expected transactions (periods with a purchase) in horizon periods,
-- the Gamma-Gamma spend of btyd_predict from the customer's repeat purchase days and their mean spend, CLV.
CREATE FUNCTION customer_segment.btyd_predict_bgbb(bb customer_segment.bgbb_model, gg customer_segment.gamma_gamma_model,
    frequency float8, recency float8, n_periods float8, spend_frequency float8, monetary_value float8, horizon float8,
    months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01, periods_per_month float8 DEFAULT 1, margin float8 DEFAULT 1)
RETURNS TABLE (p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT customer_segment.bgbb_p_alive(bb, frequency, recency, n_periods),
           customer_segment.bgbb_expected_purchases(bb, horizon, frequency, recency, n_periods),
           p.expected_spend,
           customer_segment.bgbb_clv(bb, frequency, recency, n_periods, p.expected_spend, months, monthly_discount, periods_per_month, margin)
      FROM customer_segment.btyd_predict(NULL, NULL, gg, spend_frequency, 0, 0, monetary_value, horizon, months,
                                         monthly_discount, periods_per_month, margin) p;
END;
COMMENT ON FUNCTION customer_segment.btyd_predict_bgbb(customer_segment.bgbb_model, customer_segment.gamma_gamma_model, float8, float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'P(alive), expected transactions in horizon periods, expected spend (Gamma-Gamma of the repeat purchase days, as btyd_predict) and CLV of one customer from a BG/BB model; NULLs for NULL models';

-- Orders to BG/BB histories: a customer's opportunities are the calendar periods (year, quarter, month, week,
-- day) after the one of its first purchase, through the last period that ends by observation_end; a period
-- with a purchase (an order of amount >= 0) counts once.
-- The consecutive number of the calendar period of a date expression, as SQL to put in a query (plain
-- integer arithmetic: a function called per order row would cost more than the rest of the query).
CREATE FUNCTION customer_segment.period_number_sql(day_expr text, period text)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    RETURN CASE period
        WHEN 'year' THEN format('extract(year FROM %s)::bigint', day_expr)
        WHEN 'quarter' THEN format('(extract(year FROM %1$s)::bigint * 4 + extract(quarter FROM %1$s)::bigint - 1)', day_expr)
        WHEN 'month' THEN format('(extract(year FROM %1$s)::bigint * 12 + extract(month FROM %1$s)::bigint - 1)', day_expr)
        -- weeks from Monday 1970-01-05, floored: shifted by a million weeks so the division never sees a negative
        WHEN 'week' THEN format('((%s - DATE ''1970-01-05'' + 7000000) / 7 - 1000000)::bigint', day_expr)
        WHEN 'day' THEN format('(%s - DATE ''1970-01-01'')::bigint', day_expr)
    END;
END
$$;
COMMENT ON FUNCTION customer_segment.period_number_sql(text, text) IS
    'SQL for the consecutive number of the calendar year, quarter, month, week (Monday to Sunday) or day of a date expression; NULL for another period';

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

CREATE FUNCTION customer_segment.period_number(day date, period text)
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

CREATE FUNCTION customer_segment.bgbb_summary(source regclass, customer_column name, time_column name,
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

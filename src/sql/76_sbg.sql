-- Subscriptions: the shifted-beta-geometric (sBG) model of contractual retention (Fader & Hardie 2007) and
-- the discounted expected residual lifetime (Fader & Hardie 2010).  doc/subscriptions.md has the definitions.
--
-- A customer pays at the start of each period of her contract (a month, a year: one length per fit) and
-- renews at its end unless she cancels, with a probability theta of cancelling that is hers and the same
-- every period, theta ~ Beta(alpha, beta) across customers.  Her history is (renewals, active): the payments
-- after her first, and whether she is still a customer.

CREATE TYPE customer_segment.sbg_model AS (
    alpha float8, beta float8, log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer,
    converged boolean);
COMMENT ON TYPE customer_segment.sbg_model IS
    'Fitted sBG model: probability of cancelling at the end of a period ~ Beta(alpha, beta) across customers';

CREATE FUNCTION customer_segment.sbg_fit_trans(customer_segment.btyd_fit_state, renewals integer, active boolean)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME', 'sbg_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.sbg_fit_trans(customer_segment.btyd_fit_state, renewals integer, active boolean, weight float8)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME', 'sbg_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.sbg_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.sbg_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.sbg_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE customer_segment.sbg_fit(renewals integer, active boolean) (
    SFUNC = customer_segment.sbg_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.sbg_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE customer_segment.sbg_fit(renewals integer, active boolean, weight float8) (
    SFUNC = customer_segment.sbg_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.sbg_fit_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE customer_segment.sbg_fit_uncertainty(renewals integer, active boolean) (
    SFUNC = customer_segment.sbg_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.sbg_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
CREATE AGGREGATE customer_segment.sbg_fit_uncertainty(renewals integer, active boolean, weight float8) (
    SFUNC = customer_segment.sbg_fit_trans, STYPE = customer_segment.btyd_fit_state,
    FINALFUNC = customer_segment.sbg_uncertainty_final, COMBINEFUNC = customer_segment.btyd_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.sbg_fit(integer, boolean) IS
    'Maximum-likelihood sBG fit over contract histories: renewals made (payments after the first), still active or cancelled; NULL rows skipped';
COMMENT ON AGGREGATE customer_segment.sbg_fit(integer, boolean, float8) IS
    'sbg_fit with each history counted weight times';
COMMENT ON AGGREGATE customer_segment.sbg_fit_uncertainty(integer, boolean) IS
    'sbg_fit with standard errors and 95% intervals of alpha and beta from the observed information at the maximum';
COMMENT ON AGGREGATE customer_segment.sbg_fit_uncertainty(integer, boolean, float8) IS
    'sbg_fit_uncertainty with each history counted weight times';

CREATE FUNCTION customer_segment.sbg_fit_survival(alive float8[])
RETURNS customer_segment.sbg_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.sbg_fit_survival(float8[]) IS
    'sBG fit of one cohort from the customers still active after 0, 1, ..., n periods (counts or percentages; alive[1] is the cohort''s size)';

CREATE FUNCTION customer_segment.sbg_survival(model customer_segment.sbg_model, t integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'sbg_survival_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.sbg_survival(customer_segment.sbg_model, integer) IS
    'S(t): share of a cohort still a customer after t periods (t renewals), B(alpha, beta + t) / B(alpha, beta)';
CREATE FUNCTION customer_segment.sbg_churn_probability(model customer_segment.sbg_model, t integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'sbg_churn_probability_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.sbg_churn_probability(customer_segment.sbg_model, integer) IS
    'P(T = t): probability a new customer cancels at the end of period t (t >= 1), B(alpha + 1, beta + t - 1) / B(alpha, beta)';
CREATE FUNCTION customer_segment.sbg_retention_rate(model customer_segment.sbg_model, t integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'sbg_retention_rate_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.sbg_retention_rate(customer_segment.sbg_model, integer) IS
    'r(t) = S(t) / S(t - 1): share of the customers of period t - 1 who renew into period t (t >= 1), (beta + t - 1) / (alpha + beta + t - 1)';
CREATE FUNCTION customer_segment.sbg_derl(model customer_segment.sbg_model, discount float8, renewals integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'sbg_derl_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.sbg_derl(customer_segment.sbg_model, float8, integer) IS
    'Discounted expected residual lifetime of an active customer who renewed renewals times: her renewals to come, '
    'the next one (due at the end of her current period) in full and each later one discounted by 1 / (1 + discount) more '
    '(Fader & Hardie 2010); discount per period > 0';
CREATE FUNCTION customer_segment.sbg_expected_renewals(model customer_segment.sbg_model, renewals integer)
RETURNS float8 AS 'MODULE_PATHNAME', 'sbg_expected_renewals_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.sbg_expected_renewals(customer_segment.sbg_model, integer) IS
    'Expected renewals still to come of an active customer who renewed renewals times, undiscounted: (beta + renewals) / (alpha - 1), Infinity when alpha <= 1';
CREATE FUNCTION customer_segment.sbg_expected_payments_new(model customer_segment.sbg_model, discount float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'sbg_expected_payments_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.sbg_expected_payments_new(customer_segment.sbg_model, float8) IS
    'Discounted expected payments of a customer just acquired, her first (now) included: sum_{t >= 0} S(t) / (1 + discount)^t';

-- Values at a margin per period: an active customer's future payments, a new customer's (first included).
CREATE FUNCTION customer_segment.sbg_value(model customer_segment.sbg_model, discount float8, margin float8, renewals integer)
RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT margin OPERATOR(pg_catalog.*) customer_segment.sbg_derl(model, discount, renewals);
END;
COMMENT ON FUNCTION customer_segment.sbg_value(customer_segment.sbg_model, float8, float8, integer) IS
    'Expected discounted value of an active customer who renewed renewals times: margin per period x sbg_derl';
CREATE FUNCTION customer_segment.sbg_value_new(model customer_segment.sbg_model, discount float8, margin float8)
RETURNS float8 LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT margin OPERATOR(pg_catalog.*) customer_segment.sbg_expected_payments_new(model, discount);
END;
COMMENT ON FUNCTION customer_segment.sbg_value_new(customer_segment.sbg_model, float8, float8) IS
    'Expected discounted value of a customer just acquired, her first payment included: margin per period x sbg_expected_payments_new';

-- Projected survival of a cohort: every period from 0 to periods.
CREATE FUNCTION customer_segment.sbg_projection(model customer_segment.sbg_model, periods integer)
RETURNS TABLE (period integer, survival float8, retention_rate float8, churn_probability float8)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
BEGIN ATOMIC
    SELECT t, customer_segment.sbg_survival(model, t),
           CASE WHEN t OPERATOR(pg_catalog.>) 0 THEN customer_segment.sbg_retention_rate(model, t) END,
           CASE WHEN t OPERATOR(pg_catalog.>) 0 THEN customer_segment.sbg_churn_probability(model, t) END
      -- sbg_survival checks periods first (22023 outside 0..10,000,000), even when the series would be empty
      FROM pg_catalog.generate_series(0, CASE WHEN customer_segment.sbg_survival(model, periods) IS NOT NULL THEN periods END) t;
END;
COMMENT ON FUNCTION customer_segment.sbg_projection(customer_segment.sbg_model, integer) IS
    'Per period 0..periods: share of the cohort still active, retention rate into the period, probability of cancelling at its end';

-- The payments of a contract by a day: it starts on start and is paid at start + n * period, n = 0, 1, ...
-- (anchored: a monthly contract of 31 January pays on 28 February, 31 March, ...).  A contract that ended
-- (end_day) paid for every period that began before it; one still running at as_of, for every period that
-- began by as_of.  Returns the renewals (payments - 1); 22023 for an end not after the start or a period that
-- is not a positive whole number of days, or of months (a year is 12).
CREATE FUNCTION customer_segment.contract_renewals(start_day date, end_day date, period interval, as_of date)
RETURNS integer LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    months numeric := extract(year FROM period) * 12 + extract(month FROM period);
    days numeric := extract(day FROM period);
    stop date := CASE WHEN end_day IS NOT NULL AND end_day <= as_of THEN end_day END;   -- NULL: still running
    n integer;
BEGIN
    IF period IS NULL OR date_trunc('day', period) <> period OR NOT ((months > 0 AND days = 0) OR (months = 0 AND days > 0)) THEN
        RAISE EXCEPTION 'a contract period must be a positive whole number of days or of months, got %', period
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF end_day IS NOT NULL AND end_day <= start_day THEN
        RAISE EXCEPTION 'a contract must end after it starts' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('It starts on %s and ends on %s.', start_day, end_day);
    END IF;
    -- the last n with start + n * period by as_of (running) or before stop (ended): from an estimate, then exact
    n := greatest(floor((coalesce(stop - 1, as_of) - start_day) / (months * 30.436875 + days)), 0);
    WHILE start_day + (n + 1) * period <= coalesce(stop - 1, as_of) LOOP
        n := n + 1;
    END LOOP;
    WHILE n > 0 AND start_day + n * period > coalesce(stop - 1, as_of) LOOP
        n := n - 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION customer_segment.contract_renewals(date, date, interval, date) IS
    'Renewals of a contract by as_of: the periods start + n * period (n >= 1) that began before its end, or by as_of while it runs';

-- One call over a subscriptions table: per contract its cohort, renewals, whether it is active at as_of, its
-- cohort's sBG fit, the probability it renews next, DERL and value.  Skipped: rows with a NULL customer,
-- start or period, and contracts that start after as_of; a contract is active when its end is NULL or after
-- as_of.  Cohorts of fewer than 10 contracts, or without a cancellation, get no fit (NULL model columns).
CREATE FUNCTION customer_segment.sbg_analyze(source regclass, customer_column name, start_column name,
    end_column name, period_column name, as_of date, discount float8 DEFAULT 0.01, margin float8 DEFAULT 1,
    cohort_by text DEFAULT 'year', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, cohort date, period interval, renewals integer, active boolean, alpha float8,
               beta float8, renewal_probability float8, derl float8, value float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    contracts text;
    mixed record;
BEGIN
    IF as_of IS NULL OR discount IS NULL OR margin IS NULL OR cohort_by IS NULL THEN
        RAISE EXCEPTION 'as_of, discount, margin and cohort_by must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT isfinite(as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF discount IS NULL OR discount = 'NaN' OR discount <= 0 OR discount = 'Infinity' THEN
        RAISE EXCEPTION 'the discount rate per period must be positive and finite' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', discount);
    END IF;
    IF margin IS NULL OR margin = 'NaN' OR margin IN ('Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'margin must be finite' USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', margin);
    END IF;
    IF cohort_by IS NULL OR cohort_by NOT IN ('month', 'quarter', 'year', 'all') THEN
        RAISE EXCEPTION 'unknown cohort_by "%"', cohort_by USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''month'', ''quarter'', ''year'' or ''all'' (one fit).';
    END IF;
    IF customer_segment.column_type(source, period_column) <> 'interval'::regtype THEN
        RAISE EXCEPTION 'period column "%" must be of type interval', period_column USING ERRCODE = 'datatype_mismatch';
    END IF;
    contracts := format($q$
        SELECT c.customer_id, CASE WHEN $2 <> 'all' THEN date_trunc($2, c.s)::date END AS cohort, c.p,
               customer_segment.contract_renewals(c.s, c.e, c.p, $1) AS k, (c.e IS NULL OR c.e > $1) AS active
          FROM (SELECT %1$s::text AS customer_id, (%2$s)::date AS s, (%3$s)::date AS e, o.%4$I AS p FROM %5$s o) c
         WHERE c.customer_id IS NOT NULL AND c.s IS NOT NULL AND c.p IS NOT NULL AND c.s <= $1$q$,
        customer_segment.safe_key_sql(source, customer_column), customer_segment.day_sql(source, start_column, zone),
        customer_segment.day_sql(source, end_column, zone), period_column, source);
    EXECUTE format('SELECT h.cohort, min(h.p) AS a, max(h.p) AS b FROM (%s) h GROUP BY 1 HAVING count(DISTINCT h.p) > 1 LIMIT 1', contracts)
       INTO mixed USING as_of, cohort_by;
    IF mixed.a IS NOT NULL THEN   -- (EXECUTE does not set FOUND)
        RAISE EXCEPTION 'cohort % mixes contract periods % and %', coalesce(mixed.cohort::text, '(all)'), mixed.a, mixed.b
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Fit one period length at a time: filter the table by its period.';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH h AS MATERIALIZED (%s), fits AS (
            SELECT h.cohort, customer_segment.sbg_fit(h.k, h.active) AS m
              FROM h GROUP BY h.cohort HAVING count(*) >= 10 AND bool_or(NOT h.active)
        )
        SELECT h.customer_id, h.cohort, h.p, h.k, h.active, (f.m).alpha, (f.m).beta,
               CASE WHEN h.active THEN customer_segment.sbg_retention_rate(f.m, h.k + 1) END,
               CASE WHEN h.active THEN customer_segment.sbg_derl(f.m, $3, h.k) WHEN f.m IS NOT NULL THEN 0 END,
               CASE WHEN h.active THEN customer_segment.sbg_value(f.m, $3, $4, h.k) WHEN f.m IS NOT NULL THEN 0 END
          FROM h LEFT JOIN fits f ON f.cohort IS NOT DISTINCT FROM h.cohort
        $q$, contracts) USING as_of, cohort_by, discount, margin;
END
$$;
COMMENT ON FUNCTION customer_segment.sbg_analyze(regclass, name, name, name, name, date, float8, float8, text, text) IS
    'Per contract of a subscriptions table (start, end or NULL while active, period): cohort (month, quarter, year of the start, or all), '
    'renewals and activity at as_of, the cohort''s sBG alpha and beta, probability of renewing next, DERL at discount per period and value at margin per period';

-- The cohorts of sbg_analyze: their contracts, the fit, and the expected value of the active contracts and of a new one.
CREATE FUNCTION customer_segment.sbg_cohorts(source regclass, customer_column name, start_column name,
    end_column name, period_column name, as_of date, discount float8 DEFAULT 0.01, margin float8 DEFAULT 1,
    cohort_by text DEFAULT 'year', zone text DEFAULT NULL)
RETURNS TABLE (cohort date, period interval, contracts bigint, active bigint, alpha float8, beta float8,
               active_value float8, new_contract_value float8)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT a.cohort, min(a.period), count(*), count(*) FILTER (WHERE a.active), min(a.alpha), min(a.beta),
           sum(a.value),
           CASE WHEN min(a.alpha) IS NOT NULL   -- a cohort without a fit has no value
                THEN customer_segment.sbg_value_new(ROW(min(a.alpha), min(a.beta), NULL, NULL, NULL, NULL, NULL)::customer_segment.sbg_model,
                                                    discount, margin) END
      FROM customer_segment.sbg_analyze(source, customer_column, start_column, end_column, period_column, as_of,
                                        discount, margin, cohort_by, zone) a
     GROUP BY a.cohort ORDER BY a.cohort NULLS FIRST
$$;
COMMENT ON FUNCTION customer_segment.sbg_cohorts(regclass, name, name, name, name, date, float8, float8, text, text) IS
    'Per cohort of sbg_analyze: period, contracts, active at as_of, sBG alpha and beta, expected discounted value of the active contracts, '
    'and of a new contract (first payment included), at margin per period';

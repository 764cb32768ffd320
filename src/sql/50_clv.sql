-- Customer lifetime value: retention-model formulas, rate conversion,
-- historical discounted value, retention from data, projected CLV.

CREATE FUNCTION customer_segment.period_rate(annual_rate float8, period text DEFAULT 'month')
RETURNS float8 AS 'MODULE_PATHNAME', 'clv_period_rate_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.period_rate(float8, text) IS
    'Per-period rate equivalent to an annual rate: (1 + annual)^(1/n) - 1, n = 1, 4, 12, 365.2425/7 or 365.2425 periods a year';

CREATE FUNCTION customer_segment.clv_retention(margin float8, retention float8, discount float8,
    periods integer DEFAULT NULL, timing text DEFAULT 'end', growth float8 DEFAULT 0,
    acquisition_cost float8 DEFAULT 0)
RETURNS float8 AS 'MODULE_PATHNAME', 'clv_retention_sql' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.clv_retention(float8, float8, float8, integer, text, float8, float8) IS
    'Retention-model CLV in closed form: margin per period, retention and discount per period, NULL periods = infinite horizon; timing start | end | end_first; margin growth per period; minus acquisition cost';

-- clv_historical: value at reference_date of every past (or future) cash flow amount * margin.
CREATE TYPE customer_segment.clv_historical_state;
CREATE FUNCTION customer_segment.clv_historical_state_in(cstring) RETURNS customer_segment.clv_historical_state
    AS 'MODULE_PATHNAME', 'clv_historical_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.clv_historical_state_out(customer_segment.clv_historical_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'clv_historical_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.clv_historical_state_recv(internal) RETURNS customer_segment.clv_historical_state
    AS 'MODULE_PATHNAME', 'clv_historical_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.clv_historical_state_send(customer_segment.clv_historical_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'clv_historical_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE customer_segment.clv_historical_state (INPUT = customer_segment.clv_historical_state_in,
    OUTPUT = customer_segment.clv_historical_state_out, RECEIVE = customer_segment.clv_historical_state_recv, SEND = customer_segment.clv_historical_state_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended);
COMMENT ON TYPE customer_segment.clv_historical_state IS
    'State of clv_historical: the discounting terms (reference day, rate, margin, compounding, zone), the discounted sum and the number of cash flows';
CREATE FUNCTION customer_segment.clv_historical_combine(customer_segment.clv_historical_state, customer_segment.clv_historical_state)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.clv_historical_final(customer_segment.clv_historical_state)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, date, numeric, date, float8)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(date, numeric, date, float8) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(date, numeric, date, float8) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''); NULL rows skipped';
CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, date, float8, date, float8)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(date, float8, date, float8) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(date, float8, date, float8) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''); NULL rows skipped';
CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, timestamptz, numeric, date, float8)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(timestamptz, numeric, date, float8) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(timestamptz, numeric, date, float8) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''); NULL rows skipped';
CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, timestamptz, float8, date, float8)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(timestamptz, float8, date, float8) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(timestamptz, float8, date, float8) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''); NULL rows skipped';
CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, date, numeric, date, float8, float8, text)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(date, numeric, date, float8, float8, text) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(date, numeric, date, float8, float8, text) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''); NULL rows skipped';
CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, date, float8, date, float8, float8, text)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(date, float8, date, float8, float8, text) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(date, float8, date, float8, float8, text) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''); NULL rows skipped';
CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, timestamptz, numeric, date, float8, float8, text)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(timestamptz, numeric, date, float8, float8, text) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(timestamptz, numeric, date, float8, float8, text) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''); NULL rows skipped';
CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, timestamptz, float8, date, float8, float8, text)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(timestamptz, float8, date, float8, float8, text) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(timestamptz, float8, date, float8, float8, text) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''); NULL rows skipped';
CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, timestamptz, numeric, date, float8, float8, text, text)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(timestamptz, numeric, date, float8, float8, text, text) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(timestamptz, numeric, date, float8, float8, text, text) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''), day = the order''s date in zone (NULL: the session''s TimeZone); NULL rows skipped';
CREATE FUNCTION customer_segment.clv_historical_trans(customer_segment.clv_historical_state, timestamptz, float8, date, float8, float8, text, text)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME', 'clv_historical_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.clv_historical(timestamptz, float8, date, float8, float8, text, text) (
    SFUNC = customer_segment.clv_historical_trans, STYPE = customer_segment.clv_historical_state,
    FINALFUNC = customer_segment.clv_historical_final, COMBINEFUNC = customer_segment.clv_historical_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.clv_historical(timestamptz, float8, date, float8, float8, text, text) IS
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) (or exp(annual_rate * years) with compounding ''continuous''), day = the order''s date in zone (NULL: the session''s TimeZone); NULL rows skipped';

-- purchase_activity: per customer, bit k = bought in the k-th period since the first purchase period.
CREATE FUNCTION customer_segment.rfm_activity_final(customer_segment.rfm_summary_state)
RETURNS varbit AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, date, numeric, date, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.purchase_activity(date, numeric, date, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_activity_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.purchase_activity(date, numeric, date, text) IS
    'Bit string of purchase periods (day, week or month) from the first purchase period to the as_of period; bit k set = bought in period k; refunds are not purchases';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, date, float8, date, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.purchase_activity(date, float8, date, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_activity_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.purchase_activity(date, float8, date, text) IS
    'Bit string of purchase periods (day, week or month) from the first purchase period to the as_of period; bit k set = bought in period k; refunds are not purchases';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, timestamptz, numeric, date, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.purchase_activity(timestamptz, numeric, date, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_activity_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.purchase_activity(timestamptz, numeric, date, text) IS
    'Bit string of purchase periods (day, week or month) from the first purchase period to the as_of period; bit k set = bought in period k; refunds are not purchases';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, timestamptz, float8, date, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.purchase_activity(timestamptz, float8, date, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_activity_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.purchase_activity(timestamptz, float8, date, text) IS
    'Bit string of purchase periods (day, week or month) from the first purchase period to the as_of period; bit k set = bought in period k; refunds are not purchases';
CREATE FUNCTION customer_segment.rfm_activity_trans(customer_segment.rfm_summary_state, timestamptz, numeric, date, text, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_activity_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.purchase_activity(timestamptz, numeric, date, text, text) (
    SFUNC = customer_segment.rfm_activity_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_activity_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.purchase_activity(timestamptz, numeric, date, text, text) IS
    'Bit string of purchase periods (day, week or month) from the first purchase period to the as_of period, each order on its date in zone (NULL: the session''s TimeZone); bit k set = bought in period k; refunds are not purchases';
CREATE FUNCTION customer_segment.rfm_activity_trans(customer_segment.rfm_summary_state, timestamptz, float8, date, text, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_activity_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.purchase_activity(timestamptz, float8, date, text, text) (
    SFUNC = customer_segment.rfm_activity_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_activity_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.purchase_activity(timestamptz, float8, date, text, text) IS
    'Bit string of purchase periods (day, week or month) from the first purchase period to the as_of period, each order on its date in zone (NULL: the session''s TimeZone); bit k set = bought in period k; refunds are not purchases';
CREATE FUNCTION customer_segment.rfm_state_activity(state customer_segment.rfm_summary_state, as_of date,
    granularity text DEFAULT 'day')
RETURNS varbit AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.rfm_state_activity(customer_segment.rfm_summary_state, date, text) IS
    'purchase_activity of an open state as of as_of (= purchase_activity of the same orders); '
    'error when the state holds an order after as_of; NULL state: NULL';

CREATE TYPE customer_segment.retention_counts AS (
    customers  bigint,
    observed   bigint[],
    active     bigint[],
    at_risk    bigint[],
    retained   bigint[],
    rate       float8
);
COMMENT ON TYPE customer_segment.retention_counts IS 'Result of retention_curve; arrays are indexed by period offset + 1';
COMMENT ON COLUMN customer_segment.retention_counts.customers IS 'Customers counted';
COMMENT ON COLUMN customer_segment.retention_counts.observed IS 'Customers whose observation reaches offset k';
COMMENT ON COLUMN customer_segment.retention_counts.active IS 'Customers who bought in offset k';
COMMENT ON COLUMN customer_segment.retention_counts.at_risk IS 'Customers who bought in offset k and are observed in k + 1';
COMMENT ON COLUMN customer_segment.retention_counts.retained IS 'Customers who bought in offset k and in k + 1';
COMMENT ON COLUMN customer_segment.retention_counts.rate IS 'Pooled period-over-period retention: sum(retained) / sum(at_risk); NULL when nobody is at risk';

CREATE TYPE customer_segment.retention_curve_state;
CREATE FUNCTION customer_segment.retention_curve_state_in(cstring) RETURNS customer_segment.retention_curve_state
    AS 'MODULE_PATHNAME', 'retention_curve_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_state_out(customer_segment.retention_curve_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'retention_curve_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_state_recv(internal) RETURNS customer_segment.retention_curve_state
    AS 'MODULE_PATHNAME', 'retention_curve_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_state_send(customer_segment.retention_curve_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'retention_curve_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE customer_segment.retention_curve_state (INPUT = customer_segment.retention_curve_state_in,
    OUTPUT = customer_segment.retention_curve_state_out, RECEIVE = customer_segment.retention_curve_state_recv, SEND = customer_segment.retention_curve_state_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended);
COMMENT ON TYPE customer_segment.retention_curve_state IS
    'State of retention_curve: customers, and per period offset the observed, active, at-risk and retained counts';
CREATE FUNCTION customer_segment.retention_curve_trans(customer_segment.retention_curve_state, varbit)
RETURNS customer_segment.retention_curve_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_combine(customer_segment.retention_curve_state, customer_segment.retention_curve_state)
RETURNS customer_segment.retention_curve_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_final(customer_segment.retention_curve_state)
RETURNS customer_segment.retention_counts AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.retention_curve(activity varbit) (
    SFUNC = customer_segment.retention_curve_trans,
    STYPE = customer_segment.retention_curve_state,
    FINALFUNC = customer_segment.retention_curve_final,
    COMBINEFUNC = customer_segment.retention_curve_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE customer_segment.retention_curve(varbit) IS
    'Period-over-period retention counts by offset since acquisition over purchase_activity bit strings (group by cohort for cohort curves)';

-- The cohort retention query over per-customer (cohort date, activity varbit) given as SQL; $1 as_of, $2 period.
CREATE FUNCTION customer_segment.cohort_sql(per_customer text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $f$
    SELECT format($q$
        WITH per_customer AS (
            %s
        ), curves AS (
            SELECT p.cohort, customer_segment.retention_curve(p.activity) AS c
              FROM per_customer p WHERE p.activity IS NOT NULL GROUP BY p.cohort
        )
        SELECT c.cohort, (k - 1)::integer, (c.c).customers, (c.c).observed[k], (c.c).active[k],
               (c.c).active[k]::float8 / (c.c).observed[k], (c.c).at_risk[k], (c.c).retained[k],
               CASE WHEN (c.c).at_risk[k] > 0 THEN (c.c).retained[k]::float8 / (c.c).at_risk[k] END
          FROM curves c, generate_series(1, cardinality((c.c).observed)) k
         ORDER BY 1, 2
    $q$, per_customer)
$f$;
COMMENT ON FUNCTION customer_segment.cohort_sql(text) IS
    'Text of the cohort retention query over per-customer (cohort, activity) given as SQL';

CREATE FUNCTION customer_segment.cohort_retention(source regclass, customer_column name, time_column name,
    amount_column name, as_of date DEFAULT current_date, period text DEFAULT 'month', zone text DEFAULT NULL)
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    t record;
    first_day text;
BEGIN
    IF as_of IS NULL OR period IS NULL THEN
        RAISE EXCEPTION 'as_of and period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.check_period(period);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    t := customer_segment.aggregate_time_sql(source, time_column, zone);
    IF t.zone_arg <> '' THEN
        -- a timestamptz in a zone: the first purchase up to as_of is the earliest instant before the next
        -- day begins in zone, its day taken once a customer
        first_day := format('(min(o.t) FILTER (WHERE o.amount >= 0 AND o.t < (($1 + 1)::timestamp AT TIME ZONE %1$L)) AT TIME ZONE %1$L)::date',
                            zone);
    ELSE
        first_day := 'min(o.t::date) FILTER (WHERE o.amount >= 0 AND o.t::date <= $1)';
    END IF;
    -- OFFSET 0: each order's time computed once, not once per use
    RETURN QUERY EXECUTE customer_segment.cohort_sql(format(
        'SELECT date_trunc($2, %5$s)::date AS cohort, customer_segment.purchase_activity(o.t, o.amount, $1, $2%6$s) AS activity
           FROM (SELECT %1$s AS customer, %2$s AS t, %3$s AS amount FROM %4$s WHERE %1$s IS NOT NULL OFFSET 0) o
          GROUP BY o.customer',
        src.customer_expr, t.time_expr, src.amount_expr, src.from_clause, first_day, t.zone_arg)) USING as_of, period;
END
$$;
COMMENT ON FUNCTION customer_segment.cohort_retention(regclass, name, name, name, date, text, text) IS
    'Cohort retention matrix (a timestamptz on its date in zone; NULL: the session''s TimeZone): per acquisition cohort and period offset, customers active, share of the cohort active, and period-over-period retention (active in k and k+1 / active in k and observed in k+1)';

CREATE FUNCTION customer_segment.clv_analyze(source regclass, customer_column name, time_column name,
    amount_column name, as_of date DEFAULT current_date, annual_discount float8 DEFAULT 0.10,
    margin_rate float8 DEFAULT 1.0, period text DEFAULT 'month', periods integer DEFAULT NULL,
    retention_rate float8 DEFAULT NULL, timing text DEFAULT 'end', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, first_purchase date, last_purchase date, orders bigint, monetary_total float8,
               active_periods bigint, periods_since_active float8, margin_per_period float8, retention float8,
               discount_per_period float8, historical_value float8, projected_clv float8, total_clv float8,
               clv_rank bigint, clv_decile integer)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    t record;
    r float8 := retention_rate;
    d float8;
BEGIN
    IF as_of IS NULL OR annual_discount IS NULL OR margin_rate IS NULL OR period IS NULL OR timing IS NULL THEN
        RAISE EXCEPTION 'clv_analyze arguments other than periods and retention must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.check_period(period);
    IF margin_rate <> margin_rate OR margin_rate < 0 OR margin_rate > 1 THEN
        RAISE EXCEPTION 'margin_rate must be between 0 and 1' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', margin_rate), HINT = 'The share of revenue that is profit, e.g. 0.3.';
    END IF;
    d := customer_segment.period_rate(annual_discount, period);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    -- the timestamptz and its zone to the C aggregates (aggregate_time_sql), each order's day taken there
    t := customer_segment.aggregate_time_sql(source, time_column, zone);
    IF r IS NULL THEN
        -- Pooled period-over-period retention of all customers, from the orders themselves.
        EXECUTE format($q$
            SELECT (customer_segment.retention_curve(a)).rate FROM (
                SELECT customer_segment.purchase_activity(%2$s, %3$s, $1, $2%5$s) AS a
                  FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s) x
        $q$, src.customer_expr, t.time_expr, src.amount_expr, src.from_clause, t.zone_arg) INTO r USING as_of, period;
        IF r IS NULL THEN
            RAISE EXCEPTION 'retention cannot be estimated: no customer was observed for two periods'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass retention_rate explicitly.';
        END IF;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH s AS (
            SELECT %1$s::text AS customer_id,
                   customer_segment.rfm_summary(%2$s, %3$s, $1, $2, $2%5$s) AS s,
                   customer_segment.clv_historical(%2$s, %3$s, $1, $3, $4, 'annual'%5$s) AS hist
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), v AS (
            SELECT s.customer_id, (s.s).first_purchase, (s.s).last_purchase, (s.s).orders, (s.s).monetary_total,
                   (s.s).frequency + 1 AS active_periods,
                   (s.s).t - (s.s).recency AS periods_since_active,
                   (s.s).monetary_total * $4 / ((s.s).frequency + 1) AS margin_per_period, s.hist
              FROM s WHERE (s.s).orders > 0
        ), p AS (
            -- each silent period since the last purchase counts as one more retention step
            SELECT v.*, customer_segment.clv_retention(v.margin_per_period, $5, $6, $7, $8)
                        * power($5, v.periods_since_active) AS projected
              FROM v
        )
        SELECT p.customer_id, p.first_purchase, p.last_purchase, p.orders, p.monetary_total, p.active_periods,
               p.periods_since_active, p.margin_per_period, $5, $6, p.hist, p.projected, p.hist + p.projected,
               rank() OVER (ORDER BY p.projected DESC),
               customer_segment.score(p.projected, customer_segment.score_breakpoints(p.projected, 10) OVER ())
          FROM p
    $q$, src.customer_expr, t.time_expr, src.amount_expr, src.from_clause, t.zone_arg)
    USING as_of, period, annual_discount, margin_rate, r, d, periods, timing;
END
$$;
COMMENT ON FUNCTION customer_segment.clv_analyze(regclass, name, name, name, date, float8, float8, text, integer, float8, text, text) IS
    'Per customer (a timestamptz on its date in zone; NULL: the session''s TimeZone): realised discounted value to as_of, margin per active period, projected retention-model CLV times retention^(periods since last purchase) (retention estimated from the orders unless given), rank and tie-safe decile (10 = highest)';

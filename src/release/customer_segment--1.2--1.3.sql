-- customer_segment 1.2 -> 1.3: business time zones, and helper views that call one function each.
-- Every computation that turns a timestamptz into a day can take an explicit zone: rfm_summary,
-- purchase_activity and clv_historical have signatures with a zone argument, and rfm_analyze,
-- cohort_retention, clv_analyze and btyd_analyze a zone parameter (NULL: the session's TimeZone, as before).
-- A source stores its business time zone (sources.time_zone: the session's TimeZone at registration, for
-- sources registered before 1.3 the TimeZone of the session that runs this update; set_source_time_zone
-- changes it), and its refresh takes days, and today when as_of is NULL, in that zone.
-- The helper views of every registered source are recreated once, as SELECT * FROM
-- customer_segment.source_<helper>(name), with their owner, comments and grants, and recomputed when they
-- held data; from now on a release changes those functions, not objects in users' schemas.  The update stops
-- before changing anything when objects of users depend on a helper view or on a replaced function.
\echo Use "ALTER EXTENSION customer_segment UPDATE TO '1.3'" to load this file. \quit

-- Objects of users that would have to be dropped: refuse before changing anything.
DO $update$
DECLARE
    found text;
BEGIN
    WITH helper AS (
        SELECT c.oid FROM customer_segment.sources s, customer_segment.source_views(s) v
          JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(v.view_name)
    ), replaced AS (
        SELECT p.oid FROM pg_catalog.pg_proc p
         WHERE p.oid IN ('customer_segment.rfm_analyze(regclass, name, name, name, date, integer, text, text, text)'::pg_catalog.regprocedure,
                         'customer_segment.cohort_retention(regclass, name, name, name, date, text)'::pg_catalog.regprocedure,
                         'customer_segment.clv_analyze(regclass, name, name, name, date, float8, float8, text, integer, float8, text)'::pg_catalog.regprocedure,
                         'customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8)'::pg_catalog.regprocedure)
    )
    SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%s depends on %s', r.ev_class::pg_catalog.regclass,
               CASE WHEN d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    THEN d.refobjid::pg_catalog.regclass::text ELSE d.refobjid::pg_catalog.regprocedure::text END), '; ')
      INTO found
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = d.objid
     WHERE ((d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid IN (SELECT oid FROM helper))
            OR (d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.refobjid IN (SELECT oid FROM replaced)))
       AND r.ev_class NOT IN (SELECT oid FROM helper)
       AND r.ev_class <> d.refobjid;
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'customer_segment 1.3 recreates the helper views of registered sources and replaces four functions, and objects of yours depend on them'
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = found || '.',
                  HINT = 'Save their definitions (pg_dump --schema-only -t ...), drop them, run ALTER EXTENSION customer_segment UPDATE again, then create them again.';
    END IF;
END
$update$;

-- Aggregates with a business time zone (new signatures; the others are unchanged).
CREATE FUNCTION customer_segment.install_aggregate(agg text, signatures text[], c_trans text, sql_trans text,
    final text, combine text, serial text, deserial text, volatility text, comment text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    sig text;
BEGIN
    FOREACH sig IN ARRAY signatures LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION customer_segment.%I(internal, %s) RETURNS internal
                        AS %L, %L LANGUAGE C %s PARALLEL SAFE', sql_trans, sig, 'MODULE_PATHNAME', c_trans, volatility);
        EXECUTE format('CREATE AGGREGATE customer_segment.%I(%s) (SFUNC = customer_segment.%I, STYPE = internal,
                        FINALFUNC = customer_segment.%I, COMBINEFUNC = customer_segment.%I,
                        SERIALFUNC = customer_segment.%I, DESERIALFUNC = customer_segment.%I, PARALLEL = SAFE)',
                       agg, sig, sql_trans, final, combine, serial, deserial);
        EXECUTE format('COMMENT ON AGGREGATE customer_segment.%I(%s) IS %L', agg, sig, comment);
    END LOOP;
END
$$;
-- And with a business time zone: the day of a timestamptz is its date in zone, whatever the session's.
SELECT customer_segment.install_aggregate('rfm_summary',
    ARRAY['timestamptz, numeric, date, text, text, text', 'timestamptz, float8, date, text, text, text'],
    'rfm_summary_trans', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine',
    'rfm_summary_serialize', 'rfm_summary_deserialize', 'STABLE',
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of, '
    'each order on its date in zone (NULL: the session''s TimeZone); '
    'NULL times/amounts are skipped and counted, negative amounts are refunds');
SELECT customer_segment.install_aggregate('clv_historical',
    ARRAY['timestamptz, numeric, date, float8, float8, text, text', 'timestamptz, float8, date, float8, float8, text, text'],
    'clv_historical_trans', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine',
    'clv_historical_serialize', 'clv_historical_deserialize', 'STABLE',
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) '
    '(or exp(annual_rate * years) with compounding ''continuous''), day = the order''s date in zone '
    '(NULL: the session''s TimeZone); NULL rows skipped');
SELECT customer_segment.install_aggregate('purchase_activity',
    ARRAY['timestamptz, numeric, date, text, text', 'timestamptz, float8, date, text, text'],
    'rfm_activity_trans', 'rfm_activity_trans', 'rfm_activity_final', 'rfm_summary_combine',
    'rfm_summary_serialize', 'rfm_summary_deserialize', 'STABLE',
    'Bit string of purchase periods (day, week or month) from the first purchase period to the as_of period, '
    'each order on its date in zone (NULL: the session''s TimeZone); bit k set = bought in period k; '
    'refunds are not purchases');
DROP FUNCTION customer_segment.install_aggregate(text, text[], text, text, text, text, text, text, text, text);

-- Reading orders in a zone.
CREATE FUNCTION customer_segment.check_time_zone(zone text)
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF zone IS NOT NULL THEN
        PERFORM TIMESTAMPTZ '2000-01-01 00:00+00' AT TIME ZONE zone;
    END IF;
    RETURN zone;
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'time zone "%" is not recognized', zone USING ERRCODE = 'invalid_parameter_value',
        HINT = 'Use a name from pg_timezone_names, e.g. ''Europe/Berlin'' or ''UTC''.';
END
$$;
COMMENT ON FUNCTION customer_segment.check_time_zone(text) IS
    'Returns zone when AT TIME ZONE accepts it (NULL stays NULL), raises 22023 otherwise';
DROP FUNCTION customer_segment.orders_source_sql(regclass, name, name, name);
CREATE FUNCTION customer_segment.orders_source_sql(source regclass, customer_column name, time_column name,
    amount_column name, zone text DEFAULT NULL,
    OUT customer_expr text, OUT time_expr text, OUT amount_expr text, OUT from_clause text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    time_type regtype;
BEGIN
    IF source IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'the orders table and its column names must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    customer_expr := customer_segment.safe_key_sql(source, customer_column);
    time_type := customer_segment.column_type(source, time_column);
    PERFORM customer_segment.check_time_zone(zone);
    time_expr := CASE
        WHEN time_type = 'date'::regtype THEN format('o.%I', time_column)
        WHEN time_type = 'timestamptz'::regtype AND zone IS NULL THEN format('o.%I', time_column)
        WHEN time_type = 'timestamptz'::regtype THEN format('(o.%I AT TIME ZONE %L)::date', time_column, zone)
        WHEN time_type = 'timestamp'::regtype THEN format('o.%I::date', time_column)
    END;
    IF time_expr IS NULL THEN
        RAISE EXCEPTION 'column "%" has type %, expected date, timestamp or timestamptz', time_column, time_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    amount_expr := customer_segment.number_sql(source, amount_column);
    from_clause := format('%s o', source);
END
$$;
COMMENT ON FUNCTION customer_segment.orders_source_sql(regclass, name, name, name, text) IS
    'Validated, quoted SQL expressions for the customer, time (a day, timestamptz taken in zone) and amount columns of an orders table';

-- One-call functions with a zone parameter.
CREATE FUNCTION customer_segment.rfm_analyze(
    source regclass,
    customer_column name,
    time_column name,
    amount_column name,
    as_of date DEFAULT current_date,
    bins integer DEFAULT 5,
    rule_set text DEFAULT 'standard',
    granularity text DEFAULT 'day',
    unit text DEFAULT 'day',
    zone text DEFAULT NULL)
RETURNS TABLE (
    customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
    refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
    monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
    monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
    fm_score float8, rfm_score float8, segment text, action text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
BEGIN
    IF as_of IS NULL OR bins IS NULL OR rule_set IS NULL OR granularity IS NULL OR unit IS NULL THEN
        RAISE EXCEPTION 'rfm_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF bins < 2 OR bins > 100 THEN
        RAISE EXCEPTION 'bins must be between 2 and 100' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', bins), HINT = 'RFM scores usually use 5 bins (quintiles).';
    END IF;
    PERFORM customer_segment.check_period(granularity, 'granularity');
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);

    RETURN QUERY EXECUTE format($q$
        WITH per_customer AS (
            SELECT %1$s::text AS customer_id,
                   customer_segment.rfm_summary(%2$s, %3$s, $1, $2, $3) AS s
              FROM %4$s
             WHERE %1$s IS NOT NULL
             GROUP BY %1$s
        ), flat AS (
            -- NOT (s IS NULL): a summary with some NULL fields (refunds only) is kept
            SELECT p.customer_id, (p.s).* FROM per_customer p WHERE NOT (p.s IS NULL)
        ), segment_map AS (
            -- the rules' 125 cells (scores rescaled to 1..5, as rescale_score) as arrays, so each customer is
            -- a subscript, not a join, and the array stays small whatever the number of bins
            SELECT array_agg(g.segment ORDER BY g.r, g.f, g.m) AS segments,
                   array_agg(g.action ORDER BY g.r, g.f, g.m) AS actions
              FROM customer_segment.rfm_segment_map(5, $5) g
        ), population AS (
            SELECT customer_segment.score_breakpoints(x.recency_days, $4) AS r_breaks,
                   customer_segment.score_breakpoints(x.orders, $4) AS f_breaks,
                   customer_segment.score_breakpoints(x.monetary_total, $4) AS m_breaks
              FROM flat x WHERE x.orders > 0
        ), scored AS (
            SELECT x.*,
                   -- customers with refunds only are listed but not scored
                   CASE WHEN x.orders > 0 THEN customer_segment.score(x.recency_days, p.r_breaks, false) END AS r_score,
                   CASE WHEN x.orders > 0 THEN customer_segment.score(x.orders, p.f_breaks) END AS f_score,
                   CASE WHEN x.orders > 0 THEN customer_segment.score(x.monetary_total, p.m_breaks) END AS m_score
              FROM flat x CROSS JOIN population p
        )
        SELECT s.customer_id, s.first_purchase, s.last_purchase, s.orders, s.purchase_days,
               s.refunds_count, s.recency_days, s.tenure_days, s.revenue, s.refunds,
               s.monetary_total, s.monetary_avg, s.frequency, s.recency, s.t, s.monetary_value,
               s.r_score, s.f_score, s.m_score, customer_segment.rfm_cell(s.r_score, s.f_score, s.m_score),
               customer_segment.fm_score(s.f_score, s.m_score),
               customer_segment.rfm_weighted_score(s.r_score, s.f_score, s.m_score),
               g.segments[s.cell_index], g.actions[s.cell_index]
          FROM (SELECT sc.*, ((1 + floor((sc.r_score - 1) * 4.0 / ($4 - 1) + 0.5)::integer - 1) * 25
                              + (1 + floor((sc.f_score - 1) * 4.0 / ($4 - 1) + 0.5)::integer - 1) * 5
                              + 1 + floor((sc.m_score - 1) * 4.0 / ($4 - 1) + 0.5)::integer) AS cell_index
                  FROM scored sc) s
          CROSS JOIN segment_map g
        $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING as_of, granularity, unit, bins, rule_set;
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_analyze(regclass, name, name, name, date, integer, text, text, text, text) IS
    'Per customer of an orders table (a timestamptz on its date in zone; NULL: the session''s TimeZone): rfm_summary, R/F/M quantile scores (F = orders, M = net spend), cell, FM and RFM scores, segment and action';
CREATE FUNCTION customer_segment.cohort_retention(source regclass, customer_column name, time_column name,
    amount_column name, as_of date DEFAULT current_date, period text DEFAULT 'month', zone text DEFAULT NULL)
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
BEGIN
    IF as_of IS NULL OR period IS NULL THEN
        RAISE EXCEPTION 'as_of and period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.check_period(period);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH per_customer AS (
            SELECT date_trunc($2, min(%2$s::date) FILTER (WHERE %3$s >= 0 AND %2$s::date <= $1))::date AS cohort,
                   customer_segment.purchase_activity(%2$s, %3$s, $1, $2) AS activity
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), curves AS (
            SELECT p.cohort, customer_segment.retention_curve(p.activity) AS c
              FROM per_customer p WHERE p.activity IS NOT NULL GROUP BY p.cohort
        )
        SELECT c.cohort, (k - 1)::integer, (c.c).customers, (c.c).observed[k], (c.c).active[k],
               (c.c).active[k]::float8 / (c.c).observed[k], (c.c).at_risk[k], (c.c).retained[k],
               CASE WHEN (c.c).at_risk[k] > 0 THEN (c.c).retained[k]::float8 / (c.c).at_risk[k] END
          FROM curves c, generate_series(1, cardinality((c.c).observed)) k
         ORDER BY 1, 2
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause) USING as_of, period;
END
$$;
COMMENT ON FUNCTION customer_segment.cohort_retention(regclass, name, name, name, date, text, text) IS
    'Cohort retention matrix (a timestamptz on its date in zone; NULL: the session''s TimeZone): per acquisition cohort and period offset, customers active, share of the cohort active, and period-over-period retention (active in k and k+1 / active in k and observed in k+1)';
DROP FUNCTION customer_segment.clv_analyze(regclass, name, name, name, date, float8, float8, text, integer, float8, text);
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
    IF r IS NULL THEN
        -- Pooled period-over-period retention of all customers, from the orders themselves.
        EXECUTE format($q$
            SELECT (customer_segment.retention_curve(a)).rate FROM (
                SELECT customer_segment.purchase_activity(%2$s, %3$s, $1, $2) AS a
                  FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s) x
        $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause) INTO r USING as_of, period;
        IF r IS NULL THEN
            RAISE EXCEPTION 'retention cannot be estimated: no customer was observed for two periods'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass retention_rate explicitly.';
        END IF;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH s AS (
            SELECT %1$s::text AS customer_id,
                   customer_segment.rfm_summary(%2$s, %3$s, $1, $2, $2) AS s,
                   customer_segment.clv_historical(%2$s, %3$s, $1, $3, $4, 'annual') AS hist
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
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING as_of, period, annual_discount, margin_rate, r, d, periods, timing;
END
$$;
COMMENT ON FUNCTION customer_segment.clv_analyze(regclass, name, name, name, date, float8, float8, text, integer, float8, text, text) IS
    'Per customer (a timestamptz on its date in zone; NULL: the session''s TimeZone): realised discounted value to as_of, margin per active period, projected retention-model CLV times retention^(periods since last purchase) (retention estimated from the orders unless given), rank and tie-safe decile (10 = highest)';
DROP FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8);
CREATE FUNCTION customer_segment.btyd_analyze(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, horizon float8 DEFAULT 12, unit text DEFAULT 'week',
    margin float8 DEFAULT 1, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    penalizer float8 DEFAULT 0, zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency bigint, recency float8, t float8, monetary_value float8,
               p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    per_month float8;
BEGIN
    IF calibration_end IS NULL OR horizon IS NULL OR unit IS NULL OR margin IS NULL OR months IS NULL
       OR monthly_discount IS NULL OR penalizer IS NULL THEN
        RAISE EXCEPTION 'btyd_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    per_month := CASE customer_segment.check_period(unit, 'unit') WHEN 'day' THEN 30 WHEN 'week' THEN 4.345 ELSE 1 END;
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT %1$s::text AS customer_id, (customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $2)).*
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), models AS (
            SELECT customer_segment.bgnbd_fit(s.frequency, s.recency, s.t, $8) AS bg,
                   customer_segment.gamma_gamma_fit(s.frequency, s.monetary_value, $8)
                       FILTER (WHERE s.frequency = 0 OR s.monetary_value > 0) AS gg
              FROM s WHERE s.orders > 0
        )
        SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary_value,
               customer_segment.bgnbd_p_alive(m.bg, s.frequency, s.recency, s.t),
               customer_segment.bgnbd_expected_purchases(m.bg, $3, s.frequency, s.recency, s.t),
               e.spend,
               customer_segment.bgnbd_clv(m.bg, s.frequency, s.recency, s.t, e.spend, $5, $6, $7, $4)
          FROM s CROSS JOIN models m,
               LATERAL (SELECT customer_segment.gamma_gamma_expected_spend(m.gg, s.frequency,
                                   CASE WHEN s.monetary_value > 0 THEN s.monetary_value ELSE 0 END) AS spend) e
         WHERE s.orders > 0
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING calibration_end, unit, horizon, margin, months, monthly_discount, per_month, penalizer;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text) IS
    'Summarises orders up to calibration_end (day purchases, a timestamptz on its date in zone or the session''s TimeZone when NULL, reported in unit), fits BG/NBD and Gamma-Gamma, and returns per customer P(alive), expected purchases in horizon units, expected spend and discounted CLV';

-- Sources keep their business time zone.
ALTER TABLE customer_segment.sources ADD COLUMN time_zone text NOT NULL DEFAULT current_setting('TimeZone');
COMMENT ON COLUMN customer_segment.sources.time_zone IS 'Business time zone: the day of a timestamptz order, and today when as_of is NULL, are taken in it';
CREATE OR REPLACE FUNCTION customer_segment.source_as_of(source text, OUT as_of date)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT coalesce(s.as_of, (now() AT TIME ZONE s.time_zone)::date)
      FROM customer_segment.sources s WHERE s.name = source_as_of.source
$$;
COMMENT ON FUNCTION customer_segment.source_as_of(text) IS 'as_of of a source, or today in the source''s time zone when it has none';
CREATE FUNCTION customer_segment.create_source_views(src customer_segment.sources)
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        EXECUTE format('CREATE MATERIALIZED VIEW %s AS %s WITH NO DATA', v.view_name, v.definition);
        EXECUTE format('CREATE UNIQUE INDEX ON %s (%s)', v.view_name, v.unique_key);
        EXECUTE format('COMMENT ON MATERIALIZED VIEW %s IS %L', v.view_name, v.comment || ' (customer_segment source ' || src.name || ')');
        RETURN NEXT v.view_name;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.create_source_views(customer_segment.sources) IS
    'Creates the helper materialized views of a source, empty, with their unique indexes and comments; returns their names';
DROP FUNCTION customer_segment.register_source(text, regclass, name, name, name, name, integer, text, date, integer, text);
CREATE FUNCTION customer_segment.register_source(name text, orders regclass, customer_column name,
    time_column name, amount_column name, target_schema name DEFAULT NULL, bins integer DEFAULT 5,
    rule_set text DEFAULT 'standard', as_of date DEFAULT NULL, history_days integer DEFAULT NULL,
    tier_ladder text DEFAULT NULL, time_zone text DEFAULT current_setting('TimeZone'))
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
BEGIN
    PERFORM customer_segment.orders_source_sql(orders, customer_column, time_column, amount_column);
    IF NOT has_table_privilege(orders, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied to read %', orders USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM customer_segment.rfm_segment_rules r WHERE r.rule_set = register_source.rule_set) THEN
        RAISE EXCEPTION 'rule set "%" does not exist', rule_set USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tier_ladder IS NOT NULL THEN
        PERFORM customer_segment.check_tier_ladder(tier_ladder);
    END IF;
    IF time_zone IS NULL THEN
        RAISE EXCEPTION 'time_zone must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the zone the business counts its days in, e.g. ''Europe/Berlin''.';
    END IF;
    INSERT INTO customer_segment.sources (name, orders, customer_column, time_column, amount_column, target_schema, bins,
                                          rule_set, as_of, history_days, tier_ladder, time_zone)
    VALUES (name, orders, customer_column, time_column, amount_column,
            coalesce(target_schema, (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                      WHERE c.oid = orders)), bins, rule_set, as_of, history_days, tier_ladder,
            customer_segment.check_time_zone(time_zone))
    RETURNING * INTO src;
    RETURN QUERY SELECT customer_segment.create_source_views(src);
END
$$;
COMMENT ON FUNCTION customer_segment.register_source(text, regclass, name, name, name, name, integer, text, date, integer, text, text) IS
    'Registers an orders table with its business time zone (default: the session''s) and creates its helper materialized views (empty until the first refresh); returns their names';
CREATE FUNCTION customer_segment.set_source_time_zone(source text, time_zone text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.get_source(source);
    IF time_zone IS NULL THEN
        RAISE EXCEPTION 'time_zone must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE customer_segment.sources s SET time_zone = customer_segment.check_time_zone(set_source_time_zone.time_zone)
     WHERE s.name = set_source_time_zone.source;
END
$$;
COMMENT ON FUNCTION customer_segment.set_source_time_zone(text, text) IS
    'Sets the business time zone of a source (22023 for a zone AT TIME ZONE does not know); the next refresh uses it';

-- What the helper views compute, one function each.
CREATE FUNCTION customer_segment.source_customers(source text)
RETURNS TABLE (customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
               refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
               monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
               monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
               fm_score float8, rfm_score float8, segment text, action text, lifecycle_stage text, quadrant text,
               tier text, p_alive float8, expected_purchases_90d float8, expected_spend float8, clv_12m float8,
               as_of date)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
#variable_conflict use_column
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
BEGIN
    RETURN QUERY
    WITH a AS MATERIALIZED (
        SELECT a.*, d.as_of
          FROM customer_segment.source_as_of(src.name) d,
               LATERAL customer_segment.rfm_analyze(src.orders, src.customer_column, src.time_column, src.amount_column,
                                                    d.as_of, src.bins, src.rule_set, zone => src.time_zone) a
    ), fit AS (
        -- Models only when the data can identify them; otherwise the prediction columns stay NULL.
        SELECT customer_segment.bgnbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE f.buyers >= 10 AND f.repeaters >= 10) AS bg,
               customer_segment.gamma_gamma_fit(a.frequency, a.monetary_value)
                   FILTER (WHERE f.repeaters >= 10 AND (a.frequency = 0 OR a.monetary_value > 0)) AS gg
          FROM a, (SELECT count(*) AS buyers, count(*) FILTER (WHERE frequency > 0 AND monetary_value > 0) AS repeaters
                     FROM a WHERE orders > 0) f
         WHERE a.orders > 0
    )
    SELECT a.customer_id, a.first_purchase, a.last_purchase, a.orders, a.purchase_days, a.refunds_count,
           a.recency_days, a.tenure_days, a.revenue, a.refunds, a.monetary_total, a.monetary_avg,
           a.frequency, a.recency, a.t, a.monetary_value, a.r_score, a.f_score, a.m_score, a.rfm_cell,
           a.fm_score, a.rfm_score, a.segment, a.action,
           customer_segment.lifecycle_stage(a.first_purchase, a.last_purchase, a.orders, a.as_of),
           CASE WHEN a.orders > 0 THEN customer_segment.quadrant(a.monetary_total, a.orders,
                (customer_segment.score_breakpoints(a.monetary_total, 2) FILTER (WHERE a.orders > 0) OVER ())[1],
                (customer_segment.score_breakpoints(a.orders, 2) FILTER (WHERE a.orders > 0) OVER ())[1],
                'value', 'engagement') END,
           CASE WHEN src.tier_ladder IS NOT NULL THEN customer_segment.tier_for(src.tier_ladder, a.monetary_total) END,
           CASE WHEN a.orders > 0 THEN customer_segment.bgnbd_p_alive(fit.bg, a.frequency, a.recency, a.t) END,
           CASE WHEN a.orders > 0 THEN customer_segment.bgnbd_expected_purchases(fit.bg, 90, a.frequency, a.recency, a.t) END,
           p.spend,
           CASE WHEN a.orders > 0 THEN customer_segment.bgnbd_clv(fit.bg, a.frequency, a.recency, a.t, p.spend, 12, 0.01, 30, 1) END,
           a.as_of
      FROM a CROSS JOIN fit,
           LATERAL (SELECT CASE WHEN a.orders > 0 AND (fit.gg).q > 1 THEN customer_segment.gamma_gamma_expected_spend(fit.gg,
                                a.frequency, greatest(a.monetary_value, 0)) END AS spend) p;
END
$$;
COMMENT ON FUNCTION customer_segment.source_customers(text) IS
    'The rows of a source''s customers helper view, computed now: RFM analysis in the source''s time zone, '
    'lifecycle stage, quadrant, tier, BG/NBD and Gamma-Gamma predictions';
CREATE FUNCTION customer_segment.source_customers_view(src customer_segment.sources)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || '_customers')
$$;
COMMENT ON FUNCTION customer_segment.source_customers_view(customer_segment.sources) IS
    'Qualified name of the customers helper view of a source';
CREATE FUNCTION customer_segment.source_segments(source text)
RETURNS TABLE (segment text, customers bigint, share numeric, revenue numeric, avg_revenue numeric,
               avg_recency_days numeric, avg_orders numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT coalesce(segment, '(not scored)'), count(*), round(count(*)::numeric / sum(count(*)) OVER (), 4),
               round(sum(monetary_total)::numeric, 2), round(avg(monetary_total)::numeric, 2),
               round(avg(recency_days), 1), round(avg(orders), 2)
          FROM %s GROUP BY 1$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_segments(text) IS 'Rows of a source''s segments helper view';
CREATE FUNCTION customer_segment.source_rf_grid(source text)
RETURNS TABLE (r_score integer, f_score integer, customers bigint, revenue numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT coalesce(r_score, 0), coalesce(f_score, 0), count(*), round(sum(monetary_total)::numeric, 2)
          FROM %s GROUP BY 1, 2$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_rf_grid(text) IS 'Rows of a source''s rf_grid helper view';
CREATE FUNCTION customer_segment.source_lifecycle(source text)
RETURNS TABLE (lifecycle_stage text, customers bigint, revenue numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT lifecycle_stage, count(*), round(sum(monetary_total)::numeric, 2)
          FROM %s GROUP BY 1$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_lifecycle(text) IS 'Rows of a source''s lifecycle helper view';
CREATE FUNCTION customer_segment.source_tiers(source text)
RETURNS TABLE (tier text, customers bigint, revenue numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT coalesce(tier, '(none)'), count(*), round(sum(monetary_total)::numeric, 2)
          FROM %s GROUP BY 1$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_tiers(text) IS 'Rows of a source''s tiers helper view';
CREATE FUNCTION customer_segment.source_cohorts(source text)
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT c.*
      FROM customer_segment.sources s,
           LATERAL customer_segment.cohort_retention(s.orders, s.customer_column, s.time_column, s.amount_column,
                                                     customer_segment.source_as_of(s.name), 'month', s.time_zone) c
     WHERE s.name = source_cohorts.source
$$;
COMMENT ON FUNCTION customer_segment.source_cohorts(text) IS 'Rows of a source''s cohorts helper view: monthly cohort retention in the source''s time zone';
CREATE OR REPLACE FUNCTION customer_segment.source_views(src customer_segment.sources)
RETURNS TABLE (view_name text, definition text, unique_key text, comment text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || v.suffix),
           format('SELECT * FROM customer_segment.%I(%L)', 'source' || v.suffix, src.name), v.unique_key, v.comment
      FROM (VALUES
        (1, '_customers', 'customer_id',
         'Per customer: RFM summary, scores, cell, segment and action, lifecycle stage, value/engagement quadrant '
         '(cuts at the medians), tier on the source''s ladder (net spend to as_of), BG/NBD P(alive) and expected '
         'purchases in 90 days, Gamma-Gamma expected spend and 12-month CLV at 1% a month (time in days), as of the last refresh'),
        (2, '_segments', 'segment', 'Segment sizes, shares and revenue'),
        (3, '_rf_grid', 'r_score, f_score', 'Customers and revenue per R x F cell (0 = not scored), for heat maps'),
        (4, '_lifecycle', 'lifecycle_stage', 'Customers and revenue per lifecycle stage'),
        (5, '_tiers', 'tier', 'Customers and revenue per tier ((none) without a ladder or below it)'),
        (6, '_cohorts', 'cohort, period_offset', 'Monthly cohort retention matrix: share of each acquisition cohort active k months later')
      ) v(ord, suffix, unique_key, comment)
     ORDER BY v.ord
$$;
COMMENT ON FUNCTION customer_segment.source_views(customer_segment.sources) IS 'Helper views of a source: name, query, unique key, comment';

-- Recreate the helper views of every source as calls of those functions: same names, columns, owner,
-- comments and grants; recomputed when they held data (not logged, no history snapshot).
DO $update$
DECLARE
    src customer_segment.sources;
    v record;
    g record;
    populated boolean;
    grants text[];
    stmt text;
BEGIN
    FOR src IN SELECT * FROM customer_segment.sources ORDER BY name LOOP
        populated := false;
        grants := '{}';
        FOR v IN SELECT * FROM customer_segment.source_views(src) ORDER BY view_name DESC LOOP
            IF pg_catalog.to_regclass(v.view_name) IS NOT NULL THEN
                populated := populated OR (SELECT c.relispopulated FROM pg_catalog.pg_class c WHERE c.oid = v.view_name::pg_catalog.regclass);
                FOR g IN SELECT a.grantee, a.privilege_type, a.is_grantable
                           FROM pg_catalog.pg_class c, LATERAL pg_catalog.aclexplode(c.relacl) a
                          WHERE c.oid = v.view_name::pg_catalog.regclass AND a.grantee <> c.relowner LOOP
                    grants := grants || pg_catalog.format('GRANT %s ON %s TO %s%s', g.privilege_type, v.view_name,
                        CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
                        CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
                END LOOP;
                EXECUTE pg_catalog.format('DROP MATERIALIZED VIEW %s', v.view_name);
            END IF;
        END LOOP;
        PERFORM customer_segment.create_source_views(src);
        FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
            -- created by this script, yet the user's, as register_source makes them: not members of the extension
            EXECUTE pg_catalog.format('ALTER EXTENSION customer_segment DROP MATERIALIZED VIEW %s', v.view_name);
            EXECUTE pg_catalog.format('ALTER MATERIALIZED VIEW %s OWNER TO %I', v.view_name, src.registered_by);
        END LOOP;
        FOREACH stmt IN ARRAY grants LOOP
            EXECUTE stmt;
        END LOOP;
        IF populated THEN
            -- as the owner, as refresh would; a failure leaves the views empty until the next refresh
            BEGIN
                FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
                    EXECUTE pg_catalog.format('REFRESH MATERIALIZED VIEW %s', v.view_name);
                END LOOP;
            EXCEPTION WHEN OTHERS THEN
                RAISE WARNING 'helper views of source "%" are empty until its next refresh: %', src.name, SQLERRM;
            END;
        END IF;
    END LOOP;
END
$update$;

-- Now unused: the 1.2 signatures.
DROP FUNCTION customer_segment.rfm_analyze(regclass, name, name, name, date, integer, text, text, text);
DROP FUNCTION customer_segment.cohort_retention(regclass, name, name, name, date, text);

-- customer_segment 1.7 -> 1.8: a sound privilege model.  The work of a refresh, a report or a scheduled job
-- on a registered source runs as the source's owner in a security-restricted operation (run_as_owner,
-- run_as_source_owner); btyd_analyze's covariates key goes through safe_key_sql; users write the tables of
-- sources, increments, history and log only through the registry (registry_write), which checks the calling
-- role and records the relations created for each source (source_relations); history partitions only for
-- days a snapshot can have, dropped only while no snapshot is being written, by the registry alone; the
-- settings of a source are checked on registration and UPDATE (checked_source_settings);
-- btyd_p_alive_history in one sort instead of a count per period; subscriptions (the sBG model, sbg_analyze),
-- model choice (btyd_fit_criteria, btyd_lr_test, btyd_model_choice) and day_sql; the helper views' data in
-- tables a refresh fills once, in one transaction (fill_source_views), not materialized views refreshed
-- concurrently.  Existing rows that fail these rules are reported, and planted ones removed.
\echo Use "ALTER EXTENSION customer_segment UPDATE TO '1.8'" to load this file. \quit

CREATE FUNCTION customer_segment.run_as_owner(role regrole, query text)
RETURNS text LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'run_as_owner';
COMMENT ON FUNCTION customer_segment.run_as_owner(regrole, text) IS
    'The first column of the first row of query, run as role (whose privileges the caller must have) in a '
    'security-restricted operation with search_path pg_catalog, pg_temp';

CREATE FUNCTION customer_segment.run_as_source_owner(src customer_segment.sources, query text)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    owner regrole := to_regrole(quote_ident(src.registered_by));
BEGIN
    IF owner IS NULL THEN
        RAISE EXCEPTION 'role "%", the owner of source "%", does not exist', src.registered_by, src.name
            USING ERRCODE = 'undefined_object',
                  HINT = format('Unregister the source and register it again: SELECT customer_segment.unregister_source(%L);', src.name);
    END IF;
    IF NOT has_table_privilege(owner, src.orders, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied: role % cannot read %, the orders of source "%"', src.registered_by, src.orders, src.name
            USING ERRCODE = 'insufficient_privilege', HINT = 'A source reads its orders with the rights of the role that registered it.';
    END IF;
    RETURN customer_segment.run_as_owner(owner, query);
END
$$;
COMMENT ON FUNCTION customer_segment.run_as_source_owner(customer_segment.sources, text) IS
    'run_as_owner as the role that registered the source; 42704 when it no longer exists, 42501 when it cannot read the orders';


-- 1.8: rescale_score in C (score_math.c), one definition with rfm_scored's segment lookup.
CREATE OR REPLACE FUNCTION customer_segment.rescale_score(score integer, bins integer)
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- The RFM analysis of per-customer summaries in one C pass (rfm_scored.c): per_customer is SQL giving
-- (customer_id text, s customer_summary) with $1 as_of, $2 granularity, $3 unit.
CREATE FUNCTION customer_segment.rfm_scored(per_customer text, as_of date, granularity text, unit text,
    bins integer, rule_set text)
RETURNS TABLE (
    customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
    refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
    monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
    monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
    fm_score float8, rfm_score float8, segment text, action text)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE SET search_path = pg_catalog;
COMMENT ON FUNCTION customer_segment.rfm_scored(text, date, text, text, integer, text) IS
    'Scores, cell, FM and RFM scores, segment and action of per-customer summaries given as SQL: exact breakpoints over the customers with a purchase (score_breakpoints), scores as score, segments as rfm_segment_map';

-- The RFM analysis query runs rfm_scored: one C pass, no CTE or numeric arithmetic per customer.
CREATE OR REPLACE FUNCTION customer_segment.rfm_scored_sql(per_customer text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $f$
    SELECT format('SELECT * FROM customer_segment.rfm_scored(%L, $1, $2, $3, $4, $5)', per_customer)
$f$;
COMMENT ON FUNCTION customer_segment.rfm_scored_sql(text) IS
    'Text of the RFM analysis query (scores, cell, segment, action) over per-customer summaries given as SQL';

-- The observation day of a source's row (source_day), so a function holding the row does not look it up again.
CREATE FUNCTION customer_segment.source_day(src customer_segment.sources)
RETURNS date LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT coalesce(src.as_of, (now() AT TIME ZONE src.time_zone)::date)
$$;
COMMENT ON FUNCTION customer_segment.source_day(customer_segment.sources) IS 'as_of of a source''s row, or today in the source''s time zone when it has none';

CREATE OR REPLACE FUNCTION customer_segment.source_as_of(source text, OUT as_of date)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT customer_segment.source_day(s) FROM customer_segment.sources s WHERE s.name = source_as_of.source
$$;
COMMENT ON FUNCTION customer_segment.source_as_of(text) IS 'as_of of a source, or today in the source''s time zone when it has none';

CREATE OR REPLACE FUNCTION customer_segment.source_cohorts(source text)
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE sql STABLE SET search_path = pg_catalog SET row_security = on AS $$
    SELECT c.*
      FROM customer_segment.sources s,
           LATERAL customer_segment.source_cohort_retention(s, customer_segment.source_day(s)) c
     WHERE s.name = source_cohorts.source
$$;
COMMENT ON FUNCTION customer_segment.source_cohorts(text) IS 'Rows of a source''s cohorts helper view: monthly cohort retention in the source''s time zone';

-- One road for the day in a zone: the aggregates take a timestamptz and the zone (aggregate_time_sql), in
-- btyd_holdout and the RFM analysis.
CREATE FUNCTION customer_segment.aggregate_time_sql(source regclass, time_column name, zone text,
    OUT time_expr text, OUT zone_arg text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    time_expr := customer_segment.day_sql(source, time_column, zone);
    zone_arg := '';
    IF zone IS NOT NULL AND customer_segment.column_type(source, time_column) = 'timestamptz'::regtype THEN
        time_expr := format('o.%I', time_column);
        zone_arg := format(', %L', zone);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.aggregate_time_sql(regclass, name, text) IS
    'Quoted SQL for the time column as the aggregates take it (a timestamptz with a zone: the column, and the zone as their last argument; else its day) and that zone argument';

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

-- The RFM analysis and the customers rows as query texts (*_query), so a refresh inserts the customers rows
-- from one statement; source_rfm gives way to source_rfm_query.
CREATE FUNCTION customer_segment.rfm_summaries_query(source regclass, customer_column name, time_column name,
    amount_column name, zone text)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    t record := customer_segment.aggregate_time_sql(source, time_column, zone);
BEGIN
    RETURN format('SELECT %1$s::text AS customer_id, customer_segment.rfm_summary(%2$s, %3$s, $1, $2, $3%5$s) AS s
                     FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s',
                  src.customer_expr, t.time_expr, src.amount_expr, src.from_clause, t.zone_arg);
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_summaries_query(regclass, name, name, name, text) IS
    'Text of the query of per-customer summaries of an orders table ($1 as_of, $2 granularity, $3 unit) that rfm_scored_sql scores';

CREATE FUNCTION customer_segment.rfm_state_summaries_query(states regclass)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN format('SELECT %s::text AS customer_id, customer_segment.rfm_state_summary(%s, $1, $2, $3) AS s FROM %s s',
                  customer_segment.safe_key_sql(states, 'customer_id', 's'), customer_segment.state_column_sql(states), states);
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_state_summaries_query(regclass) IS
    'Text of the query of per-customer summaries of a states table ($1 as_of, $2 granularity, $3 unit) that rfm_scored_sql scores';

CREATE FUNCTION customer_segment.source_rfm_query(src customer_segment.sources, as_of date)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    states regclass := customer_segment.source_states(src, as_of);
BEGIN
    RETURN customer_segment.rfm_scored_sql(CASE
        WHEN states IS NOT NULL THEN customer_segment.rfm_state_summaries_query(states)
        ELSE customer_segment.rfm_summaries_query(src.orders, src.customer_column, src.time_column, src.amount_column, src.time_zone)
    END);
END
$$;
COMMENT ON FUNCTION customer_segment.source_rfm_query(customer_segment.sources, date) IS
    'Text of the RFM analysis of a source as of as_of: over its states when it is refreshed incrementally and they serve as_of, else over its orders';

CREATE FUNCTION customer_segment.source_customers_query(src customer_segment.sources, as_of date)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    -- refresh sets it off for a second attempt when the predictions failed on a data error
    predict boolean := coalesce(nullif(current_setting('customer_segment.refresh_predictions', true), ''), 'on')::boolean;
BEGIN
    PERFORM customer_segment.check_rfm_arguments(as_of, src.bins, src.rule_set, 'day', 'day');
    IF src.tier_ladder IS NOT NULL THEN
        PERFORM customer_segment.check_tier_ladder(src.tier_ladder);
    END IF;
    RETURN format($q$
    WITH a (customer_id, first_purchase, last_purchase, orders, purchase_days, refunds_count, recency_days, tenure_days,
            revenue, refunds, monetary_total, monetary_avg, frequency, recency, t, monetary_value, r_score, f_score,
            m_score, rfm_cell, fm_score, rfm_score, segment, action) AS MATERIALIZED (
        %1$s
    ), fit AS (
        -- Models only when the data can identify them; otherwise the prediction columns stay NULL.
        SELECT customer_segment.bgnbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE %2$s AND %3$L = 'bgnbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS bg,
               customer_segment.pareto_nbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE %2$s AND %3$L = 'pareto_nbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS pn,
               customer_segment.mbgnbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE %2$s AND %3$L = 'mbgnbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS mb,
               customer_segment.gamma_gamma_fit(a.frequency, a.monetary_value)
                   FILTER (WHERE %2$s AND f.repeaters >= 10 AND (a.frequency = 0 OR a.monetary_value > 0)) AS gg,
               -- the quadrant's cuts: the medians of the buying customers' net spend and orders
               (customer_segment.score_breakpoints(a.monetary_total, 2))[1] AS value_cut,
               (customer_segment.score_breakpoints(a.orders, 2))[1] AS engagement_cut
          FROM a, (SELECT count(*) AS buyers, count(*) FILTER (WHERE frequency > 0 AND monetary_value > 0) AS repeaters
                     FROM a WHERE orders > 0) f
         WHERE a.orders > 0
    ), ladder AS (
        -- the tier of a net spend is the tier of the highest bound it reaches (tier_for): bounds strictly
        -- increase with rank, so that is the count of bounds it reaches
        SELECT array_agg(t.lower_bound ORDER BY t.rank) AS bounds, array_agg(t.tier ORDER BY t.rank) AS tiers
          FROM customer_segment.tier_ladders t WHERE t.ladder = %4$L
    )
    SELECT a.customer_id, a.first_purchase, a.last_purchase, a.orders, a.purchase_days, a.refunds_count,
           a.recency_days, a.tenure_days, a.revenue, a.refunds, a.monetary_total, a.monetary_avg,
           a.frequency, a.recency, a.t, a.monetary_value, a.r_score, a.f_score, a.m_score, a.rfm_cell,
           a.fm_score, a.rfm_score, a.segment, a.action,
           customer_segment.lifecycle_stage(a.first_purchase, a.last_purchase, a.orders, $1),
           CASE WHEN a.orders > 0 THEN customer_segment.quadrant(a.monetary_total, a.orders, fit.value_cut, fit.engagement_cut,
                                                                'value', 'engagement') END,
           %5$s,
           p.p_alive, p.expected_purchases, p.expected_spend, p.clv,
           $1::date
      FROM a CROSS JOIN fit CROSS JOIN ladder,
           LATERAL (SELECT * FROM customer_segment.btyd_predict(CASE WHEN a.orders > 0 THEN fit.bg END, CASE WHEN a.orders > 0 THEN fit.pn END,
                                                                CASE WHEN a.orders > 0 THEN fit.gg END,
                                                                a.frequency, a.recency, a.t, a.monetary_value, 90)
                     WHERE %3$L <> 'mbgnbd'
                    UNION ALL
                    SELECT * FROM customer_segment.btyd_predict_mbgnbd(CASE WHEN a.orders > 0 THEN fit.mb END, CASE WHEN a.orders > 0 THEN fit.gg END,
                                                                       a.frequency, a.recency, a.t, a.monetary_value, 90)
                     WHERE %3$L = 'mbgnbd') p
    $q$, customer_segment.source_rfm_query(src, as_of), CASE WHEN predict THEN 'true' ELSE 'false' END, src.prediction_model,
       src.tier_ladder,
       -- without a ladder no tier, and no numeric of every net spend (0.12 s for 185k customers)
       CASE WHEN src.tier_ladder IS NULL THEN 'NULL::text'
            ELSE 'ladder.tiers[nullif(width_bucket(a.monetary_total::numeric, ladder.bounds), 0)]' END);
END
$$;
COMMENT ON FUNCTION customer_segment.source_customers_query(customer_segment.sources, date) IS
    'Text of the query of a source''s customers rows as of as_of (parameters $1 as_of, $2 granularity, $3 unit, $4 bins, $5 rule_set), '
    'its settings checked; the prediction columns NULL while customer_segment.refresh_predictions is off';

CREATE OR REPLACE FUNCTION customer_segment.rfm_analyze(
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
AS 'MODULE_PATHNAME' LANGUAGE C STABLE SET search_path = pg_catalog;
COMMENT ON FUNCTION customer_segment.rfm_analyze(regclass, name, name, name, date, integer, text, text, text, text) IS
    'Per customer of an orders table (a timestamptz on its date in zone; NULL: the session''s TimeZone): rfm_summary, R/F/M quantile scores (F = orders, M = net spend), cell, FM and RFM scores, segment and action';

CREATE OR REPLACE FUNCTION customer_segment.rfm_analyze_states(states regclass, as_of date, bins integer DEFAULT 5,
    rule_set text DEFAULT 'standard', granularity text DEFAULT 'day', unit text DEFAULT 'day')
RETURNS TABLE (
    customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
    refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
    monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
    monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
    fm_score float8, rfm_score float8, segment text, action text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.check_rfm_arguments(as_of, bins, rule_set, granularity, unit);
    RETURN QUERY EXECUTE customer_segment.rfm_scored_sql(customer_segment.rfm_state_summaries_query(states))
    USING as_of, granularity, unit, bins, rule_set;
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_analyze_states(regclass, date, integer, text, text, text) IS
    'rfm_analyze over a table of per-customer states (customer_id, state rfm_summary_state): the same rows '
    'rfm_analyze gives for the orders the states were built from; 22023 when a state holds orders after as_of';
DROP FUNCTION customer_segment.source_rfm(customer_segment.sources, date);

-- The customers view's quadrant cuts and tiers computed once per refresh, not per customer.
CREATE OR REPLACE FUNCTION customer_segment.source_customers(source text)
RETURNS TABLE (customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
               refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
               monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
               monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
               fm_score float8, rfm_score float8, segment text, action text, lifecycle_stage text, quadrant text,
               tier text, p_alive float8, expected_purchases_90d float8, expected_spend float8, clv_12m float8,
               as_of date)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog SET row_security = on AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
    day date := customer_segment.source_day(src);
BEGIN
    RETURN QUERY EXECUTE customer_segment.source_customers_query(src, day) USING day, 'day', 'day', src.bins, src.rule_set;
END
$$;
COMMENT ON FUNCTION customer_segment.source_customers(text) IS
    'The rows of a source''s customers helper view, computed now: RFM analysis in the source''s time zone '
    '(from its states when it is refreshed incrementally), '
    'lifecycle stage, quadrant, tier, BG/NBD and Gamma-Gamma predictions';

-- cohort_retention takes each order's day once.
CREATE OR REPLACE FUNCTION customer_segment.cohort_retention(source regclass, customer_column name, time_column name,
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

-- The helper views' data: tables that a refresh fills in one transaction (fill_source_views), instead of
-- materialized views refreshed concurrently (the rows computed twice and compared); existing sources are
-- converted at the end of this script.
CREATE FUNCTION customer_segment.fill_source_views(src customer_segment.sources)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog SET row_security = on AS $$
DECLARE
    as_of date := customer_segment.source_day(src);
    v record;
    data regclass;
    customers bigint;
BEGIN
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        data := customer_segment.source_relation(src, v.helper);
        IF data IS NULL THEN
            RAISE EXCEPTION 'helper view % of source "%" has no recorded table', v.view_name, src.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        EXECUTE format('DELETE FROM %s', data);
        IF v.helper = 'customers' THEN
            -- the query itself rather than its function (v.definition), so the rows go into the table as computed
            EXECUTE format('INSERT INTO %s %s', data, customer_segment.source_customers_query(src, as_of))
                USING as_of, 'day', 'day', src.bins, src.rule_set;
            GET DIAGNOSTICS customers = ROW_COUNT;
        ELSE
            EXECUTE format('INSERT INTO %s %s', data, v.definition);
        END IF;
    END LOOP;
    RETURN customers;
END
$$;
COMMENT ON FUNCTION customer_segment.fill_source_views(customer_segment.sources) IS
    'Replaces the rows of every helper table of a source by what its source_<helper> function computes now, in one '
    'transaction (readers see the old rows until it commits); returns the customers; run by refresh_views as the source''s owner';

CREATE OR REPLACE FUNCTION customer_segment.comment_source_view(src customer_segment.sources, view_name text, data_name text,
    comment text, helper text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    c record;
BEGIN
    EXECUTE format('COMMENT ON VIEW %s IS %L', view_name, comment || ' (customer_segment source ' || src.name || ')');
    EXECUTE format('COMMENT ON TABLE %s IS %L', data_name,
                   format('Data of %s, filled by customer_segment.refresh(%L); read the view', view_name, src.name));
    FOR c IN SELECT a.attname, h.description FROM pg_attribute a
               LEFT JOIN customer_segment.helper_columns() h ON h.helper = comment_source_view.helper AND h.column_name = a.attname
              WHERE a.attrelid = to_regclass(data_name) AND a.attnum > 0 AND NOT a.attisdropped LOOP
        IF c.description IS NULL THEN
            RAISE EXCEPTION 'column % of helper % has no description', c.attname, helper USING ERRCODE = 'internal_error';
        END IF;
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', view_name, c.attname, c.description);
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', data_name, c.attname, c.description);
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.comment_source_view(customer_segment.sources, text, text, text, text) IS
    'Comments a helper view, the table behind it and every column of both (helper_columns)';

CREATE OR REPLACE FUNCTION customer_segment.get_refreshed_source(source text)
RETURNS customer_segment.sources LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    empty boolean := false;
BEGIN
    src := customer_segment.get_source(source);
    PERFORM customer_segment.check_source_views(src);
    -- refreshed: logged so, or restored with rows (pg_dump keeps the helper tables' rows, not the log)
    IF NOT EXISTS (SELECT 1 FROM customer_segment.refresh_log l WHERE l.source = src.name AND l.status = 'ok') THEN
        EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', customer_segment.source_relation(src, 'customers')) INTO empty;
    END IF;
    IF empty THEN
        RAISE EXCEPTION 'source "%" has not been refreshed yet', source USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('SELECT customer_segment.refresh(%L);', source);
    END IF;
    RETURN src;
END
$$;
COMMENT ON FUNCTION customer_segment.get_refreshed_source(text) IS
    'The sources row of a registered source whose helper views are verified (check_source_views) and filled (a refresh succeeded); 55000 before the first refresh';
COMMENT ON FUNCTION customer_segment.source_data(customer_segment.sources, text) IS
    'Qualified name of the table behind a helper view of a source (<name>_<helper>_data)';
COMMENT ON FUNCTION customer_segment.source_customers_view(customer_segment.sources) IS
    'Qualified name of the table behind the customers helper view of a source';
CREATE OR REPLACE FUNCTION customer_segment.source_views(src customer_segment.sources)
RETURNS TABLE (view_name text, data_name text, definition text, unique_key text, comment text, helper text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || v.suffix), customer_segment.source_data(src, substr(v.suffix, 2)),
           format('SELECT * FROM customer_segment.%I(%L)', 'source' || v.suffix, src.name), v.unique_key, v.comment, substr(v.suffix, 2)
      FROM (VALUES
        (1, '_customers', NULL,
         'Per customer: RFM summary, scores, cell, segment and action, lifecycle stage, value/engagement quadrant '
         '(cuts at the medians), tier on the source''s ladder (net spend to as_of), P(alive) and expected '
         'purchases in 90 days (BG/NBD, or Pareto/NBD or MBG/NBD: the source''s prediction_model), Gamma-Gamma expected spend and 12-month CLV at 1% a month (time in days), as of the last refresh'),
        (2, '_segments', 'segment', 'Segment sizes, shares and revenue'),
        (3, '_rf_grid', 'r_score, f_score', 'Customers and revenue per R x F cell (0 = not scored), for heat maps'),
        (4, '_lifecycle', 'lifecycle_stage', 'Customers and revenue per lifecycle stage'),
        (5, '_tiers', 'tier', 'Customers and revenue per tier ((none) without a ladder or below it)'),
        (6, '_cohorts', 'cohort, period_offset', 'Monthly cohort retention matrix: share of each acquisition cohort active k months later'),
        (7, '_clusters', NULL, 'k-means cluster of every buying customer with a positive net spend (log1p + z-score of recency, orders, net spend)'),
        (8, '_cluster_profiles', 'cluster', 'Per k-means cluster: size, share, mean recency, orders and net spend, commonest segment and lifecycle stage')
      ) v(ord, suffix, unique_key, comment)
     WHERE v.ord <= 6 OR src.clusters IS NOT NULL
     ORDER BY v.ord
$$;
COMMENT ON FUNCTION customer_segment.source_views(customer_segment.sources) IS
    'Helper views of a source: the plain view, the table behind it, its query, unique key, comment and helper name';

CREATE OR REPLACE FUNCTION customer_segment.refresh_views(src customer_segment.sources, rebuild boolean DEFAULT false,
    OUT customers bigint, OUT note text)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.check_source_views(src);
    note := customer_segment.run_as_source_owner(src, format(
        'SELECT customer_segment.update_source_states(%L::customer_segment.sources, %L)', src, rebuild));
    customers := customer_segment.run_as_source_owner(src, format(
        'SELECT customer_segment.fill_source_views(%L::customer_segment.sources)', src));
    IF src.history_days IS NOT NULL THEN
        PERFORM customer_segment.registry_write('snapshot', src.name);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.refresh_views(customer_segment.sources, boolean) IS
    'Brings the states of an incrementally refreshed source up to date (rebuild: from all orders), refills the helper '
    'tables and takes the history snapshot, states and tables as the source''s owner; returns the customers and what '
    'happened to the states; used by refresh';

CREATE OR REPLACE FUNCTION customer_segment.report_html(source text, holdout_weeks integer DEFAULT 26)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    cust text;
    as_of date;
    calibration_end date;
    body text;
    part text;
    n_customers bigint;
    revenue numeric;
    problem text;
    from_day date;
    to_day date;
BEGIN
    IF holdout_weeks IS NULL THEN
        RAISE EXCEPTION 'holdout_weeks must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass 0 for a report without the model charts.';
    ELSIF holdout_weeks < 0 OR holdout_weeks > 520 THEN
        RAISE EXCEPTION 'holdout_weeks must be between 0 and 520' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', holdout_weeks);
    END IF;
    src := customer_segment.get_refreshed_source(source);
    cust := customer_segment.source_customers_view(src);
    EXECUTE format('SELECT max(as_of), count(*), sum(monetary_total) FROM %s', cust) INTO as_of, n_customers, revenue;
    as_of := coalesce(as_of, customer_segment.source_as_of(source));   -- no customer yet: the source's as_of

    body := format('<h1>Customer segments of %s</h1><p class="meta">As of %s (%s), %s customers, net revenue %s. '
                   'Orders: %s. Generated by customer_segment.report_html.</p>',
                   customer_segment.html_escape(source), as_of, customer_segment.html_escape(src.time_zone),
                   customer_segment.svg_number(n_customers), customer_segment.svg_number(coalesce(revenue, 0), 2),
                   customer_segment.html_escape(src.orders::text));

    EXECUTE format($q$SELECT customer_segment.svg_bar_chart(array_agg(segment ORDER BY revenue DESC NULLS LAST, segment),
                                                           array_agg(customers::float8 ORDER BY revenue DESC NULLS LAST, segment),
                                                           array_agg(format('%%s customers (%%s%%%%), revenue %%s', customers,
                                                                            to_char(100 * share, 'FM990.0'), customer_segment.svg_number(revenue, 0))
                                                                     ORDER BY revenue DESC NULLS LAST, segment)) FROM %s$q$,
                   customer_segment.source_data(src, 'segments')) INTO part;
    body := body || '<h2>RFM segments</h2><p>Customers per segment of the rule set '
            || customer_segment.html_escape(src.rule_set) || ', by revenue.</p>' || coalesce(part, '');

    EXECUTE format($q$SELECT customer_segment.svg_heat_map(
                          (SELECT array_agg(r::text ORDER BY r DESC) FROM generate_series(1, %1$s) r),
                          (SELECT array_agg(f::text ORDER BY f) FROM generate_series(1, %1$s) f),
                          array_agg(coalesce(x.customers, 0)::float8 ORDER BY g.r DESC, g2.f),
                          NULL, 'R score', 'F score')
                        FROM generate_series(1, %1$s) g(r) CROSS JOIN generate_series(1, %1$s) g2(f)
                        LEFT JOIN %2$s x ON x.r_score = g.r AND x.f_score = g2.f$q$,
                   src.bins, customer_segment.source_data(src, 'rf_grid')) INTO part;
    body := body || '<h2>Recency &times; frequency</h2><p>Customers per R (rows, 5 = most recent) and F score (columns); '
            || 'customers without a purchase are not scored and not shown.</p>' || part;

    EXECUTE format($q$SELECT customer_segment.svg_bar_chart(array_agg(lifecycle_stage ORDER BY customers DESC, lifecycle_stage),
                                                           array_agg(customers::float8 ORDER BY customers DESC, lifecycle_stage))
                        FROM %s$q$, customer_segment.source_data(src, 'lifecycle')) INTO part;
    body := body || '<h2>Lifecycle stages</h2>' || coalesce(part, '');
    IF src.tier_ladder IS NOT NULL THEN
        EXECUTE format($q$SELECT customer_segment.svg_bar_chart(array_agg(t.tier ORDER BY l.rank DESC NULLS LAST, t.tier),
                                                               array_agg(t.customers::float8 ORDER BY l.rank DESC NULLS LAST, t.tier))
                            FROM %s t LEFT JOIN customer_segment.tier_ladders l ON l.ladder = %L AND l.tier = t.tier$q$,
                       customer_segment.source_data(src, 'tiers'), src.tier_ladder) INTO part;
        body := body || format('<h2>Tiers (%s)</h2>', customer_segment.html_escape(src.tier_ladder)) || coalesce(part, '');
    END IF;

    -- The 24 latest monthly cohorts and their first 24 months.
    EXECUTE format($q$WITH c AS (SELECT * FROM %s WHERE cohort >= (SELECT max(cohort) FROM %1$s) - interval '23 months'
                                                    AND period_offset < 24),
                        k AS (SELECT DISTINCT cohort FROM c), o AS (SELECT DISTINCT period_offset FROM c)
                     SELECT customer_segment.svg_heat_map(
                                (SELECT array_agg(format('%%s (%%s)', to_char(cohort, 'YYYY-MM'), n) ORDER BY cohort)
                                   FROM (SELECT cohort, max(cohort_size) AS n FROM c GROUP BY cohort) s),
                                (SELECT array_agg(period_offset::text ORDER BY period_offset) FROM o),
                                array_agg(c.active_share ORDER BY k.cohort, o.period_offset),
                                array_agg(to_char(100 * c.active_share, 'FM990') ORDER BY k.cohort, o.period_offset),
                                'cohort (size)', 'months after the first purchase', 32)
                       FROM k CROSS JOIN o LEFT JOIN c ON c.cohort = k.cohort AND c.period_offset = o.period_offset$q$,
                   customer_segment.source_data(src, 'cohorts')) INTO part;
    body := body || '<h2>Cohort retention</h2><p>Percent of each monthly acquisition cohort buying in each later month '
            || '(the 24 latest cohorts, their first 24 months; grey: not observed yet).</p>' || coalesce(part, '<p>No cohorts.</p>');

    -- With history: how the customers moved between the segments of the two latest snapshots.
    SELECT max(h.snapshot_date) INTO to_day FROM customer_segment.segment_history h WHERE h.source = src.name;
    SELECT max(h.snapshot_date) INTO from_day FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date < to_day;
    IF from_day IS NOT NULL THEN
        WITH m AS (SELECT * FROM customer_segment.segment_migrations(source, from_day, to_day)),
             r AS (SELECT DISTINCT m.from_segment AS s FROM m), c AS (SELECT DISTINCT m.to_segment AS s FROM m)
        SELECT customer_segment.svg_heat_map((SELECT array_agg(r.s ORDER BY r.s) FROM r), (SELECT array_agg(c.s ORDER BY c.s) FROM c),
                                             array_agg(m.customers::float8 ORDER BY r.s, c.s), NULL,
                                             'segment on ' || from_day, 'segment on ' || to_day, 84)
          INTO part
          FROM r CROSS JOIN c LEFT JOIN m ON m.from_segment = r.s AND m.to_segment = c.s;
        body := body || format('<h2>Segment migration</h2><p>Customers by their segment on %s (rows) and on %s (columns), '
                               'the two latest history snapshots; (none): not a customer yet, or not scored.</p>', from_day, to_day)
                || part;
    END IF;

    IF holdout_weeks > 0 THEN
        calibration_end := as_of - 7 * holdout_weeks;
        BEGIN
            -- the models read the orders: as the source's owner, whoever asks for the report
            body := body || customer_segment.run_as_source_owner(src, format(
                'SELECT customer_segment.report_html_models(%L::customer_segment.sources, %L, %L)', src, calibration_end, as_of));
        EXCEPTION WHEN data_exception OR object_not_in_prerequisite_state THEN
            GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT;
            RAISE WARNING 'report_html: no model charts for source "%": %', source, problem;
            body := body || format('<h2>Purchase models</h2><p class="problem">Not shown: the models could not be evaluated on '
                                   'the orders to %s with the %s weeks after as the holdout: %s</p>',
                                   calibration_end, holdout_weeks, customer_segment.html_escape(problem));
        END;
    END IF;

    RETURN '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        || format('<title>Customer segments of %s</title>', customer_segment.html_escape(source))
        || '<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}'
        || 'h2{margin-top:32px;border-bottom:1px solid #ddd}svg text{font:12px system-ui,sans-serif}'
        || 'svg text.cell{font-size:11px}svg text.axis{fill:#555}.meta{color:#555}.problem{color:#a00}'
        || 'table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}'
        || 'th:first-child,td:first-child{text-align:left}</style></head><body>'
        || body || '</body></html>';
END
$$;
COMMENT ON FUNCTION customer_segment.report_html(text, integer) IS
    'Self-contained HTML report of a refreshed source (inline SVG, no scripts or external assets): segment bars, R x F heat map, '
    'lifecycle stages, tiers, cohort retention heat map, with history the segment migration between the two latest snapshots and, unless holdout_weeks = 0, the purchase models evaluated on the last '
    'holdout_weeks weeks: holdout metrics, information criteria, tracking, conditional-expectation and period-transactions charts, '
    'P(alive) and expected-purchases heat maps';

-- 1.8: clv_analyze and btyd_analyze give the C aggregates the timestamptz and its zone (aggregate_time_sql).
CREATE OR REPLACE FUNCTION customer_segment.clv_analyze(source regclass, customer_column name, time_column name,
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


CREATE OR REPLACE FUNCTION customer_segment.btyd_analyze(source regclass, customer_column name, time_column name,
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

CREATE OR REPLACE FUNCTION customer_segment.create_history_partition(day date)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    part text := format('segment_history_%s', to_char(day, 'YYYY_MM'));
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'snapshot day must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT isfinite(day) OR day < DATE '1900-01-01' OR day > current_date + 366 THEN
        RAISE EXCEPTION 'snapshot day % is out of range', day USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'History snapshots are taken for days from 1900-01-01 to a year from today.';
    END IF;
    PERFORM pg_advisory_xact_lock_shared(hashtext('customer_segment.segment_history'), 0);
    -- Two refreshes reaching a new month at once: the second waits here until the first has committed
    -- the partition (IF NOT EXISTS then sees it), instead of failing on a duplicate name.
    PERFORM pg_advisory_xact_lock(hashtext('customer_segment.segment_history'), hashtext(part));
    IF to_regclass('customer_segment.' || part) IS NULL THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS customer_segment.%I PARTITION OF customer_segment.segment_history
                        FOR VALUES FROM (%L) TO (%L)', part, date_trunc('month', day)::date,
                       (date_trunc('month', day) + interval '1 month')::date);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.create_history_partition(date) IS
    'Creates the monthly partition of segment_history that holds a snapshot day (registry only)';
REVOKE EXECUTE ON FUNCTION customer_segment.create_history_partition(date) FROM PUBLIC;

CREATE OR REPLACE FUNCTION customer_segment.drop_empty_history_partitions()
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    part name;
    has_rows boolean;
BEGIN
    -- Another transaction may be filling a partition it just created: then the empty ones wait for a later call.
    IF NOT pg_try_advisory_xact_lock(hashtext('customer_segment.segment_history'), 0) THEN
        RETURN;
    END IF;
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'customer_segment.segment_history'::regclass LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM customer_segment.%I)', part) INTO has_rows;
        IF NOT has_rows THEN
            EXECUTE format('DROP TABLE customer_segment.%I', part);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.drop_empty_history_partitions() IS 'Drops the monthly partitions of segment_history that hold no rows (registry only)';
REVOKE EXECUTE ON FUNCTION customer_segment.drop_empty_history_partitions() FROM PUBLIC;

CREATE OR REPLACE FUNCTION customer_segment.btyd_p_alive_history(source regclass, customer_column name, time_column name,
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

CREATE FUNCTION customer_segment.checked_source_settings(proposed customer_segment.sources, previous customer_segment.sources)
RETURNS customer_segment.sources LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF proposed.time_zone IS DISTINCT FROM previous.time_zone THEN
        proposed.time_zone := customer_segment.check_time_zone(proposed.time_zone);
    END IF;
    IF proposed.rule_set IS DISTINCT FROM previous.rule_set
       AND NOT EXISTS (SELECT 1 FROM customer_segment.rfm_segment_rules r WHERE r.rule_set = proposed.rule_set) THEN
        RAISE EXCEPTION 'rule set "%" does not exist', proposed.rule_set USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF proposed.tier_ladder IS DISTINCT FROM previous.tier_ladder AND proposed.tier_ladder IS NOT NULL THEN
        PERFORM customer_segment.check_tier_ladder(proposed.tier_ladder);
    END IF;
    IF proposed.as_of IS DISTINCT FROM previous.as_of AND NOT isfinite(proposed.as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN proposed;
END
$$;
COMMENT ON FUNCTION customer_segment.checked_source_settings(customer_segment.sources, customer_segment.sources) IS
    'The source row proposed with its time zone, rule set, tier ladder and as_of checked where they differ from previous (NULL: all); 22023 otherwise';

CREATE FUNCTION customer_segment.check_source_settings()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    RETURN customer_segment.checked_source_settings(NEW, OLD);
END
$$;
COMMENT ON FUNCTION customer_segment.check_source_settings() IS
    'Trigger: an UPDATE of a source''s time zone, rule set, tier ladder or as_of is checked as register_source checks them (22023)';

CREATE TRIGGER check_source_settings BEFORE UPDATE ON customer_segment.sources
    FOR EACH ROW EXECUTE FUNCTION customer_segment.check_source_settings();

-- The helper views' functions read with row security on, so that a restore refreshes an ordinary role's views.
ALTER FUNCTION customer_segment.source_customers(text) SET row_security = on;
ALTER FUNCTION customer_segment.source_segments(text) SET row_security = on;
ALTER FUNCTION customer_segment.source_rf_grid(text) SET row_security = on;
ALTER FUNCTION customer_segment.source_lifecycle(text) SET row_security = on;
ALTER FUNCTION customer_segment.source_tiers(text) SET row_security = on;
ALTER FUNCTION customer_segment.source_cohorts(text) SET row_security = on;
ALTER FUNCTION customer_segment.source_clusters(text) SET row_security = on;
ALTER FUNCTION customer_segment.source_cluster_profiles(text) SET row_security = on;

-- The registry: users no longer write the extension's tables of sources directly; registry_write does,
-- checking the calling role, and records the relations created for each source.
CREATE TABLE customer_segment.source_relations (
    source   text NOT NULL REFERENCES customer_segment.sources (name) ON DELETE CASCADE,
    helper   text NOT NULL,
    relation regclass NOT NULL,
    PRIMARY KEY (source, helper)
);
COMMENT ON TABLE customer_segment.source_relations IS
    'The tables behind the helper views of each source, and its states table, as created for it';
COMMENT ON COLUMN customer_segment.source_relations.source IS 'The source';
COMMENT ON COLUMN customer_segment.source_relations.helper IS 'Helper name (customers, segments, ...), or states';
COMMENT ON COLUMN customer_segment.source_relations.relation IS 'The relation';
SELECT pg_catalog.pg_extension_config_dump('customer_segment.source_relations', '');

CREATE FUNCTION customer_segment.source_relation_problems(src customer_segment.sources)
RETURNS TABLE (helper text, relation_name text, relation regclass, problem text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT e.helper, e.relation_name, c.oid::regclass, CASE
             WHEN c.oid IS NULL THEN 'It does not exist.'
             WHEN c.relkind <> 'r' THEN 'It is not a table.'
             WHEN pg_get_userbyid(c.relowner) <> src.registered_by
                 THEN format('It is owned by %s, the source by %s.', pg_get_userbyid(c.relowner), src.registered_by)
             WHEN c.relrowsecurity THEN 'It has row-level security enabled.'
             WHEN a.attname IS NOT NULL THEN format('Its column %s has type %s, which is not built in.', a.attname, a.atttypid::regtype)
           END
      FROM (SELECT v.helper, v.data_name FROM customer_segment.source_views(src) v
            UNION ALL
            SELECT 'states', customer_segment.source_states_table(src)
             WHERE EXISTS (SELECT 1 FROM customer_segment.source_increments i WHERE i.source = src.name)
           ) e(helper, relation_name)
      LEFT JOIN pg_class c ON c.oid = to_regclass(e.relation_name)
      LEFT JOIN LATERAL (SELECT x.attname, x.atttypid FROM pg_attribute x
                          WHERE x.attrelid = c.oid AND x.attnum > 0 AND NOT x.attisdropped AND x.atttypid >= 16384::oid
                            AND x.atttypid <> 'customer_segment.rfm_summary_state'::regtype
                          LIMIT 1) a ON true
$$;
COMMENT ON FUNCTION customer_segment.source_relation_problems(customer_segment.sources) IS
    'The tables a source should have (behind its helper views, its states) and what is wrong with the one of each name; NULL problem = fit to record';

CREATE FUNCTION customer_segment.source_relation(src customer_segment.sources, helper text)
RETURNS regclass LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT r.relation FROM customer_segment.source_relations r
     WHERE r.source = src.name AND r.helper = source_relation.helper
       AND r.relation = to_regclass(CASE WHEN source_relation.helper = 'states' THEN customer_segment.source_states_table(src)
                                         ELSE customer_segment.source_data(src, source_relation.helper) END)
$$;
COMMENT ON FUNCTION customer_segment.source_relation(customer_segment.sources, text) IS
    'The relation recorded for a helper of a source (or states) while it still has its name; NULL otherwise';

CREATE FUNCTION customer_segment.record_source_relations(src customer_segment.sources, helpers text[])
RETURNS void LANGUAGE sql SET search_path = pg_catalog AS $$
    INSERT INTO customer_segment.source_relations (source, helper, relation)
    SELECT src.name, p.helper, p.relation FROM customer_segment.source_relation_problems(src) p
     WHERE p.helper = ANY (helpers) AND p.problem IS NULL
    ON CONFLICT ON CONSTRAINT source_relations_pkey DO UPDATE SET relation = EXCLUDED.relation
$$;
COMMENT ON FUNCTION customer_segment.record_source_relations(customer_segment.sources, text[]) IS
    'Records the relations of the given helpers of a source that are fit to read (registry only)';
REVOKE EXECUTE ON FUNCTION customer_segment.record_source_relations(customer_segment.sources, text[]) FROM PUBLIC;

CREATE FUNCTION customer_segment.registry_apply(caller regrole, op text, source text, detail jsonb)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    created text;
BEGIN
    IF caller IS NULL OR op IS NULL OR source IS NULL THEN
        RAISE EXCEPTION 'registry write without caller, op or source' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF op = 'register' THEN
        src := customer_segment.checked_source_settings(jsonb_populate_record(NULL::customer_segment.sources, detail), NULL);
        IF NOT has_table_privilege(caller, src.orders, 'SELECT') THEN
            RAISE EXCEPTION 'permission denied to read %', src.orders USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NOT has_schema_privilege(caller, src.target_schema, 'CREATE') THEN
            RAISE EXCEPTION 'permission denied to create in schema %', quote_ident(src.target_schema)
                USING ERRCODE = 'insufficient_privilege', HINT = 'The helper views of a source are created in its target_schema.';
        END IF;
        INSERT INTO customer_segment.sources (name, orders, customer_column, time_column, amount_column, target_schema, bins,
                                              rule_set, as_of, history_days, tier_ladder, time_zone, registered_by)
        VALUES (source, src.orders, src.customer_column, src.time_column, src.amount_column, src.target_schema,
                src.bins, src.rule_set, src.as_of, src.history_days, src.tier_ladder, src.time_zone, pg_get_userbyid(caller));
        RETURN NULL;
    END IF;

    SELECT * INTO src FROM customer_segment.sources s WHERE s.name = registry_apply.source FOR UPDATE;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = caller
                                   AND (r.rolsuper OR EXISTS (SELECT 1 FROM pg_roles o WHERE o.rolname = src.registered_by
                                                                 AND pg_has_role(caller, o.oid, 'USAGE')))) THEN
        RAISE EXCEPTION 'source "%" is not registered', source USING ERRCODE = 'undefined_object';
    END IF;
    CASE op
    WHEN 'create_views' THEN
        created := customer_segment.run_as_owner(to_regrole(quote_ident(src.registered_by)), format(
            'SELECT to_jsonb(array_agg(v))::text FROM customer_segment.sources s, customer_segment.create_source_views(s) v
              WHERE s.name = %L', src.name));
        DELETE FROM customer_segment.source_relations r
         WHERE r.source = src.name AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = r.relation);
        PERFORM customer_segment.record_source_relations(src, ARRAY(
            SELECT v.helper FROM customer_segment.source_views(src) v
             WHERE v.view_name IN (SELECT jsonb_array_elements_text(created::jsonb))));
        RETURN created;
    WHEN 'set_change_column' THEN
        DELETE FROM customer_segment.source_increments i WHERE i.source = src.name;
        DELETE FROM customer_segment.source_relations r WHERE r.source = src.name AND r.helper = 'states';
        IF detail ->> 'change_column' IS NOT NULL THEN
            PERFORM customer_segment.check_change_column(src.orders, detail ->> 'change_column');
            INSERT INTO customer_segment.source_increments (source, change_column, owner)
            VALUES (src.name, detail ->> 'change_column', src.registered_by);
        END IF;
    WHEN 'states_updated' THEN
        UPDATE customer_segment.source_increments i
           SET watermark = detail ->> 'watermark', covered_rows = (detail ->> 'covered_rows')::bigint,
               last_day = (detail ->> 'last_day')::date, updated_at = clock_timestamp(), note = detail ->> 'note'
         WHERE i.source = src.name;
        IF customer_segment.source_relation(src, 'states') IS NULL THEN
            PERFORM customer_segment.record_source_relations(src, ARRAY['states']);
        END IF;
    WHEN 'snapshot' THEN
        RETURN customer_segment.snapshot_history(src);
    WHEN 'log' THEN
        INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, customers, status, error, note, owner)
        VALUES (src.name, (detail ->> 'started_at')::timestamptz, clock_timestamp(), (detail ->> 'customers')::bigint,
                detail ->> 'status', detail ->> 'error', detail ->> 'note', src.registered_by);
    WHEN 'unregister' THEN
        DELETE FROM customer_segment.sources s WHERE s.name = src.name;
        DELETE FROM customer_segment.segment_history h WHERE h.source = src.name;
        PERFORM customer_segment.drop_empty_history_partitions();
    ELSE
        RAISE EXCEPTION 'unknown registry write "%"', op USING ERRCODE = 'invalid_parameter_value';
    END CASE;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION customer_segment.registry_apply(regrole, text, text, jsonb) IS
    'The writes of registry_write, each checked against the calling role; run only by registry_write, as the extension''s owner';
REVOKE EXECUTE ON FUNCTION customer_segment.registry_apply(regrole, text, text, jsonb) FROM PUBLIC;

CREATE FUNCTION customer_segment.registry_write(op text, source text, detail jsonb DEFAULT NULL)
RETURNS text LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'registry_write';
COMMENT ON FUNCTION customer_segment.registry_write(text, text, jsonb) IS
    'The one door to the registry tables: registry_apply(calling role, op, source, detail) run as the extension''s owner';

CREATE OR REPLACE FUNCTION customer_segment.check_source_views(src customer_segment.sources)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    bad record;
BEGIN
    SELECT p.relation_name, coalesce(p.problem, 'It is not the one recorded when the view was created.') AS detail
      INTO bad
      FROM customer_segment.source_relation_problems(src) p
     WHERE p.helper <> 'states'
       AND (p.problem IS NOT NULL OR customer_segment.source_relation(src, p.helper) IS NULL)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'helper view % of source "%" is not the one register_source created', bad.relation_name, src.name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = bad.detail,
                  HINT = format('Unregister the source and register it again: SELECT customer_segment.unregister_source(%L);', src.name);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.check_source_views(customer_segment.sources) IS
    'Raises 55000 unless the table behind every helper view of the source is the one recorded for it, owned by the source''s owner with built-in column types';

CREATE OR REPLACE FUNCTION customer_segment.create_source_views(src customer_segment.sources)
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT * FROM customer_segment.source_views(src) s WHERE customer_segment.source_relation(src, s.helper) IS NULL LOOP
        EXECUTE format('CREATE TABLE %s AS %s WITH NO DATA', v.data_name, v.definition);
        IF v.unique_key IS NOT NULL THEN
            EXECUTE format('CREATE UNIQUE INDEX ON %s (%s)', v.data_name, v.unique_key);
        END IF;
        EXECUTE format('CREATE VIEW %s AS SELECT * FROM %s', v.view_name, v.data_name);
        IF current_user <> src.registered_by THEN
            -- a superuser or a member of the owning role: the views belong to the source's owner all the same
            EXECUTE format('ALTER TABLE %s OWNER TO %I', v.data_name, src.registered_by);
            EXECUTE format('ALTER VIEW %s OWNER TO %I', v.view_name, src.registered_by);
        END IF;
        PERFORM customer_segment.comment_source_view(src, v.view_name, v.data_name, v.comment, v.helper);
        RETURN NEXT v.view_name;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.create_source_views(customer_segment.sources) IS
    'Creates the helper views a source has not got (plain views over empty tables, the summaries with unique indexes) and their comments; returns the views'' names';

CREATE OR REPLACE FUNCTION customer_segment.register_source(name text, orders regclass, customer_column name,
    time_column name, amount_column name, target_schema name DEFAULT NULL, bins integer DEFAULT 5,
    rule_set text DEFAULT 'standard', as_of date DEFAULT NULL, history_days integer DEFAULT NULL,
    tier_ladder text DEFAULT NULL, time_zone text DEFAULT current_setting('TimeZone'))
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
BEGIN
    PERFORM customer_segment.orders_source_sql(orders, customer_column, time_column, amount_column);
    IF time_zone IS NULL THEN
        RAISE EXCEPTION 'time_zone must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the zone the business counts its days in, e.g. ''Europe/Berlin''.';
    END IF;
    -- the registry checks the rights on orders and schema, and the settings (checked_source_settings)
    PERFORM customer_segment.registry_write('register', name, jsonb_build_object(
        'orders', orders::oid, 'customer_column', customer_column, 'time_column', time_column, 'amount_column', amount_column,
        'target_schema', coalesce(target_schema, (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                                   WHERE c.oid = orders)),
        'bins', bins, 'rule_set', rule_set, 'as_of', as_of, 'history_days', history_days, 'tier_ladder', tier_ladder,
        'time_zone', time_zone));
    RETURN QUERY SELECT jsonb_array_elements_text(customer_segment.registry_write('create_views', name)::jsonb);
END
$$;
COMMENT ON FUNCTION customer_segment.register_source(text, regclass, name, name, name, name, integer, text, date, integer, text, text) IS
    'Registers an orders table with its business time zone (default: the session''s) and creates its helper views (empty until the first refresh); returns their names';

CREATE OR REPLACE FUNCTION customer_segment.set_source_clusters(source text, k integer)
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
    v record;
BEGIN
    IF k IS NULL THEN
        FOR v IN SELECT * FROM customer_segment.source_views(src) s WHERE s.helper IN ('clusters', 'cluster_profiles') LOOP
            PERFORM customer_segment.drop_source_view(src, v.view_name, v.data_name, false);
        END LOOP;
    ELSIF k < 2 OR k > 20 THEN
        RAISE EXCEPTION 'k must be between 2 and 20' USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', k);
    END IF;
    UPDATE customer_segment.sources s SET clusters = set_source_clusters.k WHERE s.name = src.name;
    RETURN QUERY SELECT jsonb_array_elements_text(customer_segment.registry_write('create_views', src.name)::jsonb);
END
$$;
COMMENT ON FUNCTION customer_segment.set_source_clusters(text, integer) IS
    'Gives a source k-means clusters (k = 2..20) of its customers in two more helper views, <name>_clusters and <name>_cluster_profiles, '
    'filled at each refresh; NULL drops them; returns the views created';

CREATE OR REPLACE FUNCTION customer_segment.drop_source_view(src customer_segment.sources, view_name text, data_name text, cascade boolean)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    dependents text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM customer_segment.source_relations r
                    WHERE r.source = src.name AND r.relation = to_regclass(data_name)) THEN
        RETURN;
    END IF;
    -- the plain view goes when it is the one over this source's data (not an object of the user's)
    IF EXISTS (SELECT 1 FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                WHERE r.ev_class = to_regclass(view_name) AND d.refobjid = to_regclass(data_name)) THEN
        EXECUTE format('DROP VIEW %s %s', view_name, CASE WHEN cascade THEN 'CASCADE' ELSE 'RESTRICT' END);
    END IF;
    EXECUTE format('DROP TABLE IF EXISTS %s %s', data_name, CASE WHEN cascade THEN 'CASCADE' ELSE 'RESTRICT' END);
EXCEPTION WHEN dependent_objects_still_exist THEN
    -- PostgreSQL's detail names them
    GET STACKED DIAGNOSTICS dependents = PG_EXCEPTION_DETAIL;
    RAISE EXCEPTION 'objects of yours depend on helper view % of source "%"', view_name, src.name
        USING ERRCODE = 'dependent_objects_still_exist', DETAIL = dependents,
              HINT = 'Drop them first, or pass cascade => true to drop them too.';
END
$$;
COMMENT ON FUNCTION customer_segment.drop_source_view(customer_segment.sources, text, text, boolean) IS
    'Drops a helper view of a source and the table behind it, when that is the one recorded for the source; 2BP01 naming the user''s dependent objects unless cascade';

CREATE OR REPLACE FUNCTION customer_segment.unregister_source(name text, cascade boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    v record;
    msg text;
    dependents text;
BEGIN
    src := customer_segment.get_source(name);
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        BEGIN
            PERFORM customer_segment.drop_source_view(src, v.view_name, v.data_name, cascade);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, dependents = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION 'cannot unregister source "%": %', name, msg
                USING ERRCODE = 'dependent_objects_still_exist', DETAIL = dependents,
                      HINT = format('Drop them first, or SELECT customer_segment.unregister_source(%L, cascade => true); to drop them too.', name);
        END;
    END LOOP;
    IF customer_segment.source_relation(src, 'states') IS NOT NULL THEN
        EXECUTE format('DROP TABLE %s', customer_segment.source_relation(src, 'states'));
    END IF;
    PERFORM customer_segment.registry_write('unregister', src.name);
END
$$;
COMMENT ON FUNCTION customer_segment.unregister_source(text, boolean) IS
    'Drops the helper views, the states (incremental refresh) and the history of a source and forgets it (the orders table is untouched); refuses (2BP01) when other objects depend on the views, unless cascade';

CREATE OR REPLACE FUNCTION customer_segment.set_source_change_column(name text, change_column name)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(name);
    states regclass := customer_segment.source_relation(src, 'states');
BEGIN
    IF states IS NOT NULL THEN
        EXECUTE format('DROP TABLE %s', states);
    END IF;
    PERFORM customer_segment.registry_write('set_change_column', src.name, jsonb_build_object('change_column', change_column));
END
$$;
COMMENT ON FUNCTION customer_segment.set_source_change_column(text, name) IS
    'Refresh a source incrementally by an ever-increasing key column of its orders (NULL: from all orders every time); '
    'drops the states it kept, so the next refresh builds them';

CREATE OR REPLACE FUNCTION customer_segment.update_source_states(src customer_segment.sources, rebuild boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    inc customer_segment.source_increments;
    states text := customer_segment.source_states_table(src);
    o record;
    key text;
    key_type regtype;
    covered bigint;
    stats record;
    what text;
BEGIN
    SELECT * INTO inc FROM customer_segment.source_increments i WHERE i.source = src.name;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF to_regclass(states) IS DISTINCT FROM customer_segment.source_relation(src, 'states') THEN
        RAISE EXCEPTION 'table % is not the states table of source "%"', states, src.name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'It was not created by the refresh of the source.',
                  HINT = format('Drop or rename it, then SELECT customer_segment.set_source_change_column(%L, %L);', src.name, inc.change_column);
    END IF;
    o := customer_segment.orders_source_sql(src.orders, src.customer_column, src.time_column, src.amount_column, src.time_zone);
    key := format('o.%I', inc.change_column);
    key_type := customer_segment.check_change_column(src.orders, inc.change_column);
    IF to_regclass(states) IS NULL THEN
        EXECUTE format('CREATE TABLE %s (customer_id text PRIMARY KEY, state customer_segment.rfm_summary_state NOT NULL)', states);
        IF current_user <> src.registered_by THEN
            EXECUTE format('ALTER TABLE %s OWNER TO %I', states, src.registered_by);
        END IF;
        EXECUTE format('COMMENT ON TABLE %s IS %L', states,
                       format('Per-customer rfm_summary_state of source %s, kept by incremental refresh', src.name));
        rebuild := true;
        what := 'states built';
    ELSIF rebuild THEN
        what := 'states rebuilt (full refresh)';
    ELSIF inc.watermark IS NULL THEN
        rebuild := true;
        what := 'states built';
    ELSE
        -- Rows below the watermark that appeared or went away (a late commit, a delete) are only seen here.
        EXECUTE format('SELECT count(*) FROM %s WHERE %s OPERATOR(pg_catalog.<=) $1::%s OR %s IS NULL',
                       o.from_clause, key, key_type, key) INTO covered USING inc.watermark;
        IF covered <> inc.covered_rows THEN
            rebuild := true;
            what := format('states rebuilt: %s rows at or below the watermark, %s when it was set', covered, inc.covered_rows);
        END IF;
    END IF;
    -- One statement each, so the rows merged and the watermark come from one snapshot.
    IF rebuild THEN
        EXECUTE format('TRUNCATE %s', states);
        EXECUTE format($q$
            WITH ins AS (
                INSERT INTO %1$s
                SELECT %2$s::text, customer_segment.rfm_state(%3$s, %4$s) FROM %5$s WHERE %2$s IS NOT NULL GROUP BY %2$s
                RETURNING 1
            ), seen AS (
                SELECT to_json(max(%6$s)) #>> '{}' AS watermark, count(*) AS n, max((%3$s)::date) AS last_day FROM %5$s
            )
            SELECT seen.*, merged.customers FROM seen CROSS JOIN (SELECT count(*) AS customers FROM ins) merged
            $q$, states, o.customer_expr, o.time_expr, o.amount_expr, o.from_clause, key) INTO stats;
        what := format('%s from %s rows, %s customers', what, stats.n, stats.customers);
        PERFORM customer_segment.registry_write('states_updated', src.name, jsonb_build_object(
            'watermark', stats.watermark, 'covered_rows', stats.n, 'last_day', stats.last_day, 'note', what));
    ELSE
        EXECUTE format($q$
            WITH rows AS MATERIALIZED (
                SELECT %2$s AS c, %3$s AS t, %4$s AS a, %6$s AS k FROM %5$s WHERE %6$s OPERATOR(pg_catalog.>) $1::%7$s
            ), ins AS (
                INSERT INTO %1$s AS s
                SELECT c::text, customer_segment.rfm_state(t, a) FROM rows WHERE c IS NOT NULL GROUP BY c
                ON CONFLICT (customer_id) DO UPDATE
                   SET state = (SELECT customer_segment.rfm_state_merge(x) FROM (VALUES (s.state), (excluded.state)) v(x))
                RETURNING 1
            ), seen AS (
                SELECT to_json(max(k)) #>> '{}' AS watermark, count(*) AS n, max(t::date) AS last_day FROM rows
            )
            SELECT seen.*, merged.customers FROM seen CROSS JOIN (SELECT count(*) AS customers FROM ins) merged
            $q$, states, o.customer_expr, o.time_expr, o.amount_expr, o.from_clause, key, key_type)
          INTO stats USING inc.watermark;
        what := format('%s new rows merged into %s customers', stats.n, stats.customers);
        PERFORM customer_segment.registry_write('states_updated', src.name, jsonb_build_object(
            'watermark', coalesce(stats.watermark, inc.watermark), 'covered_rows', inc.covered_rows + stats.n,
            'last_day', greatest(inc.last_day, stats.last_day), 'note', what));
    END IF;
    RETURN what;
END
$$;
COMMENT ON FUNCTION customer_segment.update_source_states(customer_segment.sources, boolean) IS
    'Merges the orders past the watermark into the states of an incrementally refreshed source, or rebuilds them '
    '(rebuild, first time, or when the rows at or below the watermark changed in number); returns what it did; NULL for other sources';

CREATE OR REPLACE FUNCTION customer_segment.source_states(src customer_segment.sources, as_of date)
RETURNS regclass LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT customer_segment.source_relation(src, 'states')
      FROM customer_segment.source_increments i
     WHERE i.source = src.name AND i.watermark IS NOT NULL AND (i.last_day IS NULL OR as_of >= i.last_day)
$$;
COMMENT ON FUNCTION customer_segment.source_states(customer_segment.sources, date) IS
    'The states table a source''s helper views read for as_of, or NULL when they read its orders';

CREATE OR REPLACE FUNCTION customer_segment.refresh(source text, wait boolean DEFAULT true, full boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    started timestamptz;
    n bigint;
    state text := 'ok';
    msg text;
    note text;
    caller_lock_timeout text := current_setting('lock_timeout');
BEGIN
    src := customer_segment.get_source(source);
    -- One refresh of a source at a time; the lock ends with the transaction.
    IF wait THEN
        PERFORM pg_advisory_xact_lock(hashtext('customer_segment.refresh'), hashtext(source));
    ELSIF NOT pg_try_advisory_xact_lock(hashtext('customer_segment.refresh'), hashtext(source)) THEN
        RAISE NOTICE 'a refresh of source "%" is already running; skipped', source;
        RETURN 'skipped';
    END IF;
    -- The work starts now; the wait for another refresh of this source is not part of it.
    started := clock_timestamp();
    -- Any other lock is waited for at most customer_segment.refresh_lock_timeout (default 1 minute): a
    -- long transaction that read the history cannot stall the refresh, and every reader queued behind it.
    PERFORM set_config('lock_timeout',
        coalesce(nullif(current_setting('customer_segment.refresh_lock_timeout', true), ''), '1min'), true);
    BEGIN
        PERFORM set_config('customer_segment.refresh_predictions', 'on', true);
        SELECT v.customers, v.note INTO n, note FROM customer_segment.refresh_views(src, "full") v;
    EXCEPTION WHEN OTHERS THEN
        -- The subtransaction is rolled back: every helper table keeps its previous rows.
        state := 'failed';
        msg := SQLSTATE || ': ' || SQLERRM;
    END;
    -- The prediction columns are optional: when a data error (class 22: a model that cannot be fitted, a
    -- prediction that overflows) stopped the refresh, it runs once more with them NULL, and the log says why.
    IF state = 'failed' AND left(msg, 2) = '22' THEN
        BEGIN
            PERFORM set_config('customer_segment.refresh_predictions', 'off', true);
            SELECT v.customers, v.note INTO n, note FROM customer_segment.refresh_views(src, "full") v;
            state := 'ok';
            note := concat_ws('; ', note, 'prediction columns left NULL: ' || msg);
            msg := NULL;
            RAISE WARNING 'refresh of source "%": %', source, note;
        EXCEPTION WHEN OTHERS THEN
            msg := SQLSTATE || ': ' || SQLERRM;
        END;
    END IF;
    IF state = 'failed' THEN
        RAISE WARNING 'refresh of source "%" failed, previous results kept: %', source, msg;
    END IF;
    PERFORM set_config('customer_segment.refresh_predictions', 'on', true);
    PERFORM set_config('lock_timeout', caller_lock_timeout, true);
    PERFORM customer_segment.registry_write('log', src.name, jsonb_build_object(
        'started_at', started, 'customers', n, 'status', state, 'error', msg, 'note', note));
    RETURN state;
END
$$;
COMMENT ON FUNCTION customer_segment.refresh(text, boolean, boolean) IS
    'Recomputes the helper views of a source (readers see the old rows until it commits), one refresh at a time (wait => false skips when busy); '
    'a source with a change column merges only the new orders into its states (full => true rebuilds them); '
    'logs the run; a data error in the prediction columns leaves them NULL (logged note); any other failure keeps the previous results and returns failed';

CREATE OR REPLACE FUNCTION customer_segment.snapshot_history(src customer_segment.sources)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    customers regclass := customer_segment.source_relation(src, 'customers');
    day date;
    n bigint;
BEGIN
    PERFORM customer_segment.check_source_views(src);
    EXECUTE format('SELECT max(as_of) FROM %s', customers) INTO day;
    IF day IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM customer_segment.create_history_partition(day);
    -- A second refresh of the same day replaces that day's snapshot.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date = day;
    EXECUTE format('INSERT INTO customer_segment.segment_history
                    SELECT %L, as_of, customer_id, segment, rfm_cell, lifecycle_stage, tier, monetary_total, %L FROM %s',
                   src.name, src.registered_by, customers);
    GET DIAGNOSTICS n = ROW_COUNT;
    -- Retention: older snapshots of this source go; partitions left empty are dropped.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date < day - src.history_days;
    PERFORM customer_segment.drop_empty_history_partitions();
    RETURN n;
END
$$;
COMMENT ON FUNCTION customer_segment.snapshot_history(customer_segment.sources) IS
    'Copies the customers view of a source into segment_history for its as_of day, applies the retention, drops empty partitions (registry only)';
REVOKE EXECUTE ON FUNCTION customer_segment.snapshot_history(customer_segment.sources) FROM PUBLIC;

-- Row security and grants: reads of one's own rows; writes through the registry only.
DROP POLICY owner_registers ON customer_segment.sources;
DROP POLICY owner_unregisters ON customer_segment.sources;
DROP POLICY owner_logs ON customer_segment.refresh_log;
DROP POLICY owner_only ON customer_segment.segment_history;
DROP POLICY owner_only ON customer_segment.source_increments;
REVOKE INSERT, DELETE ON customer_segment.sources FROM PUBLIC;
REVOKE INSERT ON customer_segment.refresh_log FROM PUBLIC;
REVOKE INSERT, DELETE ON customer_segment.segment_history FROM PUBLIC;
REVOKE INSERT, UPDATE, DELETE ON customer_segment.source_increments FROM PUBLIC;
ALTER TABLE customer_segment.source_relations ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.source_relations FOR SELECT
    USING (source IN (SELECT s.name FROM customer_segment.sources s));
GRANT SELECT ON customer_segment.source_relations TO PUBLIC;
CREATE POLICY owner_reads ON customer_segment.segment_history FOR SELECT USING (customer_segment.acts_as(owner));
CREATE POLICY owner_reads ON customer_segment.source_increments FOR SELECT USING (customer_segment.acts_as(owner));

-- The day of a time column, one piece of SQL for the orders and the subscriptions.
CREATE FUNCTION customer_segment.day_sql(source regclass, time_column name, zone text)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    time_type regtype := customer_segment.column_type(source, time_column);
    expr text;
BEGIN
    PERFORM customer_segment.check_time_zone(zone);
    expr := CASE
        WHEN time_type = 'date'::regtype THEN format('o.%I', time_column)
        WHEN time_type = 'timestamptz'::regtype AND zone IS NULL THEN format('o.%I', time_column)
        WHEN time_type = 'timestamptz'::regtype THEN format('(o.%I AT TIME ZONE %L)::date', time_column, zone)
        WHEN time_type = 'timestamp'::regtype THEN format('o.%I::date', time_column)
    END;
    IF expr IS NULL THEN
        RAISE EXCEPTION 'column "%" has type %, expected date, timestamp or timestamptz', time_column, time_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    RETURN expr;
END
$$;
COMMENT ON FUNCTION customer_segment.day_sql(regclass, name, text) IS
    'Quoted SQL for the day of a date, timestamp or timestamptz column (a timestamptz taken in zone; NULL zone: left a timestamptz)';

CREATE OR REPLACE FUNCTION customer_segment.orders_source_sql(source regclass, customer_column name, time_column name,
    amount_column name, zone text DEFAULT NULL,
    OUT customer_expr text, OUT time_expr text, OUT amount_expr text, OUT from_clause text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF source IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'the orders table and its column names must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    customer_expr := customer_segment.safe_key_sql(source, customer_column);
    time_expr := customer_segment.day_sql(source, time_column, zone);
    amount_expr := customer_segment.number_sql(source, amount_column);
    from_clause := format('%s o', source);
END
$$;
COMMENT ON FUNCTION customer_segment.orders_source_sql(regclass, name, name, name, text) IS
    'Validated, quoted SQL expressions for the customer, time (a day, timestamptz taken in zone) and amount columns of an orders table';

-- Subscriptions: the shifted-beta-geometric model (src/sql/76_sbg.sql, all new).
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

-- Model choice (src/sql/77_model_choice.sql, all new).
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

-- The sample generators share their argument checks.
CREATE FUNCTION customer_segment.check_sample_arguments(generator text, target_schema name, what text, n integer,
    seed bigint, start_date date, end_date date)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF target_schema IS NULL OR n IS NULL OR seed IS NULL OR start_date IS NULL OR end_date IS NULL THEN
        RAISE EXCEPTION '% arguments must not be NULL', generator USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF n < 1 OR n > 100000000 THEN
        RAISE EXCEPTION '% must be between 1 and 100000000', what USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', n);
    END IF;
    IF end_date <= start_date OR NOT isfinite(start_date) OR NOT isfinite(end_date) THEN
        RAISE EXCEPTION 'end_date must be a finite date after start_date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regnamespace(quote_ident(target_schema)) IS NULL THEN
        RAISE EXCEPTION 'schema "%" does not exist', target_schema USING ERRCODE = 'invalid_schema_name',
            HINT = format('CREATE SCHEMA %I;', target_schema);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.check_sample_arguments(text, name, text, integer, bigint, date, date) IS
    'Raises 22004, 22023 or 3F000 unless a sample generator''s arguments are usable';

CREATE OR REPLACE FUNCTION customer_segment.create_sample_store(
    target_schema name DEFAULT 'public',
    customers integer DEFAULT 5000,
    seed bigint DEFAULT 42,
    start_date date DEFAULT '2023-01-01',
    end_date date DEFAULT '2025-12-31')
RETURNS TABLE (customers_created bigint, orders_created bigint, refunds_created bigint, customers_without_orders bigint)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    span integer;
BEGIN
    PERFORM customer_segment.check_sample_arguments('create_sample_store', target_schema, 'customers', customers, seed,
                                                    start_date, end_date);
    span := end_date - start_date + 1;
    IF to_regclass(format('%I.customers', target_schema)) IS NOT NULL
       OR to_regclass(format('%I.orders', target_schema)) IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" already has a customers or orders table', target_schema
            USING ERRCODE = 'duplicate_table',
                  HINT = 'The sample store never overwrites tables: use another schema or drop them first.';
    END IF;

    EXECUTE format($q$
        CREATE TABLE %1$I.customers (
            customer_id integer PRIMARY KEY,
            signup_date date NOT NULL,
            channel     text NOT NULL
        );
        CREATE TABLE %1$I.orders (
            order_id    bigint PRIMARY KEY,
            customer_id integer NOT NULL,
            ordered_at  timestamptz NOT NULL,
            amount      numeric(12,2) NOT NULL
        );
        COMMENT ON TABLE %1$I.customers IS 'Sample store customers (customer_segment.create_sample_store)';
        COMMENT ON TABLE %1$I.orders IS 'Sample store orders; negative amounts are refunds';
    $q$, target_schema);

    EXECUTE format($q$
        INSERT INTO %1$I.customers
        SELECT id, $1 + floor(customer_segment.sample_uniform(id * 16::bigint, $2) * $3)::integer,
               (ARRAY['web', 'app', 'store'])[1 + floor(customer_segment.sample_uniform(id * 16::bigint + 1, $2) * 3)::integer]
          FROM generate_series(1, $4) id
    $q$, target_schema) USING start_date, seed, span, customers;

    EXECUTE format($q$
        WITH buyer AS (
            SELECT c.customer_id AS id,
                   (c.signup_date - $1) + 10 * -ln(customer_segment.sample_uniform(c.customer_id * 16::bigint + 7, $2)) AS first_t,
                   least(1.0, exp(ln(1 / 33.0) + 0.9 * customer_segment.sample_normal(c.customer_id * 16::bigint + 3, $2))) AS rate,
                   0.01 + 0.3 * customer_segment.sample_uniform(c.customer_id * 16::bigint + 4, $2) ^ 2 AS dropout,
                   ln(35) + 0.5 * customer_segment.sample_normal(c.customer_id * 16::bigint + 6, $2) AS spend_mu,
                   customer_segment.sample_uniform(c.customer_id * 16::bigint + 5, $2) AS life_u
              FROM %1$I.customers c
             WHERE customer_segment.sample_uniform(c.customer_id * 16::bigint + 2, $2) >= 0.08
        ), sized AS (
            -- purchases before dropout (geometric), capped well above what the window can hold
            SELECT b.*, least(1 + floor(ln(b.life_u) / ln(1 - b.dropout))::integer,
                              ceil(3 * b.rate * greatest($3 - b.first_t, 0) + 10)::integer, 500) AS n
              FROM buyer b
        ), purchase AS (
            SELECT s.id, k, s.spend_mu, (s.id::bigint * 512 + k) * 8 AS key,
                   s.first_t + sum(CASE WHEN k = 1 THEN 0
                                        ELSE -ln(customer_segment.sample_uniform((s.id::bigint * 512 + k) * 8, $2)) / s.rate END)
                               OVER (PARTITION BY s.id ORDER BY k) AS t
              FROM sized s, generate_series(1, s.n) k
        ), kept AS (
            SELECT p.*, round(greatest(1, exp(p.spend_mu + 0.35 * customer_segment.sample_normal(p.key + 1, $2)))::numeric, 2) AS amount
              FROM purchase p WHERE p.t < $3
        ), rows AS (
            SELECT id, t, amount, 0 AS kind FROM kept
            UNION ALL     -- a second order the same day
            SELECT id, t + 0.05, round(greatest(1, 0.5 * exp(spend_mu + 0.35 * customer_segment.sample_normal(key + 2, $2)))::numeric, 2), 1
              FROM kept WHERE customer_segment.sample_uniform(key + 3, $2) < 0.04
            UNION ALL     -- a refund, in full or in half
            SELECT id, t + 1 + floor(20 * customer_segment.sample_uniform(key + 5, $2)),
                   -CASE WHEN customer_segment.sample_uniform(key + 6, $2) < 0.6 THEN amount ELSE round(amount / 2, 2) END, 2
              FROM kept WHERE customer_segment.sample_uniform(key + 4, $2) < 0.03
        )
        INSERT INTO %1$I.orders
        SELECT row_number() OVER (ORDER BY ts, id, kind), id, ts, amount
          FROM (SELECT id, kind, amount, ($1::timestamp AT TIME ZONE 'UTC') + t * interval '1 day' AS ts
                  FROM rows WHERE t < $3) r
    $q$, target_schema) USING start_date, seed, span;

    EXECUTE format('ANALYZE %1$I.customers; ANALYZE %1$I.orders', target_schema);
    RETURN QUERY EXECUTE format($q$
        SELECT (SELECT count(*) FROM %1$I.customers),
               (SELECT count(*) FROM %1$I.orders WHERE amount >= 0),
               (SELECT count(*) FROM %1$I.orders WHERE amount < 0),
               (SELECT count(*) FROM %1$I.customers c
                 WHERE NOT EXISTS (SELECT 1 FROM %1$I.orders o WHERE o.customer_id = c.customer_id))
    $q$, target_schema);
END
$$;
COMMENT ON FUNCTION customer_segment.create_sample_store(name, integer, bigint, date, date) IS
    'Creates target_schema.customers and target_schema.orders (about 10 orders per customer) from a fixed seed; refuses to overwrite existing tables';

-- Sample subscriptions (src/sql/91_sample_subscriptions.sql, new).
CREATE FUNCTION customer_segment.create_sample_subscriptions(
    target_schema name DEFAULT 'public',
    members integer DEFAULT 2000,
    seed bigint DEFAULT 42,
    start_date date DEFAULT '2023-01-01',
    end_date date DEFAULT '2025-12-31')
RETURNS TABLE (subscriptions_created bigint, active bigint)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.check_sample_arguments('create_sample_subscriptions', target_schema, 'members', members, seed,
                                                    start_date, end_date);
    IF to_regclass(format('%I.subscriptions', target_schema)) IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" already has a subscriptions table', target_schema USING ERRCODE = 'duplicate_table',
            HINT = 'The sample never overwrites tables: use another schema or drop it first.';
    END IF;
    EXECUTE format($q$
        CREATE TABLE %1$I.subscriptions (
            subscription_id integer PRIMARY KEY,
            member_id       integer NOT NULL,
            plan            text NOT NULL,
            period          interval NOT NULL,
            fee             numeric(8,2) NOT NULL,
            started_on      date NOT NULL,
            ended_on        date
        );
        COMMENT ON TABLE %1$I.subscriptions IS
            'Sample memberships (customer_segment.create_sample_subscriptions): ended_on NULL while running';
        WITH m AS (
            SELECT id, $1 + floor(customer_segment.sample_uniform(id * 8::bigint, $2) * ($3 - $1 + 1))::integer AS started_on,
                   customer_segment.sample_uniform(id * 8::bigint + 1, $2) < 0.7 AS monthly,
                   customer_segment.sample_uniform(id * 8::bigint + 2, $2) AS u,
                   customer_segment.sample_uniform(id * 8::bigint + 3, $2) AS v
              FROM generate_series(1, $4) id
        ), paid AS (
            SELECT m.*, CASE WHEN monthly THEN interval '1 month' ELSE interval '1 year' END AS period,
                   ceil(ln(v) / ln(1 - CASE WHEN monthly THEN 0.01 + 0.5 * u ^ 3 ELSE 0.05 + 0.6 * u ^ 2 END))::integer AS periods
              FROM m
        )
        INSERT INTO %1$I.subscriptions
        SELECT id, 100000 + id, CASE WHEN monthly THEN 'monthly' ELSE 'annual' END, period,
               CASE WHEN monthly THEN 9.90 ELSE 99.00 END, started_on,
               CASE WHEN (started_on + least(periods, 10000) * period)::date <= $3 THEN (started_on + periods * period)::date END
          FROM paid
    $q$, target_schema) USING start_date, seed, end_date, members;
    RETURN QUERY EXECUTE format('SELECT count(*), count(*) FILTER (WHERE ended_on IS NULL) FROM %I.subscriptions', target_schema);
END
$$;
COMMENT ON FUNCTION customer_segment.create_sample_subscriptions(name, integer, bigint, date, date) IS
    'Creates <schema>.subscriptions: reproducible monthly and annual memberships with heterogeneous cancellation (sBG-like); returns the rows and those still running';

-- 1.8: the purchase models in one list (btyd_models), read by btyd_analyze, the sources' CHECK, btyd_evaluate
-- and the report's names.
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

ALTER TABLE customer_segment.sources DROP CONSTRAINT sources_prediction_model_check,
    ADD CONSTRAINT sources_prediction_model_check CHECK (customer_segment.is_source_model(prediction_model));

CREATE OR REPLACE FUNCTION customer_segment.btyd_evaluate(source regclass, customer_column name, time_column name,
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

-- The report's purchase models: model choice, period transactions, frequency x recency heat maps.
CREATE FUNCTION customer_segment.btyd_model_label(model text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce((SELECT m.display_name FROM customer_segment.btyd_models() m WHERE m.model = btyd_model_label.model), model);
END;
COMMENT ON FUNCTION customer_segment.btyd_model_label(text) IS 'Display name of a purchase model (btyd_models; bgnbd: BG/NBD, ...), the name itself for another';

CREATE OR REPLACE FUNCTION customer_segment.report_html_models(src customer_segment.sources, calibration_end date, observation_end date)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    metrics text;
    choice text;
    tracking text;
    conditional text;
    periods text;
    matrices text;
BEGIN
    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>',
                             customer_segment.btyd_model_label(e.model), customer_segment.svg_number(e.customers),
                             customer_segment.svg_number(e.actual_purchases), customer_segment.svg_number(e.predicted_purchases, 1),
                             to_char(100 * e.total_error, 'FMS990.0') || '%', customer_segment.svg_number(e.mae, 3),
                             customer_segment.svg_number(e.rmse, 3), coalesce(customer_segment.svg_number(e.holdout_log_likelihood, 1), 'n/a'),
                             CASE WHEN e.converged THEN 'yes' ELSE 'no' END), '' ORDER BY e.model)
      INTO metrics
      FROM customer_segment.btyd_evaluate(src.orders, src.customer_column, src.time_column, src.amount_column,
                                          calibration_end, observation_end, 'week', src.time_zone) e;
    IF metrics IS NULL THEN
        RAISE EXCEPTION 'no customer of source "%" bought by %', src.name, calibration_end
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Pass a shorter holdout_weeks.';
    END IF;
    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>',
                             customer_segment.btyd_model_label(c.model), c.parameters, customer_segment.svg_number(c.log_likelihood, 1),
                             customer_segment.svg_number(c.aic, 1), customer_segment.svg_number(c.delta_aic, 1),
                             customer_segment.svg_number(c.bic, 1), customer_segment.svg_number(c.delta_bic, 1)), '' ORDER BY c.model)
      INTO choice
      FROM customer_segment.btyd_model_choice(src.orders, src.customer_column, src.time_column, src.amount_column,
                                              calibration_end, observation_end, 'week', src.time_zone) c;
    SELECT customer_segment.svg_line_chart(array_agg(t.period::float8 ORDER BY t.period),
               ARRAY['actual', 'BG/NBD', 'Pareto/NBD'],
               array_agg(t.actual_cumulative::float8 ORDER BY t.period) || array_agg(t.bgnbd_cumulative ORDER BY t.period)
                   || array_agg(t.pareto_nbd_cumulative ORDER BY t.period),
               min(t.period) FILTER (WHERE t.holdout)::float8 - 0.5, 'weeks since the first acquisition', 'repeat purchase days, cumulative',
               'holdout')
      INTO tracking
      FROM customer_segment.btyd_tracking(src.orders, src.customer_column, src.time_column, src.amount_column,
                                          calibration_end, observation_end, 'week', src.time_zone) t;
    SELECT customer_segment.svg_line_chart(array_agg(c.frequency_cal::float8 ORDER BY c.frequency_cal),
               ARRAY['actual', 'BG/NBD', 'Pareto/NBD'],
               array_agg(c.actual ORDER BY c.frequency_cal) || array_agg(c.bgnbd ORDER BY c.frequency_cal)
                   || array_agg(c.pareto_nbd ORDER BY c.frequency_cal),
               NULL, 'repeat purchase days in the calibration window (7 = 7 or more)', 'mean purchase days in the holdout')
      INTO conditional
      FROM customer_segment.btyd_conditional_expectations(src.orders, src.customer_column, src.time_column, src.amount_column,
                                                          calibration_end, observation_end, 'week', src.time_zone) c;
    SELECT customer_segment.svg_line_chart(array_agg(p.frequency_cal::float8 ORDER BY p.frequency_cal),
               ARRAY['actual', 'BG/NBD', 'Pareto/NBD'],
               array_agg(p.actual::float8 ORDER BY p.frequency_cal) || array_agg(p.bgnbd ORDER BY p.frequency_cal)
                   || array_agg(p.pareto_nbd ORDER BY p.frequency_cal),
               NULL, 'repeat purchase days in the calibration window (7 = 7 or more)', 'customers')
      INTO periods
      FROM customer_segment.btyd_period_transactions(src.orders, src.customer_column, src.time_column, src.amount_column,
                                                     calibration_end, observation_end, 'week', src.time_zone) p;
    -- BG/NBD over frequency 0..10 (rows, highest first) x recency in ten steps to the longest calibration age
    WITH m AS (
        SELECT h.bgnbd, h.pareto_nbd, h.duration_holdout, max(h.t_cal) OVER () AS t
          FROM customer_segment.btyd_holdout_predictions(src.orders, src.customer_column, src.time_column, src.amount_column,
                                                         calibration_end, observation_end, 'week', src.time_zone) h
         LIMIT 1
    ), x AS (
        SELECT x.*, m.t FROM m, customer_segment.btyd_frequency_recency_matrix(m.bgnbd, m.pareto_nbd, m.t, m.duration_holdout, 10, 10) x
    ), grid AS (
        SELECT f, s, x.bgnbd_p_alive, x.bgnbd_expected
          FROM generate_series(10, 0, -1) f CROSS JOIN generate_series(0, 10) s
          LEFT JOIN x ON x.frequency = f AND x.recency = x.t * s / 10
    )
    SELECT '<h3>P(alive) by frequency and recency (BG/NBD, customers observed for the whole calibration window)</h3>'
           || customer_segment.svg_heat_map(
                  (SELECT array_agg(f::text ORDER BY f DESC) FROM generate_series(0, 10) f),
                  (SELECT array_agg(round(m.t * s / 10)::text ORDER BY s) FROM m, generate_series(0, 10) s),
                  array_agg(g.bgnbd_p_alive ORDER BY g.f DESC, g.s),
                  array_agg(to_char(100 * g.bgnbd_p_alive, 'FM990') ORDER BY g.f DESC, g.s),
                  'frequency', 'recency (weeks)', 40)
           || '<h3>Expected purchase days in the holdout by frequency and recency (BG/NBD)</h3>'
           || customer_segment.svg_heat_map(
                  (SELECT array_agg(f::text ORDER BY f DESC) FROM generate_series(0, 10) f),
                  (SELECT array_agg(round(m.t * s / 10)::text ORDER BY s) FROM m, generate_series(0, 10) s),
                  array_agg(g.bgnbd_expected ORDER BY g.f DESC, g.s),
                  array_agg(to_char(g.bgnbd_expected, 'FM990.0') ORDER BY g.f DESC, g.s),
                  'frequency', 'recency (weeks)', 40)
      INTO matrices
      FROM grid g;
    RETURN format('<h2>Purchase models</h2><p>BG/NBD, MBG/NBD and Pareto/NBD fitted on the orders to %s, forecasting the purchase '
                  'days of the same customers from then to %s (the holdout); the charts show BG/NBD and Pareto/NBD.</p>',
                  calibration_end, observation_end)
        || '<table class="metrics"><tr><th>model</th><th>customers</th><th>actual</th><th>predicted</th><th>total error</th>'
        || '<th>MAE</th><th>RMSE</th><th>holdout log-likelihood</th><th>converged</th></tr>' || coalesce(metrics, '') || '</table>'
        || '<h3>Model choice: information criteria of the calibration fits</h3><table class="choice"><tr><th>model</th>'
        || '<th>parameters</th><th>log-likelihood</th><th>AIC</th><th>&Delta;AIC</th><th>BIC</th><th>&Delta;BIC</th></tr>'
        || coalesce(choice, '') || '</table>'
        || '<h3>Tracking: cumulative repeat purchase days, actual and expected</h3>' || coalesce(tracking, '')
        || '<h3>Conditional expectations: holdout purchases by calibration frequency</h3>' || coalesce(conditional, '')
        || '<h3>Period transactions: customers by repeat purchase days in the calibration window, actual and expected</h3>'
        || coalesce(periods, '') || coalesce(matrices, '');
END
$$;
COMMENT ON FUNCTION customer_segment.report_html_models(customer_segment.sources, date, date) IS
    'The purchase-model section of report_html: holdout metrics and model-choice tables, tracking, conditional-expectation '
    'and period-transactions charts, P(alive) and expected-purchases heat maps by frequency and recency';

-- Rows filed under another role's source (possible before 1.8) are removed and counted; a source whose owner
-- cannot read its orders (registered by a direct INSERT), whose zone is invalid (set by an UPDATE) or whose
-- helper views are not fit to record is named, in a warning and a failed row of its log: its refreshes fail,
-- logged, until it is mended.  Log rows
-- of sources no longer registered stay, as unregister_source leaves them.
DO $$
DECLARE
    t text;
    q text;
    n bigint;
    bad record;
BEGIN
    FOREACH t IN ARRAY ARRAY['source_increments', 'segment_history', 'refresh_log'] LOOP
        EXECUTE format('DELETE FROM customer_segment.%I r WHERE EXISTS (SELECT 1 FROM customer_segment.sources s
                         WHERE s.name = r.source AND s.registered_by <> r.owner)', t);
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            RAISE WARNING 'removed % % rows filed under a source of another role', n, t;
        END IF;
    END LOOP;
    FOR bad IN SELECT * FROM customer_segment.sources x
                WHERE to_regrole(quote_ident(x.registered_by)) IS NULL
                   OR NOT has_table_privilege(to_regrole(quote_ident(x.registered_by)), x.orders, 'SELECT') LOOP
        RAISE WARNING 'source "%": its owner % cannot read %; its refreshes will fail until the owner is granted SELECT or the source is unregistered',
            bad.name, bad.registered_by, bad.orders;
        INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, status, error, owner)
        VALUES (bad.name, now(), now(), 'failed',
                format('42501: the update to 1.8 found that role %s, the owner of the source, cannot read %s', bad.registered_by, bad.orders),
                bad.registered_by);
    END LOOP;
    FOR bad IN SELECT * FROM customer_segment.sources x LOOP
        BEGIN
            PERFORM customer_segment.check_time_zone(bad.time_zone);
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE WARNING 'source "%": time zone "%" is not recognized; its refreshes will fail until set_source_time_zone sets a valid one',
                bad.name, bad.time_zone;
            INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, status, error, owner)
            VALUES (bad.name, now(), now(), 'failed',
                    format('22023: the update to 1.8 found that time zone "%s" of the source is not recognized', bad.time_zone),
                    bad.registered_by);
        END;
    END LOOP;
    -- The helper views' materialized views become tables with the same rows, the source owner's and not the
    -- extension's: the plain views over them are replaced in place (for that, briefly members of the
    -- extension), so their grants, comments and the user's views over them stay; the grants of the
    -- materialized views pass to the tables.  Nothing here reads more than the materialized views' stored rows.
    -- A source whose conversion fails keeps its materialized views, is named below and fails its refreshes
    -- until it is registered again.
    FOR bad IN SELECT x, v.helper, v.view_name, v.data_name, v.unique_key, v.comment, c.oid AS old, c.relispopulated, c.relacl
                 FROM customer_segment.sources x, customer_segment.source_views(x) v
                 JOIN pg_class c ON c.oid = to_regclass(v.data_name)
                WHERE c.relkind = 'm' AND pg_get_userbyid(c.relowner) = x.registered_by
                ORDER BY x.name, v.helper LOOP
        BEGIN
            t := format('%I.%I', (bad.x).target_schema, 'cs_1_8_' || bad.old);
            FOREACH q IN ARRAY ARRAY[
                    format('ALTER MATERIALIZED VIEW %s RENAME TO %I', bad.data_name, 'cs_1_8_' || bad.old),
                    format('CREATE TABLE %s AS SELECT * FROM %s %s', bad.data_name, t,
                           CASE WHEN bad.relispopulated THEN 'WITH DATA' ELSE 'WITH NO DATA' END),
                    format('ALTER EXTENSION customer_segment DROP TABLE %s', bad.data_name),
                    format('ALTER TABLE %s OWNER TO %I', bad.data_name, (bad.x).registered_by),
                    format('ALTER EXTENSION customer_segment ADD VIEW %s', bad.view_name),
                    format('CREATE OR REPLACE VIEW %s AS SELECT * FROM %s', bad.view_name, bad.data_name),
                    format('ALTER EXTENSION customer_segment DROP VIEW %s', bad.view_name),
                    format('DROP MATERIALIZED VIEW %s', t)]
                 || ARRAY(SELECT format('CREATE UNIQUE INDEX ON %s (%s)', bad.data_name, bad.unique_key) WHERE bad.unique_key IS NOT NULL)
                 || ARRAY(SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, bad.data_name,
                                        CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                                        CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
                            FROM aclexplode(bad.relacl) a WHERE a.grantee <> a.grantor) LOOP
                EXECUTE q;
            END LOOP;
            PERFORM customer_segment.comment_source_view(bad.x, bad.view_name, bad.data_name, bad.comment, bad.helper);
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'source "%": helper view % could not be converted to a table: %', (bad.x).name, bad.view_name, SQLERRM;
        END;
    END LOOP;
    -- The relations of each source are recorded as 1.8's registration would have: those that are not (not a
    -- table of the source's owner without row security, with built-in column types) stop its refreshes (55000).
    INSERT INTO customer_segment.source_relations (source, helper, relation)
    SELECT x.name, p.helper, p.relation
      FROM customer_segment.sources x, customer_segment.source_relation_problems(x) p WHERE p.problem IS NULL;
    FOR bad IN SELECT DISTINCT ON (x.name) x.name, x.registered_by, p.relation_name, p.problem
                 FROM customer_segment.sources x, customer_segment.source_relation_problems(x) p
                WHERE p.problem IS NOT NULL AND p.helper <> 'states' ORDER BY x.name LOOP
        RAISE WARNING 'source "%": helper view % cannot be used: %  Its refreshes will fail until it is unregistered and registered again',
            bad.name, bad.relation_name, bad.problem;
        INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, status, error, owner)
        VALUES (bad.name, now(), now(), 'failed',
                format('55000: the update to 1.8 found that helper view %s of the source cannot be used: %s', bad.relation_name, bad.problem),
                bad.registered_by);
    END LOOP;
END
$$;

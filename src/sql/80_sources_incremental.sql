-- Incremental refresh: a source that names a change column (an ever-increasing key of its orders, such as an
-- identity order id or an inserted_at) keeps one rfm_summary_state per customer in <name>_states, and the
-- largest key merged (the watermark).  A refresh reads only the rows past the watermark, merges their states,
-- and computes the customers and cohorts helper views from the states instead of the orders.
-- doc/operations.md, "Incremental refresh", says what it assumes.

CREATE TABLE customer_segment.source_increments (
    source        text PRIMARY KEY REFERENCES customer_segment.sources (name) ON DELETE CASCADE,
    change_column name NOT NULL,
    watermark     text,
    covered_rows  bigint,
    last_day      date,
    updated_at    timestamptz,
    note          text,
    owner         name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE customer_segment.source_increments IS
    'Sources refreshed incrementally (set_source_change_column): change column, watermark and row count of their <name>_states';
COMMENT ON COLUMN customer_segment.source_increments.source IS 'The source';
COMMENT ON COLUMN customer_segment.source_increments.change_column IS 'Ever-increasing key of the orders table (integer, numeric, date or timestamp type)';
COMMENT ON COLUMN customer_segment.source_increments.watermark IS 'Largest key merged into the states, as JSON text; NULL until the states are built';
COMMENT ON COLUMN customer_segment.source_increments.covered_rows IS 'Orders rows with a key at or below the watermark, or no key, when the states were brought up to date';
COMMENT ON COLUMN customer_segment.source_increments.last_day IS 'Latest order day in the states (an as_of before it is refreshed from the orders)';
COMMENT ON COLUMN customer_segment.source_increments.updated_at IS 'When the states were last brought up to date';
COMMENT ON COLUMN customer_segment.source_increments.note IS 'What the last update of the states did';
COMMENT ON COLUMN customer_segment.source_increments.owner IS 'The source''s owner';
SELECT pg_catalog.pg_extension_config_dump('customer_segment.source_increments', '');

-- Key types whose order is built in and whose JSON text reads back the same value.
CREATE FUNCTION customer_segment.check_change_column(source regclass, change_column name)
RETURNS regtype LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    t regtype := customer_segment.column_type(source, change_column);
BEGIN
    IF t NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype, 'date'::regtype,
                 'timestamp'::regtype, 'timestamptz'::regtype) THEN
        RAISE EXCEPTION 'change column "%" has type %', change_column, t USING ERRCODE = 'datatype_mismatch',
            HINT = 'Use an ever-increasing integer, numeric, date or timestamp column, such as an identity order id or an inserted_at.';
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION customer_segment.check_change_column(regclass, name) IS
    'Type of a change column when it is an integer, numeric, date or timestamp type; 42804 otherwise';

CREATE FUNCTION customer_segment.source_states_table(src customer_segment.sources)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || '_states')
$$;
COMMENT ON FUNCTION customer_segment.source_states_table(customer_segment.sources) IS
    'Qualified name of the per-customer states table of an incrementally refreshed source (<name>_states)';

CREATE FUNCTION customer_segment.set_source_change_column(name text, change_column name)
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

-- Brings the states of a source up to date (rebuild: from all orders); returns what it did.
CREATE FUNCTION customer_segment.update_source_states(src customer_segment.sources, rebuild boolean DEFAULT false)
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

-- The states a source's helper views read for as_of, or NULL when they read the orders (no change column,
-- states not built, or an as_of before the latest order kept: a state cannot forget orders).
CREATE FUNCTION customer_segment.source_states(src customer_segment.sources, as_of date)
RETURNS regclass LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT customer_segment.source_relation(src, 'states')
      FROM customer_segment.source_increments i
     WHERE i.source = src.name AND i.watermark IS NOT NULL AND (i.last_day IS NULL OR as_of >= i.last_day)
$$;
COMMENT ON FUNCTION customer_segment.source_states(customer_segment.sources, date) IS
    'The states table a source''s helper views read for as_of, or NULL when they read its orders';

-- rfm_analyze and cohort_retention over a table of states (customer_id, state rfm_summary_state).
-- The per-customer summaries of a table of states as SQL for rfm_scored_sql, as rfm_summaries_query.
CREATE FUNCTION customer_segment.rfm_state_summaries_query(states regclass)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN format('SELECT %s::text AS customer_id, customer_segment.rfm_state_summary(%s, $1, $2, $3) AS s FROM %s s',
                  customer_segment.safe_key_sql(states, 'customer_id', 's'), customer_segment.state_column_sql(states), states);
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_state_summaries_query(regclass) IS
    'Text of the query of per-customer summaries of a states table ($1 as_of, $2 granularity, $3 unit) that rfm_scored_sql scores';

CREATE FUNCTION customer_segment.rfm_analyze_states(states regclass, as_of date, bins integer DEFAULT 5,
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

CREATE FUNCTION customer_segment.cohort_retention_states(states regclass, as_of date, period text DEFAULT 'month')
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF as_of IS NULL OR period IS NULL THEN
        RAISE EXCEPTION 'as_of and period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.check_period(period);
    RETURN QUERY EXECUTE customer_segment.cohort_sql(format(
        'SELECT date_trunc($2, (customer_segment.rfm_state_summary(%1$s, $1)).first_purchase)::date AS cohort,
                customer_segment.rfm_state_activity(%1$s, $1, $2) AS activity
           FROM %2$s s', customer_segment.state_column_sql(states), states)) USING as_of, period;
END
$$;
COMMENT ON FUNCTION customer_segment.cohort_retention_states(regclass, date, text) IS
    'cohort_retention over a table of per-customer states (customer_id, state rfm_summary_state): the same rows '
    'cohort_retention gives for the orders the states were built from';

-- The state column of a states table, checked: it must be of type rfm_summary_state.
CREATE FUNCTION customer_segment.state_column_sql(states regclass)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF customer_segment.column_type(states, 'state') <> 'customer_segment.rfm_summary_state'::regtype THEN
        RAISE EXCEPTION 'column "state" of % must be of type customer_segment.rfm_summary_state', states
            USING ERRCODE = 'datatype_mismatch', HINT = 'Build it with customer_segment.rfm_state.';
    END IF;
    RETURN 's.state';
END
$$;
COMMENT ON FUNCTION customer_segment.state_column_sql(regclass) IS
    'SQL for the state column of a states table, after checking its type is rfm_summary_state';

-- The RFM analysis of a source as of as_of as SQL (rfm_scored_sql: $1 as_of, $2 granularity, $3 unit, $4 bins,
-- $5 rule_set): from its states when it is refreshed incrementally and they serve as_of, else from its orders.
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

CREATE FUNCTION customer_segment.source_cohort_retention(src customer_segment.sources, as_of date)
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    states regclass := customer_segment.source_states(src, as_of);
BEGIN
    IF states IS NOT NULL THEN
        RETURN QUERY SELECT * FROM customer_segment.cohort_retention_states(states, as_of, 'month');
    ELSE
        RETURN QUERY SELECT * FROM customer_segment.cohort_retention(src.orders, src.customer_column, src.time_column,
                                                                     src.amount_column, as_of, 'month', src.time_zone);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.source_cohort_retention(customer_segment.sources, date) IS
    'Monthly cohort_retention of a source as of as_of: from its states when they serve as_of, else from its orders';

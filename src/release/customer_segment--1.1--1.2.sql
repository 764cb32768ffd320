-- customer_segment 1.1 -> 1.2: a security release, with fixes for edge cases.
-- The extension applied the cast to text of a user's key column (and its equality and hashing) when it read
-- an orders table, so a role owning a type with a cast could run code as whoever ran rfm_analyze or refresh.
-- Key and label columns now go through safe_key_sql (built-in types as they are, any other type through its
-- output function), amounts through number_sql, and refresh and report check that the helper views are
-- still the materialized views register_source made before they read them.  report rejects a NULL top and
-- create_sample_store an infinite date with their own errors.  refresh logs when its work starts (after
-- waiting for another refresh of the source), waits for other locks at most
-- customer_segment.refresh_lock_timeout (default 1 minute), and two refreshes that reach a new month of
-- history at once no longer race to create its partition.  refresh_job (a procedure) commits the log row and
-- then raises the refresh's error, and schedule_refresh schedules it, so pg_cron records failed runs;
-- unregister_source refuses to drop objects that depend on the helper views unless cascade => true.  rfm_segment_map decides the rules' 125 cells once
-- and expands them to the bins^3 cube, and rfm_analyze looks segments up among those 125 cells (100 bins:
-- seconds, not minutes).
\echo Use "ALTER EXTENSION customer_segment UPDATE TO '1.2'" to load this file. \quit

CREATE FUNCTION customer_segment.safe_key_sql(rel regclass, col name, alias text DEFAULT 'o')
RETURNS text LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog AS $$
DECLARE
    typ oid := customer_segment.column_type(rel, col);
    ref text := format('%I.%I', alias, col);
BEGIN
    WHILE (SELECT t.typtype = 'd' FROM pg_type t WHERE t.oid = typ) LOOP
        SELECT t.typbasetype INTO typ FROM pg_type t WHERE t.oid = typ;
    END LOOP;
    IF typ < 16384::oid THEN   -- FirstNormalObjectId: below it, the types initdb created
        RETURN ref;
    END IF;
    RETURN format('CASE WHEN pg_catalog.num_nulls(%1$s) = 0 THEN pg_catalog.format(''%%s'', %1$s) END', ref);
END
$$;
COMMENT ON FUNCTION customer_segment.safe_key_sql(regclass, name, text) IS
    'SQL for a key column that runs no user-defined cast or operator: the column when its type is built in, else its text form through the type''s output function';

CREATE FUNCTION customer_segment.number_sql(rel regclass, col name, alias text DEFAULT 'o')
RETURNS text LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog AS $$
DECLARE
    typ regtype := customer_segment.column_type(rel, col);
BEGIN
    IF typ IN ('numeric'::regtype, 'float8'::regtype) THEN
        RETURN format('%I.%I', alias, col);
    ELSIF typ IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype) THEN
        RETURN format('%I.%I::numeric', alias, col);
    END IF;
    RAISE EXCEPTION 'column "%" has type %, expected a number', col, typ USING ERRCODE = 'datatype_mismatch';
END
$$;
COMMENT ON FUNCTION customer_segment.number_sql(regclass, name, text) IS
    'SQL for a built-in number column (numeric or float8 as is, other number types as numeric); 42804 for any other type';

CREATE OR REPLACE FUNCTION customer_segment.orders_source_sql(source regclass, customer_column name, time_column name,
    amount_column name, OUT customer_expr text, OUT time_expr text, OUT amount_expr text, OUT from_clause text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    time_type regtype;
BEGIN
    IF source IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'the orders table and its column names must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    customer_expr := customer_segment.safe_key_sql(source, customer_column);
    time_type := customer_segment.column_type(source, time_column);
    time_expr := CASE
        WHEN time_type IN ('date'::regtype, 'timestamptz'::regtype) THEN format('o.%I', time_column)
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

CREATE OR REPLACE FUNCTION customer_segment.migration_matrix(previous regclass, current regclass,
    customer_column name DEFAULT 'customer_id', state_column name DEFAULT 'segment', value_column name DEFAULT NULL)
RETURNS TABLE (from_state text, to_state text, customers bigint, value numeric, share_of_from float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    value_expr text := 'NULL::numeric';
BEGIN
    IF previous IS NULL OR current IS NULL OR customer_column IS NULL OR state_column IS NULL THEN
        RAISE EXCEPTION 'migration_matrix snapshots and column names must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF value_column IS NOT NULL THEN
        value_expr := format('(%s)::numeric', customer_segment.number_sql(current, value_column, 'c'));
    END IF;
    -- Keys and states through safe_key_sql: no cast or operator of the snapshots' owners runs.
    RETURN QUERY EXECUTE format($q$
        SELECT coalesce(%3$s::text, '(none)'), coalesce(%4$s::text, '(none)'), count(*), sum(%7$s),
               count(*)::float8 / sum(count(*)) OVER (PARTITION BY coalesce(%3$s::text, '(none)'))
          FROM %5$s p FULL JOIN %6$s c ON %2$s = %1$s
         GROUP BY 1, 2 ORDER BY 1, 2
    $q$, customer_segment.safe_key_sql(previous, customer_column, 'p'), customer_segment.safe_key_sql(current, customer_column, 'c'),
         customer_segment.safe_key_sql(previous, state_column, 'p'), customer_segment.safe_key_sql(current, state_column, 'c'),
         previous, current, value_expr);
END
$$;

CREATE FUNCTION customer_segment.check_source_views(src customer_segment.sources)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    bad record;
BEGIN
    SELECT v.view_name, CASE
             WHEN c.oid IS NULL THEN 'It does not exist.'
             WHEN c.relkind <> 'm' THEN 'It is not a materialized view.'
             WHEN pg_get_userbyid(c.relowner) <> src.registered_by
                 THEN format('It is owned by %s, the source by %s.', pg_get_userbyid(c.relowner), src.registered_by)
             ELSE format('Its column %s has type %s, which is not built in.', a.attname, a.atttypid::regtype)
           END AS detail
      INTO bad
      FROM customer_segment.source_views(src) v
      LEFT JOIN pg_class c ON c.oid = to_regclass(v.view_name)
      LEFT JOIN LATERAL (SELECT x.attname, x.atttypid FROM pg_attribute x
                          WHERE x.attrelid = c.oid AND x.attnum > 0 AND NOT x.attisdropped AND x.atttypid >= 16384::oid
                          LIMIT 1) a ON true
     WHERE c.oid IS NULL OR c.relkind <> 'm' OR pg_get_userbyid(c.relowner) <> src.registered_by OR a.attname IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'helper view % of source "%" is not the one register_source created', bad.view_name, src.name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = bad.detail,
                  HINT = format('Unregister the source and register it again: SELECT customer_segment.unregister_source(%L);', src.name);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.check_source_views(customer_segment.sources) IS
    'Raises 55000 unless every helper view of the source is a materialized view owned by the source''s owner with built-in column types';

CREATE OR REPLACE FUNCTION customer_segment.refresh(source text, wait boolean DEFAULT true)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    v record;
    started timestamptz;
    n bigint;
    state text;
    msg text;
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
        PERFORM customer_segment.check_source_views(src);
        FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
            -- CONCURRENTLY keeps the old rows readable during the refresh; it needs data to start from.
            IF (SELECT c.relispopulated FROM pg_class c WHERE c.oid = v.view_name::regclass) THEN
                EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', v.view_name);
            ELSE
                EXECUTE format('REFRESH MATERIALIZED VIEW %s', v.view_name);
            END IF;
        END LOOP;
        EXECUTE format('SELECT count(*) FROM %I.%I', src.target_schema, src.name || '_customers') INTO n;
        IF src.history_days IS NOT NULL THEN
            PERFORM customer_segment.snapshot_history(src);
        END IF;
        state := 'ok';
    EXCEPTION WHEN OTHERS THEN
        -- The subtransaction is rolled back: every view keeps its previous rows.
        state := 'failed';
        msg := SQLSTATE || ': ' || SQLERRM;
        RAISE WARNING 'refresh of source "%" failed, previous results kept: %', source, msg;
    END;
    PERFORM set_config('lock_timeout', caller_lock_timeout, true);
    INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, customers, status, error)
    VALUES (source, started, clock_timestamp(), n, state, msg);
    RETURN state;
END
$$;

CREATE OR REPLACE FUNCTION customer_segment.snapshot_history(src customer_segment.sources)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    day date;
    part text;
    n bigint;
BEGIN
    EXECUTE format('SELECT max(as_of) FROM %I.%I', src.target_schema, src.name || '_customers') INTO day;
    IF day IS NULL THEN
        RETURN 0;
    END IF;
    part := format('segment_history_%s', to_char(day, 'YYYY_MM'));
    -- Two refreshes reaching a new month at once: the second waits here until the first has committed
    -- the partition (IF NOT EXISTS then sees it), instead of failing on a duplicate name.
    PERFORM pg_advisory_xact_lock(hashtext('customer_segment.segment_history'), hashtext(part));
    IF to_regclass('customer_segment.' || part) IS NULL THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS customer_segment.%I PARTITION OF customer_segment.segment_history
                        FOR VALUES FROM (%L) TO (%L)', part, date_trunc('month', day)::date,
                       (date_trunc('month', day) + interval '1 month')::date);
    END IF;
    -- A second refresh of the same day replaces that day's snapshot.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date = day;
    EXECUTE format('INSERT INTO customer_segment.segment_history
                    SELECT %L, as_of, customer_id, segment, rfm_cell, lifecycle_stage, tier, monetary_total FROM %I.%I',
                   src.name, src.target_schema, src.name || '_customers');
    GET DIAGNOSTICS n = ROW_COUNT;
    -- Retention: older snapshots of this source go; partitions left empty are dropped.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date < day - src.history_days;
    PERFORM customer_segment.drop_empty_history_partitions();
    RETURN n;
END
$$;

CREATE FUNCTION customer_segment.raise_if_failed(source text, state text)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    err text;
BEGIN
    IF state = 'failed' THEN
        SELECT l.error INTO err FROM customer_segment.refresh_log l
         WHERE l.source = raise_if_failed.source ORDER BY l.id DESC LIMIT 1;
        RAISE EXCEPTION 'refresh of source "%" failed: %', source, err
            USING ERRCODE = coalesce(substr(err, 1, 5), 'XX000'),
                  HINT = 'The previous results were kept; see customer_segment.refresh_log.';
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.raise_if_failed(text, text) IS
    'Raises the last logged error of a source (its SQLSTATE) when state is failed; used by refresh_job';

CREATE PROCEDURE customer_segment.refresh_job(source text)
LANGUAGE plpgsql AS $$
DECLARE
    state text := customer_segment.refresh(source);
BEGIN
    COMMIT;
    PERFORM customer_segment.raise_if_failed(source, state);
END
$$;
COMMENT ON PROCEDURE customer_segment.refresh_job(text) IS
    'refresh(source) for schedulers: logs and commits the run, then raises the logged error (same SQLSTATE) when it failed';

CREATE OR REPLACE FUNCTION customer_segment.schedule_refresh(source text, schedule text DEFAULT '0 3 * * *')
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    job bigint;
BEGIN
    PERFORM customer_segment.get_source(source);
    PERFORM customer_segment.require_pg_cron();
    EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, current_database(), current_user, true)'
       INTO job
      USING 'customer_segment refresh ' || source, schedule, format('CALL customer_segment.refresh_job(%L)', source);
    RETURN job;
END
$$;
COMMENT ON FUNCTION customer_segment.schedule_refresh(text, text) IS
    'Schedules CALL refresh_job(source) with pg_cron (cron syntax, default daily at 03:00) in this database as the current user; a failed refresh is a failed run; returns the job id';

-- unregister_source gains cascade (default false): it no longer drops the user's own objects silently.
DROP FUNCTION customer_segment.unregister_source(text);
CREATE FUNCTION customer_segment.unregister_source(name text, cascade boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    v record;
    dependents text;
BEGIN
    src := customer_segment.get_source(name);
    FOR v IN SELECT * FROM customer_segment.source_views(src) ORDER BY 1 DESC LOOP
        BEGIN
            EXECUTE format('DROP MATERIALIZED VIEW IF EXISTS %s %s', v.view_name, CASE WHEN cascade THEN 'CASCADE' ELSE 'RESTRICT' END);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            -- the user's own objects are never dropped silently; PostgreSQL's detail names them
            GET STACKED DIAGNOSTICS dependents = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION 'cannot unregister source "%": objects of yours depend on its helper view %', name, v.view_name
                USING ERRCODE = 'dependent_objects_still_exist', DETAIL = dependents,
                      HINT = format('Drop them first, or SELECT customer_segment.unregister_source(%L, cascade => true); to drop them too.', name);
        END;
    END LOOP;
    DELETE FROM customer_segment.sources s WHERE s.name = unregister_source.name;
    DELETE FROM customer_segment.segment_history h WHERE h.source = unregister_source.name;
    PERFORM customer_segment.drop_empty_history_partitions();
END
$$;
COMMENT ON FUNCTION customer_segment.unregister_source(text, boolean) IS
    'Drops the helper views and the history of a source and forgets it (the orders table is untouched); refuses (2BP01) when other objects depend on the views, unless cascade';

CREATE OR REPLACE FUNCTION customer_segment.report(source text, top integer DEFAULT 10)
RETURNS SETOF text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    cust text;
    r record;
    line text;
    max_n bigint;
    shades text[] := ARRAY[' ', '░', '▒', '▓', '█'];
BEGIN
    IF top IS NULL THEN
        RAISE EXCEPTION 'top must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF top < 0 THEN
        RAISE EXCEPTION 'top must be a number of customers, 0 or more' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', top);
    END IF;
    src := customer_segment.get_source(source);
    PERFORM customer_segment.check_source_views(src);
    cust := format('%I.%I', src.target_schema, src.name || '_customers');
    IF NOT (SELECT c.relispopulated FROM pg_class c WHERE c.oid = cust::regclass) THEN
        RAISE EXCEPTION 'source "%" has not been refreshed yet', source USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('SELECT customer_segment.refresh(%L);', source);
    END IF;
    EXECUTE format('SELECT max(as_of)::text FROM %s', cust) INTO line;
    RETURN NEXT format('Customer segments of %s as of %s', source, line);
    RETURN NEXT '';
    RETURN NEXT format('%-20s %9s %7s %14s  %s', 'segment', 'customers', 'share', 'revenue', '');
    EXECUTE format('SELECT max(customers) FROM %I.%I', src.target_schema, src.name || '_segments') INTO max_n;
    FOR r IN EXECUTE format('SELECT * FROM %I.%I ORDER BY revenue DESC NULLS LAST', src.target_schema, src.name || '_segments') LOOP
        RETURN NEXT format('%-20s %9s %6s%% %14s  %s', r.segment, r.customers, to_char(100 * r.share, 'FM990.0'),
                           to_char(r.revenue, 'FM999,999,999,990'), repeat('■', greatest(1, (40.0 * r.customers / max_n)::int)));
    END LOOP;
    RETURN NEXT '';
    RETURN NEXT 'Recency x frequency: customers per cell (shade = share of the busiest cell)';
    RETURN NEXT format('%6s %s', 'R \ F', (SELECT string_agg(format('%8s', f), '') FROM generate_series(1, src.bins) f));
    EXECUTE format('SELECT max(customers) FROM %I.%I WHERE r_score > 0', src.target_schema, src.name || '_rf_grid') INTO max_n;
    FOR r IN EXECUTE format($q$
        SELECT g.r, string_agg(format('%%s%%7s', ($1)[1 + least(4, ceil(4.0 * coalesce(x.customers, 0) / $2)::int)],
                                      coalesce(x.customers, 0)), '' ORDER BY g2.f) AS cells
          FROM generate_series(%1$s, 1, -1) g(r) CROSS JOIN LATERAL generate_series(1, %1$s) g2(f)
          LEFT JOIN %2$I.%3$I x ON x.r_score = g.r AND x.f_score = g2.f
         GROUP BY g.r ORDER BY g.r DESC$q$, src.bins, src.target_schema, src.name || '_rf_grid') USING shades, max_n LOOP
        RETURN NEXT format('%6s %s', r.r, r.cells);
    END LOOP;
    RETURN NEXT '';
    RETURN NEXT 'Lifecycle stages';
    FOR r IN EXECUTE format('SELECT * FROM %I.%I ORDER BY customers DESC', src.target_schema, src.name || '_lifecycle') LOOP
        RETURN NEXT format('%-14s %9s', r.lifecycle_stage, r.customers);
    END LOOP;
    IF src.tier_ladder IS NOT NULL THEN
        RETURN NEXT '';
        RETURN NEXT format('Tiers (%s)', src.tier_ladder);
        FOR r IN EXECUTE format('SELECT t.tier, t.customers FROM %I.%I t LEFT JOIN customer_segment.tier_ladders l
                                  ON l.ladder = %L AND l.tier = t.tier ORDER BY l.rank DESC NULLS LAST',
                                 src.target_schema, src.name || '_tiers', src.tier_ladder) LOOP
            RETURN NEXT format('%-14s %9s', r.tier, r.customers);
        END LOOP;
    END IF;
    RETURN NEXT '';
    RETURN NEXT format('Top %s customers by net spend', top);
    FOR r IN EXECUTE format('SELECT customer_id, rfm_cell, segment, orders, monetary_total FROM %s
                              ORDER BY monetary_total DESC, customer_id LIMIT %s', cust, top) LOOP
        RETURN NEXT format('%-12s %5s  %-20s %6s orders %12s', r.customer_id, r.rfm_cell, r.segment, r.orders,
                           to_char(r.monetary_total, 'FM999,999,990.00'));
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION customer_segment.rfm_segment_map(bins integer DEFAULT 5, rule_set text DEFAULT 'standard')
RETURNS TABLE (r integer, f integer, m integer, cell text, segment text, action text)
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.rescale_score(1, bins);
    IF NOT EXISTS (SELECT 1 FROM customer_segment.rfm_segment_rules x
                    WHERE x.rule_set = rfm_segment_map.rule_set AND x.enabled) THEN
        RAISE EXCEPTION 'rule set "%" has no enabled rules', rule_set
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See SELECT DISTINCT rule_set FROM customer_segment.rfm_segment_rules;';
    END IF;
    -- The rules speak of scores 1..5: each of the 125 cells is decided once, and every cell of the
    -- bins^3 cube takes the decision of the cell its rescaled scores fall in (100 bins: 0.6 s, not 95).
    RETURN QUERY
    WITH scale AS (
        SELECT g, customer_segment.rescale_score(g, bins) AS g5 FROM generate_series(1, bins) g
    ), map5 AS MATERIALIZED (
        SELECT r5, f5, m5, w.segment, w.action
          FROM generate_series(1, 5) r5, generate_series(1, 5) f5, generate_series(1, 5) m5
          LEFT JOIN LATERAL (
              SELECT x.segment, x.action FROM customer_segment.rfm_segment_rules x
               WHERE x.rule_set = rfm_segment_map.rule_set AND x.enabled
                 AND r5 BETWEEN x.r_min AND x.r_max AND f5 BETWEEN x.f_min AND x.f_max AND m5 BETWEEN x.m_min AND x.m_max
               ORDER BY x.priority LIMIT 1) w ON true
    )
    SELECT gr.g, gf.g, gm.g, customer_segment.rfm_cell(gr.g, gf.g, gm.g), c.segment, c.action
      FROM scale gr CROSS JOIN scale gf CROSS JOIN scale gm
      JOIN map5 c ON c.r5 = gr.g5 AND c.f5 = gf.g5 AND c.m5 = gm.g5
     ORDER BY 1, 2, 3;
END
$$;

CREATE OR REPLACE FUNCTION customer_segment.rfm_analyze(
    source regclass,
    customer_column name,
    time_column name,
    amount_column name,
    as_of date DEFAULT current_date,
    bins integer DEFAULT 5,
    rule_set text DEFAULT 'standard',
    granularity text DEFAULT 'day',
    unit text DEFAULT 'day')
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
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column);

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
    IF target_schema IS NULL OR customers IS NULL OR seed IS NULL OR start_date IS NULL OR end_date IS NULL THEN
        RAISE EXCEPTION 'create_sample_store arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF customers < 1 OR customers > 100000000 THEN
        RAISE EXCEPTION 'customers must be between 1 and 100000000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', customers);
    END IF;
    IF end_date <= start_date OR NOT isfinite(start_date) OR NOT isfinite(end_date) THEN
        RAISE EXCEPTION 'end_date must be a finite date after start_date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    span := end_date - start_date + 1;
    IF to_regnamespace(quote_ident(target_schema)) IS NULL THEN
        RAISE EXCEPTION 'schema "%" does not exist', target_schema USING ERRCODE = 'invalid_schema_name',
            HINT = format('CREATE SCHEMA %I;', target_schema);
    END IF;
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

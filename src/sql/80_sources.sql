-- Registered sources: helper views for BI tools, refresh with a log, a text report.

CREATE TABLE customer_segment.sources (
    name             text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
    orders           regclass NOT NULL,
    customer_column  name NOT NULL,
    time_column      name NOT NULL,
    amount_column    name NOT NULL,
    target_schema    name NOT NULL,
    bins             integer NOT NULL DEFAULT 5 CHECK (bins BETWEEN 2 AND 9),
    rule_set         text NOT NULL DEFAULT 'standard',
    as_of            date,
    tier_ladder      text,
    history_days     integer CHECK (history_days > 0),
    registered_at    timestamptz NOT NULL DEFAULT now(),
    registered_by    name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE customer_segment.sources IS 'Orders tables registered with register_source; their helper views live in target_schema';
COMMENT ON COLUMN customer_segment.sources.name IS 'Source name, the prefix of its helper views';
COMMENT ON COLUMN customer_segment.sources.orders IS 'The orders table (or view)';
COMMENT ON COLUMN customer_segment.sources.customer_column IS 'Customer column of the orders table';
COMMENT ON COLUMN customer_segment.sources.time_column IS 'Purchase time column (date, timestamp or timestamptz)';
COMMENT ON COLUMN customer_segment.sources.amount_column IS 'Amount column; negative amounts are refunds';
COMMENT ON COLUMN customer_segment.sources.target_schema IS 'Schema of the helper views';
COMMENT ON COLUMN customer_segment.sources.bins IS 'Number of RFM score bins';
COMMENT ON COLUMN customer_segment.sources.rule_set IS 'RFM segment rule set';
COMMENT ON COLUMN customer_segment.sources.as_of IS 'Fixed last day of the observation window; NULL = the day of each refresh';
COMMENT ON COLUMN customer_segment.sources.tier_ladder IS 'Ladder of tier_ladders that tiers customers by net spend; NULL = no tiers';
COMMENT ON COLUMN customer_segment.sources.history_days IS 'Keep a per-customer snapshot in segment_history at each refresh, for this many days; NULL = no history';
COMMENT ON COLUMN customer_segment.sources.registered_at IS 'When the source was registered';
COMMENT ON COLUMN customer_segment.sources.registered_by IS 'Who registered it';
SELECT pg_catalog.pg_extension_config_dump('customer_segment.sources', '');

CREATE TABLE customer_segment.refresh_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    customers    bigint,
    status       text NOT NULL CHECK (status IN ('ok', 'failed')),
    error        text
);
COMMENT ON TABLE customer_segment.refresh_log IS 'One row per refresh of a source: when, how many customers, ok or failed with the error';
COMMENT ON COLUMN customer_segment.refresh_log.id IS 'Run number';
COMMENT ON COLUMN customer_segment.refresh_log.source IS 'Source name';
COMMENT ON COLUMN customer_segment.refresh_log.started_at IS 'Start of the refresh';
COMMENT ON COLUMN customer_segment.refresh_log.finished_at IS 'End of the refresh';
COMMENT ON COLUMN customer_segment.refresh_log.customers IS 'Rows of the customers view after the refresh';
COMMENT ON COLUMN customer_segment.refresh_log.status IS 'ok, or failed (the previous results were kept)';
COMMENT ON COLUMN customer_segment.refresh_log.error IS 'SQLSTATE and message of a failed refresh';

-- A registered source, or a clear error.
CREATE FUNCTION customer_segment.get_source(source text)
RETURNS customer_segment.sources LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
BEGIN
    SELECT * INTO src FROM customer_segment.sources s WHERE s.name = get_source.source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'source "%" is not registered', source USING ERRCODE = 'undefined_object',
            HINT = 'See SELECT name FROM customer_segment.sources;';
    END IF;
    RETURN src;
END
$$;
COMMENT ON FUNCTION customer_segment.get_source(text) IS 'The sources row of a registered source; 42704 otherwise';

-- The observation day of a source's views: its fixed as_of, or the day of the refresh.
CREATE FUNCTION customer_segment.source_as_of(source text, OUT as_of date)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT coalesce((SELECT s.as_of FROM customer_segment.sources s WHERE s.name = source_as_of.source), current_date)
$$;
COMMENT ON FUNCTION customer_segment.source_as_of(text) IS 'as_of of a source, or current_date when it has none';

-- The helper views of a source, in refresh order, with their unique keys.
CREATE FUNCTION customer_segment.source_views(src customer_segment.sources)
RETURNS TABLE (view_name text, definition text, unique_key text, comment text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || v.suffix), v.definition, v.unique_key, v.comment
      FROM (VALUES
        (1, '_customers', format($q$
            WITH a AS MATERIALIZED (
                SELECT a.*, d.as_of
                  FROM customer_segment.source_as_of(%5$L) d,
                       LATERAL customer_segment.rfm_analyze(%1$L::regclass, %2$L, %3$L, %4$L, d.as_of, %6$s, %7$L) a
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
                   customer_segment.lifecycle_stage(a.first_purchase, a.last_purchase, a.orders, a.as_of) AS lifecycle_stage,
                   CASE WHEN a.orders > 0 THEN customer_segment.quadrant(a.monetary_total, a.orders,
                        (customer_segment.score_breakpoints(a.monetary_total, 2) FILTER (WHERE a.orders > 0) OVER ())[1],
                        (customer_segment.score_breakpoints(a.orders, 2) FILTER (WHERE a.orders > 0) OVER ())[1],
                        'value', 'engagement') END AS quadrant,
                   CASE WHEN %8$L IS NOT NULL THEN customer_segment.tier_for(%8$L, a.monetary_total) END AS tier,
                   CASE WHEN a.orders > 0 THEN customer_segment.bgnbd_p_alive(fit.bg, a.frequency, a.recency, a.t) END AS p_alive,
                   CASE WHEN a.orders > 0 THEN customer_segment.bgnbd_expected_purchases(fit.bg, 90, a.frequency, a.recency, a.t) END
                       AS expected_purchases_90d,
                   p.spend AS expected_spend,
                   CASE WHEN a.orders > 0 THEN customer_segment.bgnbd_clv(fit.bg, a.frequency, a.recency, a.t, p.spend, 12, 0.01, 30, 1) END
                       AS clv_12m,
                   a.as_of
              FROM a CROSS JOIN fit,
                   LATERAL (SELECT CASE WHEN a.orders > 0 AND (fit.gg).q > 1 THEN customer_segment.gamma_gamma_expected_spend(fit.gg, a.frequency,
                                        greatest(a.monetary_value, 0)) END AS spend) p$q$,
            src.orders::text, src.customer_column, src.time_column, src.amount_column, src.name, src.bins, src.rule_set,
            src.tier_ladder),
         'customer_id',
         'Per customer: RFM summary, scores, cell, segment and action, lifecycle stage, value/engagement quadrant '
         '(cuts at the medians), tier on the source''s ladder (net spend to as_of), BG/NBD P(alive) and expected '
         'purchases in 90 days, Gamma-Gamma expected spend and 12-month CLV at 1% a month (time in days), as of the last refresh'),
        (2, '_segments', format($q$
            SELECT coalesce(segment, '(not scored)') AS segment, count(*) AS customers,
                   round(count(*)::numeric / sum(count(*)) OVER (), 4) AS share,
                   round(sum(monetary_total)::numeric, 2) AS revenue, round(avg(monetary_total)::numeric, 2) AS avg_revenue,
                   round(avg(recency_days), 1) AS avg_recency_days, round(avg(orders), 2) AS avg_orders
              FROM %I.%I GROUP BY 1$q$, src.target_schema, src.name || '_customers'),
         'segment', 'Segment sizes, shares and revenue'),
        (3, '_rf_grid', format($q$
            SELECT coalesce(r_score, 0) AS r_score, coalesce(f_score, 0) AS f_score, count(*) AS customers,
                   round(sum(monetary_total)::numeric, 2) AS revenue
              FROM %I.%I GROUP BY 1, 2$q$, src.target_schema, src.name || '_customers'),
         'r_score, f_score', 'Customers and revenue per R x F cell (0 = not scored), for heat maps'),
        (4, '_lifecycle', format($q$
            SELECT lifecycle_stage, count(*) AS customers, round(sum(monetary_total)::numeric, 2) AS revenue
              FROM %I.%I GROUP BY 1$q$, src.target_schema, src.name || '_customers'),
         'lifecycle_stage', 'Customers and revenue per lifecycle stage'),
        (5, '_tiers', format($q$
            SELECT coalesce(tier, '(none)') AS tier, count(*) AS customers, round(sum(monetary_total)::numeric, 2) AS revenue
              FROM %I.%I GROUP BY 1$q$, src.target_schema, src.name || '_customers'),
         'tier', 'Customers and revenue per tier ((none) without a ladder or below it)'),
        (6, '_cohorts', format($q$
            SELECT c.* FROM customer_segment.source_as_of(%5$L) d,
                   LATERAL customer_segment.cohort_retention(%1$L::regclass, %2$L, %3$L, %4$L, d.as_of, 'month') c$q$,
            src.orders::text, src.customer_column, src.time_column, src.amount_column, src.name),
         'cohort, period_offset', 'Monthly cohort retention matrix: share of each acquisition cohort active k months later')
      ) v(ord, suffix, definition, unique_key, comment)
     ORDER BY v.ord
$$;
COMMENT ON FUNCTION customer_segment.source_views(customer_segment.sources) IS 'Helper views of a source: name, query, unique key, comment';

-- The helper views of a source must still be the materialized views register_source made: owned by the
-- role that registered the source, with columns of built-in types only.  Refreshing them runs their query
-- as that owner (REFRESH MATERIALIZED VIEW always does), never as the caller; reading them then runs nobody
-- else's code either (a materialized view has no rules, triggers or policies), even when the schema's owner
-- dropped one and put an object of their own in its place.
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

CREATE FUNCTION customer_segment.register_source(name text, orders regclass, customer_column name,
    time_column name, amount_column name, target_schema name DEFAULT NULL, bins integer DEFAULT 5,
    rule_set text DEFAULT 'standard', as_of date DEFAULT NULL, history_days integer DEFAULT NULL,
    tier_ladder text DEFAULT NULL)
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    v record;
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
    INSERT INTO customer_segment.sources (name, orders, customer_column, time_column, amount_column, target_schema, bins, rule_set, as_of, history_days, tier_ladder)
    VALUES (name, orders, customer_column, time_column, amount_column,
            coalesce(target_schema, (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                      WHERE c.oid = orders)), bins, rule_set, as_of, history_days, tier_ladder)
    RETURNING * INTO src;
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        EXECUTE format('CREATE MATERIALIZED VIEW %s AS %s WITH NO DATA', v.view_name, v.definition);
        EXECUTE format('CREATE UNIQUE INDEX ON %s (%s)', v.view_name, v.unique_key);
        EXECUTE format('COMMENT ON MATERIALIZED VIEW %s IS %L', v.view_name, v.comment || ' (customer_segment source ' || name || ')');
        RETURN NEXT v.view_name;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.register_source(text, regclass, name, name, name, name, integer, text, date, integer, text) IS
    'Registers an orders table and creates its helper materialized views (empty until the first refresh); returns their names';

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

CREATE FUNCTION customer_segment.refresh(source text, wait boolean DEFAULT true)
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
COMMENT ON FUNCTION customer_segment.refresh(text, boolean) IS
    'Recomputes the helper views of a source (concurrently once populated), one refresh at a time (wait => false skips when busy); logs the run; on failure keeps the previous results and returns failed';


-- Raises the logged error of the last refresh of a source when state is 'failed' (same SQLSTATE).
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

-- For schedulers: refresh, keep the log row (COMMIT), then fail when the refresh failed, so pg_cron's
-- job_run_details and any scheduler that watches exit codes see the failure the log describes.  A
-- procedure that commits can have no SET clause: it only calls schema-qualified functions that pin theirs.
-- Call it outside a transaction block (CALL customer_segment.refresh_job('shop');), as schedulers do.
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

-- History: per-customer snapshots taken by refresh, partitioned by month of the snapshot day.
CREATE TABLE customer_segment.segment_history (
    source           text NOT NULL,
    snapshot_date    date NOT NULL,
    customer_id      text NOT NULL,
    segment          text,
    rfm_cell         text,
    lifecycle_stage  text,
    tier             text,
    monetary_total   float8
) PARTITION BY RANGE (snapshot_date);
-- No index: reads and deletes go by (source, snapshot_date), which partition pruning narrows to a month; and
-- pg_dump restores partitions of an extension's table only when the parent carries no index to re-create.
COMMENT ON TABLE customer_segment.segment_history IS 'Per-customer segment, cell and lifecycle stage at each refresh of sources with history_days; monthly partitions';
COMMENT ON COLUMN customer_segment.segment_history.source IS 'Source name';
COMMENT ON COLUMN customer_segment.segment_history.snapshot_date IS 'as_of of the snapshot';
COMMENT ON COLUMN customer_segment.segment_history.customer_id IS 'Customer';
COMMENT ON COLUMN customer_segment.segment_history.segment IS 'RFM segment';
COMMENT ON COLUMN customer_segment.segment_history.rfm_cell IS 'RFM cell';
COMMENT ON COLUMN customer_segment.segment_history.lifecycle_stage IS 'Lifecycle stage';
COMMENT ON COLUMN customer_segment.segment_history.tier IS 'Tier';
COMMENT ON COLUMN customer_segment.segment_history.monetary_total IS 'Net spend to the snapshot day';

CREATE FUNCTION customer_segment.drop_empty_history_partitions()
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    part name;
    has_rows boolean;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'customer_segment.segment_history'::regclass LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM customer_segment.%I)', part) INTO has_rows;
        IF NOT has_rows THEN
            EXECUTE format('DROP TABLE customer_segment.%I', part);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.drop_empty_history_partitions() IS 'Drops the monthly partitions of segment_history that hold no rows';

CREATE FUNCTION customer_segment.snapshot_history(src customer_segment.sources)
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
COMMENT ON FUNCTION customer_segment.snapshot_history(customer_segment.sources) IS
    'Copies the customers view of a source into segment_history for its as_of day, applies the retention, drops empty partitions';

CREATE FUNCTION customer_segment.segment_migrations(source text, from_date date DEFAULT NULL, to_date date DEFAULT NULL)
RETURNS TABLE (from_segment text, to_segment text, customers bigint, revenue float8, share_of_from float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    d_from date := from_date;
    d_to date := to_date;
BEGIN
    IF d_to IS NULL THEN
        SELECT max(h.snapshot_date) INTO d_to FROM customer_segment.segment_history h WHERE h.source = segment_migrations.source;
    END IF;
    IF d_from IS NULL THEN
        SELECT max(h.snapshot_date) INTO d_from FROM customer_segment.segment_history h
         WHERE h.source = segment_migrations.source AND h.snapshot_date < d_to;
    END IF;
    IF d_from IS NULL OR d_to IS NULL THEN
        RAISE EXCEPTION 'source "%" has fewer than two snapshots', source USING ERRCODE = 'no_data_found',
            HINT = 'Register it with history_days and refresh it on two days.';
    END IF;
    RETURN QUERY
    SELECT coalesce(p.segment, '(none)'), coalesce(c.segment, '(none)'), count(*), sum(c.monetary_total),
           count(*)::float8 / sum(count(*)) OVER (PARTITION BY coalesce(p.segment, '(none)'))
      FROM (SELECT * FROM customer_segment.segment_history h WHERE h.source = segment_migrations.source AND h.snapshot_date = d_from) p
      FULL JOIN (SELECT * FROM customer_segment.segment_history h WHERE h.source = segment_migrations.source AND h.snapshot_date = d_to) c
        ON c.customer_id = p.customer_id
     GROUP BY 1, 2 ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION customer_segment.segment_migrations(text, date, date) IS
    'Who moved between segments from one snapshot to another (default: the last two): counts, current revenue, share of the from-segment';

-- A report for psql and terminals.
CREATE FUNCTION customer_segment.report(source text, top integer DEFAULT 10)
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
COMMENT ON FUNCTION customer_segment.report(text, integer) IS 'Text report of a refreshed source: segments with bars, shaded R x F grid, lifecycle stages, top customers';

-- Scheduling with pg_cron, when it is installed (no hard dependency: called through EXECUTE).
CREATE FUNCTION customer_segment.require_pg_cron()
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF to_regprocedure('cron.schedule_in_database(text, text, text, text, text, boolean)') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Install the postgresql-15-cron package, set shared_preload_libraries = ''pg_cron'' and '
                         'cron.database_name, restart, then CREATE EXTENSION pg_cron in that database.';
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.require_pg_cron() IS 'Raises 0A000 with installation hints unless pg_cron 1.4+ is installed';

CREATE FUNCTION customer_segment.schedule_refresh(source text, schedule text DEFAULT '0 3 * * *')
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

CREATE FUNCTION customer_segment.unschedule_refresh(source text)
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    done boolean;
BEGIN
    PERFORM customer_segment.require_pg_cron();
    EXECUTE 'SELECT cron.unschedule($1)' INTO done USING 'customer_segment refresh ' || source;
    RETURN done;
END
$$;
COMMENT ON FUNCTION customer_segment.unschedule_refresh(text) IS 'Removes the pg_cron job of schedule_refresh(source)';

-- Read access for a BI role: the helper views only, never the orders or the configuration.
CREATE FUNCTION customer_segment.grant_source_read(source text, role name)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    v record;
BEGIN
    src := customer_segment.get_source(source);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', src.target_schema, role);
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', v.view_name, role);
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.grant_source_read(text, name) IS
    'Lets a role read the helper views of a source (USAGE on their schema, SELECT on the views) and nothing else';

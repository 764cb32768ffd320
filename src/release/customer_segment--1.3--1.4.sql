-- customer_segment 1.3 -> 1.4: ordinary roles can use the extension (doc/operations.md, Privileges), and optional
-- prediction columns never abort a refresh.
-- Row-level security on the extension's tables: rule sets, tier ladders and value-grid names are readable by
-- all and changed only by their owner (a new owner column; rows that exist now belong to the role running
-- this update); sources, the refresh log and the history are seen only by the source's owner (the log and
-- the history get an owner column, filled from the sources).  The history partitions are created and dropped
-- by two SECURITY DEFINER functions, so they belong to the extension's owner.  schedule_refresh uses
-- cron.schedule, which pg_cron lets every role with USAGE on schema cron call.  A refresh whose predictions
-- fail on a data error runs once more with the prediction columns NULL and logs why (refresh_log.note).
-- btyd_analyze and the customers view compute their predictions with one function, btyd_predict: expected
-- spend and CLV are NULL when the Gamma-Gamma q <= 1 (btyd_analyze raised 22023 before); a source's
-- prediction_model (bgnbd, the default, or pareto_nbd) chooses the purchase model of its customers view, and
-- btyd_analyze's new last parameter model its own (the update refuses while objects of users call btyd_analyze).
-- The helper views become plain views (what BI tools list through information_schema and JDBC) over
-- materialized views <name>_<helper>_data, and every column of both has a comment.
-- New: holdout evaluation (btyd_holdout, btyd_holdout_predictions, btyd_evaluate,
-- btyd_conditional_expectations, btyd_period_transactions, btyd_tracking,
-- btyd_frequency_recency_matrix, btyd_p_alive_history), parameter uncertainty (bgnbd_fit_uncertainty,
-- pareto_nbd_fit_uncertainty, gamma_gamma_fit_uncertainty, bgnbd_expected_purchases_interval); k-means (kmeans_fit, kmeans_scan, kmeans_assign, kmeans_distance), and for a source with
-- set_source_clusters two more helper views, <name>_clusters and <name>_cluster_profiles.
\echo Use "ALTER EXTENSION customer_segment UPDATE TO '1.4'" to load this file. \quit

-- Owners of the configuration rows, and of the log and history rows.
ALTER TABLE customer_segment.rfm_segment_rules ADD COLUMN owner name NOT NULL DEFAULT current_user;
ALTER TABLE customer_segment.tier_ladders ADD COLUMN owner name NOT NULL DEFAULT current_user;
ALTER TABLE customer_segment.value_grid_cells ADD COLUMN owner name NOT NULL DEFAULT current_user;
ALTER TABLE customer_segment.refresh_log ADD COLUMN note text, ADD COLUMN owner name NOT NULL DEFAULT current_user;
ALTER TABLE customer_segment.segment_history ADD COLUMN owner name NOT NULL DEFAULT current_user;
ALTER TABLE customer_segment.sources ADD COLUMN clusters integer CHECK (clusters BETWEEN 2 AND 20),
    ADD COLUMN prediction_model text NOT NULL DEFAULT 'bgnbd' CHECK (prediction_model IN ('bgnbd', 'pareto_nbd'));
UPDATE customer_segment.refresh_log l SET owner = s.registered_by
  FROM customer_segment.sources s WHERE s.name OPERATOR(pg_catalog.=) l.source;
UPDATE customer_segment.segment_history h SET owner = s.registered_by
  FROM customer_segment.sources s WHERE s.name OPERATOR(pg_catalog.=) h.source;
COMMENT ON COLUMN customer_segment.rfm_segment_rules.owner IS 'Role that may edit the rule set (every row of a set has one owner); default: who inserted it';
COMMENT ON COLUMN customer_segment.tier_ladders.owner IS 'Role that may edit the ladder (every tier of a ladder has one owner); default: who inserted it';
COMMENT ON COLUMN customer_segment.value_grid_cells.owner IS 'Role that may edit the naming scheme (every row of a scheme has one owner); default: who inserted it';
COMMENT ON COLUMN customer_segment.sources.prediction_model IS 'Purchase model of the customers view''s predictions: bgnbd (default) or pareto_nbd';
COMMENT ON COLUMN customer_segment.sources.clusters IS 'k of the k-means clusters of the customers (set_source_clusters); NULL = no cluster views';
COMMENT ON COLUMN customer_segment.refresh_log.note IS 'Why an ok refresh left the prediction columns NULL (SQLSTATE and message); NULL when it did not';
COMMENT ON COLUMN customer_segment.refresh_log.owner IS 'Owner of the source at the time of the run; only roles acting as it see the row';
COMMENT ON COLUMN customer_segment.segment_history.owner IS 'Owner of the source when the snapshot was taken; only roles acting as it see the row';

-- The partitions belong to the extension's owner, whoever's refresh needs them: only the owner of a partitioned
-- table may add or drop partitions, and a partition owned by one user would show that user every source's
-- rows of its month (row security applies through the parent only).  These two functions are the extension's
-- only SECURITY DEFINER code; they take no name from the caller and pin their search_path.
CREATE FUNCTION customer_segment.create_history_partition(day date)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    part text := format('segment_history_%s', to_char(day, 'YYYY_MM'));
BEGIN
    IF day IS NULL OR NOT isfinite(day) THEN
        RAISE EXCEPTION 'snapshot day must be a finite date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
    'Creates the monthly partition of segment_history that holds a snapshot day, owned by the extension''s owner (SECURITY DEFINER)';

CREATE OR REPLACE FUNCTION customer_segment.drop_empty_history_partitions()
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
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

-- Existing partitions too.
DO $update$
DECLARE
    part regclass;
BEGIN
    FOR part IN SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
                 WHERE i.inhparent = 'customer_segment.segment_history'::pg_catalog.regclass LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s OWNER TO %I', part,
            (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c
              WHERE c.oid = 'customer_segment.segment_history'::pg_catalog.regclass));
    END LOOP;
END
$update$;

CREATE OR REPLACE FUNCTION customer_segment.snapshot_history(src customer_segment.sources)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    day date;
    n bigint;
BEGIN
    EXECUTE format('SELECT max(as_of) FROM %s', customer_segment.source_customers_view(src)) INTO day;
    IF day IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM customer_segment.create_history_partition(day);
    -- A second refresh of the same day replaces that day's snapshot.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date = day;
    EXECUTE format('INSERT INTO customer_segment.segment_history
                    SELECT %L, as_of, customer_id, segment, rfm_cell, lifecycle_stage, tier, monetary_total, %L FROM %s',
                   src.name, src.registered_by, customer_segment.source_customers_view(src));
    GET DIAGNOSTICS n = ROW_COUNT;
    -- Retention: older snapshots of this source go; partitions left empty are dropped.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date < day - src.history_days;
    PERFORM customer_segment.drop_empty_history_partitions();
    RETURN n;
END
$$;
COMMENT ON FUNCTION customer_segment.snapshot_history(customer_segment.sources) IS
    'Copies the customers view of a source into segment_history for its as_of day, applies the retention, drops empty partitions';

-- Refresh: predictions optional, log rows carry the owner.
-- Recomputes the helper views of a source, in the caller's subtransaction.
CREATE FUNCTION customer_segment.refresh_views(src customer_segment.sources)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v record;
    n bigint;
BEGIN
    PERFORM customer_segment.check_source_views(src);
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        -- CONCURRENTLY keeps the old rows readable during the refresh; it needs data to start from.
        IF (SELECT c.relispopulated FROM pg_class c WHERE c.oid = v.data_name::regclass) THEN
            EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', v.data_name);
        ELSE
            EXECUTE format('REFRESH MATERIALIZED VIEW %s', v.data_name);
        END IF;
    END LOOP;
    EXECUTE format('SELECT count(*) FROM %s', customer_segment.source_customers_view(src)) INTO n;
    IF src.history_days IS NOT NULL THEN
        PERFORM customer_segment.snapshot_history(src);
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION customer_segment.refresh_views(customer_segment.sources) IS
    'Recomputes the helper views of a source and takes its history snapshot; returns the customers; used by refresh';

CREATE OR REPLACE FUNCTION customer_segment.refresh(source text, wait boolean DEFAULT true)
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
        n := customer_segment.refresh_views(src);
    EXCEPTION WHEN OTHERS THEN
        -- The subtransaction is rolled back: every view keeps its previous rows.
        state := 'failed';
        msg := SQLSTATE || ': ' || SQLERRM;
    END;
    -- The prediction columns are optional: when a data error (class 22: a model that cannot be fitted, a
    -- prediction that overflows) stopped the refresh, it runs once more with them NULL, and the log says why.
    IF state = 'failed' AND left(msg, 2) = '22' THEN
        BEGIN
            PERFORM set_config('customer_segment.refresh_predictions', 'off', true);
            n := customer_segment.refresh_views(src);
            state := 'ok';
            note := 'prediction columns left NULL: ' || msg;
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
    INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, customers, status, error, note, owner)
    VALUES (source, started, clock_timestamp(), n, state, msg, note, src.registered_by);
    RETURN state;
END
$$;
COMMENT ON FUNCTION customer_segment.refresh(text, boolean) IS
    'Recomputes the helper views of a source (concurrently once populated), one refresh at a time (wait => false skips when busy); '
    'logs the run; a data error in the prediction columns leaves them NULL (logged note); any other failure keeps the previous results and returns failed';

CREATE OR REPLACE FUNCTION customer_segment.source_customers(source text)
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
    -- refresh sets it off for a second attempt when the predictions failed on a data error
    predict boolean := coalesce(nullif(current_setting('customer_segment.refresh_predictions', true), ''), 'on')::boolean;
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
                   FILTER (WHERE predict AND src.prediction_model = 'bgnbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS bg,
               customer_segment.pareto_nbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE predict AND src.prediction_model = 'pareto_nbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS pn,
               customer_segment.gamma_gamma_fit(a.frequency, a.monetary_value)
                   FILTER (WHERE predict AND f.repeaters >= 10 AND (a.frequency = 0 OR a.monetary_value > 0)) AS gg
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
           p.p_alive, p.expected_purchases, p.expected_spend, p.clv,
           a.as_of
      FROM a CROSS JOIN fit,
           LATERAL customer_segment.btyd_predict(CASE WHEN a.orders > 0 THEN fit.bg END, CASE WHEN a.orders > 0 THEN fit.pn END,
                                                 CASE WHEN a.orders > 0 THEN fit.gg END,
                                                 a.frequency, a.recency, a.t, a.monetary_value, 90) p;
END
$$;

-- The per-customer predictions of btyd_analyze and of a source's customers view: one definition.  A
-- standard-SQL body, so it is parsed once here and inlined into the queries that call it.
CREATE FUNCTION customer_segment.btyd_predict(bg customer_segment.bgnbd_model, pn customer_segment.pareto_nbd_model,
    gg customer_segment.gamma_gamma_model, frequency float8, recency float8, t float8, monetary_value float8,
    horizon float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01, periods_per_month float8 DEFAULT 30,
    margin float8 DEFAULT 1)
RETURNS TABLE (p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(customer_segment.bgnbd_p_alive(bg, frequency, recency, t),
                    customer_segment.pareto_nbd_p_alive(pn, frequency, recency, t)),
           coalesce(customer_segment.bgnbd_expected_purchases(bg, horizon, frequency, recency, t),
                    customer_segment.pareto_nbd_expected_purchases(pn, horizon, frequency, recency, t)),
           e.spend,
           coalesce(customer_segment.bgnbd_clv(bg, frequency, recency, t, e.spend, months, monthly_discount, periods_per_month, margin),
                    customer_segment.pareto_nbd_clv(pn, frequency, recency, t, e.spend, months, monthly_discount, periods_per_month, margin))
      FROM (SELECT CASE WHEN (gg).q OPERATOR(pg_catalog.>) 1
                        THEN customer_segment.gamma_gamma_expected_spend(gg, frequency, pg_catalog.float8larger(monetary_value, 0)) END AS spend) e;
END;
COMMENT ON FUNCTION customer_segment.btyd_predict(customer_segment.bgnbd_model, customer_segment.pareto_nbd_model, customer_segment.gamma_gamma_model, float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'P(alive), expected purchases in horizon, expected spend (Gamma-Gamma; NULL when its q <= 1 leaves the mean spend undefined) and CLV '
    'of one customer from a BG/NBD model, or the Pareto/NBD one when that is NULL; NULLs for NULL models';

-- btyd_analyze gains a last parameter, model: the old signature is dropped, so objects of users that call it
-- stop the update before anything changes.
DO $update$
DECLARE
    found text;
BEGIN
    SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('%s depends on %s', r.ev_class::pg_catalog.regclass,
               'customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text)'), '; ')
      INTO found
      FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
     WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.refobjid = 'customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text)'::pg_catalog.regprocedure;
    IF found IS NOT NULL THEN
        RAISE EXCEPTION 'cannot update customer_segment to 1.4: objects of yours depend on btyd_analyze, whose signature changes'
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = found,
                  HINT = 'Save their definitions, drop them, update, and create them again.';
    END IF;
END
$update$;
DROP FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text);
CREATE FUNCTION customer_segment.btyd_analyze(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, horizon float8 DEFAULT 12, unit text DEFAULT 'week',
    margin float8 DEFAULT 1, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    penalizer float8 DEFAULT 0, zone text DEFAULT NULL, model text DEFAULT 'bgnbd')
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
    IF model IS NULL OR model NOT IN ('bgnbd', 'pareto_nbd') THEN
        RAISE EXCEPTION 'unknown purchase model "%"', model USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''bgnbd'' or ''pareto_nbd''; btyd_evaluate compares them on a holdout.';
    END IF;
    per_month := CASE customer_segment.check_period(unit, 'unit') WHEN 'day' THEN 30 WHEN 'week' THEN 4.345 ELSE 1 END;
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT %1$s::text AS customer_id, (customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $2)).*
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), models AS (
            SELECT customer_segment.bgnbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'bgnbd') AS bg,
                   customer_segment.pareto_nbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'pareto_nbd') AS pn,
                   customer_segment.gamma_gamma_fit(s.frequency, s.monetary_value, $8)
                       FILTER (WHERE s.frequency = 0 OR s.monetary_value > 0) AS gg
              FROM s WHERE s.orders > 0
        )
        SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary_value,
               p.p_alive, p.expected_purchases, p.expected_spend, p.clv
          FROM s CROSS JOIN models m,
               LATERAL customer_segment.btyd_predict(m.bg, m.pn, m.gg, s.frequency, s.recency, s.t, s.monetary_value,
                                                     $3, $5, $6, $7, $4) p
         WHERE s.orders > 0
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING calibration_end, unit, horizon, margin, months, monthly_discount, per_month, penalizer, model;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text, text) IS
    'Summarises orders up to calibration_end (day purchases, a timestamptz on its date in zone or the session''s TimeZone when NULL, reported in unit), '
    'fits BG/NBD (or Pareto/NBD: model) and Gamma-Gamma, and returns per customer P(alive), expected purchases in horizon units, expected spend and discounted CLV '
    '(btyd_predict: spend and CLV NULL when the Gamma-Gamma q <= 1)';

-- Helper views that BI tools find: each helper becomes a plain view over a materialized view named
-- <name>_<helper>_data, with a comment on every column.
-- What every column of the helper views means, with its unit and range: the comments BI tools show as
-- descriptions (Metabase, DBeaver, Superset through SQLAlchemy, JDBC's REMARKS).  create_source_views puts
-- them on the plain views and on the materialized views behind them; a test keeps this list equal to the
-- result columns of the source_<helper> functions.
CREATE FUNCTION customer_segment.helper_columns()
RETURNS TABLE (helper text, column_name name, description text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT v.helper, v.column_name::name, v.description FROM (VALUES
    ('customers', 'customer_id', 'Customer, as text'),
    ('customers', 'first_purchase', 'Day of the first purchase on or before as_of (business time zone); NULL with refunds only'),
    ('customers', 'last_purchase', 'Day of the last purchase on or before as_of; NULL with refunds only'),
    ('customers', 'orders', 'Purchase rows (amount >= 0) up to as_of; 0 with refunds only'),
    ('customers', 'purchase_days', 'Distinct days with a purchase'),
    ('customers', 'refunds_count', 'Refund rows (amount < 0)'),
    ('customers', 'recency_days', 'Days from the last purchase to as_of (0 = bought on as_of)'),
    ('customers', 'tenure_days', 'Days from the first purchase to as_of'),
    ('customers', 'revenue', 'Sum of purchase amounts, in the currency of the orders'),
    ('customers', 'refunds', 'Refunded total as a positive amount, in the currency of the orders'),
    ('customers', 'monetary_total', 'Net spend: revenue - refunds, in the currency of the orders (negative with refunds only)'),
    ('customers', 'monetary_avg', 'Net spend per purchase row: monetary_total / orders'),
    ('customers', 'frequency', 'Repeat purchase days: distinct purchase days - 1 (lifetimes'' frequency)'),
    ('customers', 'recency', 'Days from the first to the last purchase day (lifetimes'' recency, unit: day)'),
    ('customers', 't', 'Days from the first purchase day to as_of (lifetimes'' T, unit: day)'),
    ('customers', 'monetary_value', 'Mean spend per repeat purchase day, the first day excluded; 0 when frequency = 0 (lifetimes'' monetary_value)'),
    ('customers', 'r_score', 'Recency score 1..bins of the source (higher = more recent); NULL with refunds only'),
    ('customers', 'f_score', 'Frequency score 1..bins, on orders (higher = more orders); NULL with refunds only'),
    ('customers', 'm_score', 'Monetary score 1..bins, on monetary_total (higher = more spend); NULL with refunds only'),
    ('customers', 'rfm_cell', 'R, F and M scores as one code, e.g. 545'),
    ('customers', 'fm_score', 'Mean of f_score and m_score, 1..bins'),
    ('customers', 'rfm_score', 'Mean of the three scores, 1..bins'),
    ('customers', 'segment', 'Named RFM segment of the source''s rule set (e.g. Champions, At Risk)'),
    ('customers', 'action', 'Recommended marketing action of the segment'),
    ('customers', 'lifecycle_stage', 'prospect, new, active, at risk, lapsed or reactivated as of as_of (see lifecycle_stage)'),
    ('customers', 'quadrant', 'High/Low value (net spend) x High/Low engagement (orders), cut at the medians of buying customers'),
    ('customers', 'tier', 'Tier of the source''s tier ladder by net spend; NULL without a ladder'),
    ('customers', 'p_alive', 'Probability that the customer is still active, 0..1, by the source''s prediction_model (BG/NBD or Pareto/NBD); NULL when no model could be fitted'),
    ('customers', 'expected_purchases_90d', 'Expected repeat purchase days in the next 90 days by the source''s prediction_model, >= 0'),
    ('customers', 'expected_spend', 'Gamma-Gamma expected spend per future purchase, in the currency of the orders; NULL when the model has q <= 1'),
    ('customers', 'clv_12m', 'Expected net spend of the next 12 months, discounted at 1% a month, in the currency of the orders'),
    ('customers', 'as_of', 'Last day of the observation window of this refresh (the source''s as_of, or the day of the refresh in its time zone)'),
    ('segments', 'segment', 'Named RFM segment; (not scored) for customers with refunds only'),
    ('segments', 'customers', 'Customers in the segment'),
    ('segments', 'share', 'Share of all customers, 0..1'),
    ('segments', 'revenue', 'Net spend of the segment''s customers, in the currency of the orders'),
    ('segments', 'avg_revenue', 'Mean net spend per customer of the segment'),
    ('segments', 'avg_recency_days', 'Mean days since the last purchase'),
    ('segments', 'avg_orders', 'Mean purchase rows per customer'),
    ('rf_grid', 'r_score', 'Recency score 1..bins (0 = not scored: refunds only)'),
    ('rf_grid', 'f_score', 'Frequency score 1..bins (0 = not scored)'),
    ('rf_grid', 'customers', 'Customers in the R x F cell'),
    ('rf_grid', 'revenue', 'Net spend of the cell''s customers, in the currency of the orders'),
    ('lifecycle', 'lifecycle_stage', 'prospect, new, active, at risk, lapsed or reactivated'),
    ('lifecycle', 'customers', 'Customers in the stage'),
    ('lifecycle', 'revenue', 'Net spend of the stage''s customers, in the currency of the orders'),
    ('tiers', 'tier', 'Tier of the source''s ladder; (none) without a ladder or below its lowest bound'),
    ('tiers', 'customers', 'Customers in the tier'),
    ('tiers', 'revenue', 'Net spend of the tier''s customers, in the currency of the orders'),
    ('cohorts', 'cohort', 'First day of the month of the customers'' first purchase (acquisition cohort)'),
    ('cohorts', 'period_offset', 'Months since the cohort month, 0 = the cohort month itself'),
    ('cohorts', 'cohort_size', 'Customers acquired in the cohort month'),
    ('cohorts', 'observed', 'Customers of the cohort observed this many months after it (the month is on or before as_of)'),
    ('cohorts', 'active', 'Customers of the cohort who bought in this month'),
    ('cohorts', 'active_share', 'active / cohort_size, 0..1'),
    ('cohorts', 'at_risk', 'Customers active in this month and observed in the next'),
    ('cohorts', 'retained', 'Customers active in this month and in the next'),
    ('cohorts', 'retention', 'retained / at_risk, 0..1, month-over-month retention; NULL in the last observed month'),
    ('clusters', 'customer_id', 'Customer, as text (buying customers with a positive net spend)'),
    ('clusters', 'cluster', 'k-means cluster, 1..k of the source'),
    ('clusters', 'distance', 'Distance to the cluster''s centre in the transformed space (log1p, then z-score), >= 0'),
    ('cluster_profiles', 'cluster', 'k-means cluster, 1..k of the source'),
    ('cluster_profiles', 'customers', 'Customers in the cluster'),
    ('cluster_profiles', 'share', 'Share of the clustered customers, 0..1'),
    ('cluster_profiles', 'avg_recency_days', 'Mean days since the last purchase'),
    ('cluster_profiles', 'avg_orders', 'Mean purchase rows per customer'),
    ('cluster_profiles', 'avg_spend', 'Mean net spend per customer, in the currency of the orders'),
    ('cluster_profiles', 'top_segment', 'Commonest RFM segment of the cluster'),
    ('cluster_profiles', 'top_lifecycle_stage', 'Commonest lifecycle stage of the cluster')
    ) v(helper, column_name, description)
$$;
COMMENT ON FUNCTION customer_segment.helper_columns() IS
    'Description, unit and range of every column of the helper views (the column comments BI tools show)';

-- The materialized view behind a helper view: the only name the extension reads a helper's rows by.
CREATE FUNCTION customer_segment.source_data(src customer_segment.sources, helper text)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || '_' || helper || '_data')
$$;
COMMENT ON FUNCTION customer_segment.source_data(customer_segment.sources, text) IS
    'Qualified name of the materialized view behind a helper view of a source (<name>_<helper>_data)';

DROP FUNCTION customer_segment.source_views(customer_segment.sources);
-- The helper views of a source, in refresh order: the plain view, the materialized view behind it, its query,
-- unique key and comment.
CREATE FUNCTION customer_segment.source_views(src customer_segment.sources)
RETURNS TABLE (view_name text, data_name text, definition text, unique_key text, comment text, helper text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || v.suffix), customer_segment.source_data(src, substr(v.suffix, 2)),
           format('SELECT * FROM customer_segment.%I(%L)', 'source' || v.suffix, src.name), v.unique_key, v.comment, substr(v.suffix, 2)
      FROM (VALUES
        (1, '_customers', 'customer_id',
         'Per customer: RFM summary, scores, cell, segment and action, lifecycle stage, value/engagement quadrant '
         '(cuts at the medians), tier on the source''s ladder (net spend to as_of), P(alive) and expected '
         'purchases in 90 days (BG/NBD, or Pareto/NBD: the source''s prediction_model), Gamma-Gamma expected spend and 12-month CLV at 1% a month (time in days), as of the last refresh'),
        (2, '_segments', 'segment', 'Segment sizes, shares and revenue'),
        (3, '_rf_grid', 'r_score, f_score', 'Customers and revenue per R x F cell (0 = not scored), for heat maps'),
        (4, '_lifecycle', 'lifecycle_stage', 'Customers and revenue per lifecycle stage'),
        (5, '_tiers', 'tier', 'Customers and revenue per tier ((none) without a ladder or below it)'),
        (6, '_cohorts', 'cohort, period_offset', 'Monthly cohort retention matrix: share of each acquisition cohort active k months later'),
        (7, '_clusters', 'customer_id', 'k-means cluster of every buying customer with a positive net spend (log1p + z-score of recency, orders, net spend)'),
        (8, '_cluster_profiles', 'cluster', 'Per k-means cluster: size, share, mean recency, orders and net spend, commonest segment and lifecycle stage')
      ) v(ord, suffix, unique_key, comment)
     WHERE v.ord <= 6 OR src.clusters IS NOT NULL
     ORDER BY v.ord
$$;
COMMENT ON FUNCTION customer_segment.source_views(customer_segment.sources) IS
    'Helper views of a source: the plain view, the materialized view behind it, its query, unique key, comment and helper name';

CREATE OR REPLACE FUNCTION customer_segment.source_customers_view(src customer_segment.sources)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT customer_segment.source_data(src, 'customers')
$$;
COMMENT ON FUNCTION customer_segment.source_customers_view(customer_segment.sources) IS
    'Qualified name of the materialized view behind the customers helper view of a source';

-- The materialized views behind a source's helper views must still be the ones register_source made: owned
-- by the role that registered the source, with columns of built-in types only.  Refreshing them runs their query
-- as that owner (REFRESH MATERIALIZED VIEW always does), never as the caller; reading them then runs nobody
-- else's code either (a materialized view has no rules, triggers or policies), even when the schema's owner
-- dropped one and put an object of their own in its place.
CREATE OR REPLACE FUNCTION customer_segment.check_source_views(src customer_segment.sources)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    bad record;
BEGIN
    SELECT v.data_name, CASE
             WHEN c.oid IS NULL THEN 'It does not exist.'
             WHEN c.relkind <> 'm' THEN 'It is not a materialized view.'
             WHEN pg_get_userbyid(c.relowner) <> src.registered_by
                 THEN format('It is owned by %s, the source by %s.', pg_get_userbyid(c.relowner), src.registered_by)
             ELSE format('Its column %s has type %s, which is not built in.', a.attname, a.atttypid::regtype)
           END AS detail
      INTO bad
      FROM customer_segment.source_views(src) v
      LEFT JOIN pg_class c ON c.oid = to_regclass(v.data_name)
      LEFT JOIN LATERAL (SELECT x.attname, x.atttypid FROM pg_attribute x
                          WHERE x.attrelid = c.oid AND x.attnum > 0 AND NOT x.attisdropped AND x.atttypid >= 16384::oid
                          LIMIT 1) a ON true
     WHERE c.oid IS NULL OR c.relkind <> 'm' OR pg_get_userbyid(c.relowner) <> src.registered_by OR a.attname IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'helper view % of source "%" is not the one register_source created', bad.data_name, src.name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = bad.detail,
                  HINT = format('Unregister the source and register it again: SELECT customer_segment.unregister_source(%L);', src.name);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.check_source_views(customer_segment.sources) IS
    'Raises 55000 unless the materialized view behind every helper view of the source is owned by the source''s owner with built-in column types';

-- Creates the helper views of a source: each materialized view (empty) with its unique index, the plain view
-- over it, and the comments of both and of every column.
CREATE OR REPLACE FUNCTION customer_segment.create_source_views(src customer_segment.sources)
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT * FROM customer_segment.source_views(src) s WHERE to_regclass(s.data_name) IS NULL LOOP
        EXECUTE format('CREATE MATERIALIZED VIEW %s AS %s WITH NO DATA', v.data_name, v.definition);
        EXECUTE format('CREATE UNIQUE INDEX ON %s (%s)', v.data_name, v.unique_key);
        EXECUTE format('CREATE VIEW %s AS SELECT * FROM %s', v.view_name, v.data_name);
        IF current_user <> src.registered_by THEN
            -- a superuser or a member of the owning role: the views belong to the source's owner all the same
            EXECUTE format('ALTER MATERIALIZED VIEW %s OWNER TO %I', v.data_name, src.registered_by);
            EXECUTE format('ALTER VIEW %s OWNER TO %I', v.view_name, src.registered_by);
        END IF;
        PERFORM customer_segment.comment_source_view(src, v.view_name, v.data_name, v.comment, v.helper);
        RETURN NEXT v.view_name;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.create_source_views(customer_segment.sources) IS
    'Creates the helper views of a source that do not exist yet (plain views over empty materialized views with unique indexes) and their comments; returns the views'' names';

-- The comments of a helper view, of the materialized view behind it and of every column of both.
CREATE FUNCTION customer_segment.comment_source_view(src customer_segment.sources, view_name text, data_name text,
    comment text, helper text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    c record;
BEGIN
    EXECUTE format('COMMENT ON VIEW %s IS %L', view_name, comment || ' (customer_segment source ' || src.name || ')');
    EXECUTE format('COMMENT ON MATERIALIZED VIEW %s IS %L', data_name,
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
    'Comments a helper view, the materialized view behind it and every column of both (helper_columns)';

COMMENT ON FUNCTION customer_segment.register_source(text, regclass, name, name, name, name, integer, text, date, integer, text, text) IS
    'Registers an orders table with its business time zone (default: the session''s) and creates its helper views (empty until the first refresh); returns their names';

-- Clusters of a source's customers: k-means with k clusters on log1p + z-score of (recency_days, orders,
-- monetary_total), two more helper views, computed at each refresh; NULL drops them.
CREATE FUNCTION customer_segment.set_source_clusters(source text, k integer)
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
    UPDATE customer_segment.sources s SET clusters = set_source_clusters.k WHERE s.name = src.name RETURNING * INTO src;
    RETURN QUERY SELECT customer_segment.create_source_views(src);
END
$$;
COMMENT ON FUNCTION customer_segment.set_source_clusters(text, integer) IS
    'Gives a source k-means clusters (k = 2..20) of its customers in two more helper views, <name>_clusters and <name>_cluster_profiles, '
    'filled at each refresh; NULL drops them; returns the views created';

-- Drops one helper view of a source and the data behind it; the user's own objects are never dropped silently.
CREATE FUNCTION customer_segment.drop_source_view(src customer_segment.sources, view_name text, data_name text, cascade boolean)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    dependents text;
BEGIN
    -- the plain view goes when it is the one over this source's data (not an object of the user's)
    IF EXISTS (SELECT 1 FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                WHERE r.ev_class = to_regclass(view_name) AND d.refobjid = to_regclass(data_name)) THEN
        EXECUTE format('DROP VIEW %s %s', view_name, CASE WHEN cascade THEN 'CASCADE' ELSE 'RESTRICT' END);
    END IF;
    EXECUTE format('DROP MATERIALIZED VIEW IF EXISTS %s %s', data_name, CASE WHEN cascade THEN 'CASCADE' ELSE 'RESTRICT' END);
EXCEPTION WHEN dependent_objects_still_exist THEN
    -- PostgreSQL's detail names them
    GET STACKED DIAGNOSTICS dependents = PG_EXCEPTION_DETAIL;
    RAISE EXCEPTION 'objects of yours depend on helper view % of source "%"', view_name, src.name
        USING ERRCODE = 'dependent_objects_still_exist', DETAIL = dependents,
              HINT = 'Drop them first, or pass cascade => true to drop them too.';
END
$$;
COMMENT ON FUNCTION customer_segment.drop_source_view(customer_segment.sources, text, text, boolean) IS
    'Drops a helper view of a source and its materialized view; 2BP01 naming the user''s dependent objects unless cascade';

-- Clusters: k-means on log1p + z-score of (recency_days, orders, monetary_total) of the buying customers
-- with a positive net spend, k from the source, seed 0.
CREATE FUNCTION customer_segment.source_clusters(source text)
RETURNS TABLE (customer_id text, cluster integer, distance float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
BEGIN
    IF src.clusters IS NULL THEN
        RAISE EXCEPTION 'source "%" has no clusters', source USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('SELECT customer_segment.set_source_clusters(%L, 4);', source);
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH c AS MATERIALIZED (
            SELECT customer_id, ARRAY[recency_days, orders, monetary_total]::float8[] AS f
              FROM %s WHERE orders > 0 AND monetary_total > 0
        ), m AS (
            -- no clusters while there are fewer such customers than k
            SELECT customer_segment.kmeans_fit(c.f, $1, 0, 'log1p+zscore') FILTER (WHERE n.customers >= $1) AS m
              FROM c, (SELECT count(*) AS customers FROM c) n
        )
        SELECT c.customer_id, customer_segment.kmeans_assign(m.m, c.f), customer_segment.kmeans_distance(m.m, c.f)
          FROM c, m WHERE m.m IS NOT NULL$q$, customer_segment.source_customers_view(src))
    USING src.clusters;
END
$$;
COMMENT ON FUNCTION customer_segment.source_clusters(text) IS
    'Rows of a source''s clusters helper view: k-means cluster of every buying customer with a positive net spend';

CREATE FUNCTION customer_segment.source_cluster_profiles(source text)
RETURNS TABLE (cluster integer, customers bigint, share numeric, avg_recency_days numeric, avg_orders numeric,
               avg_spend numeric, top_segment text, top_lifecycle_stage text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT k.cluster, count(*), round(count(*)::numeric / sum(count(*)) OVER (), 4),
               round(avg(c.recency_days), 1), round(avg(c.orders), 2), round(avg(c.monetary_total)::numeric, 2),
               mode() WITHIN GROUP (ORDER BY c.segment), mode() WITHIN GROUP (ORDER BY c.lifecycle_stage)
          FROM %s k JOIN %s c USING (customer_id) GROUP BY 1$q$,
        customer_segment.source_data(src, 'clusters'), customer_segment.source_customers_view(src));
END
$$;
COMMENT ON FUNCTION customer_segment.source_cluster_profiles(text) IS
    'Rows of a source''s cluster_profiles helper view: per cluster the size, share, mean recency, orders and spend, and the commonest segment and stage';


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
    DELETE FROM customer_segment.sources s WHERE s.name = unregister_source.name;
    DELETE FROM customer_segment.segment_history h WHERE h.source = unregister_source.name;
    PERFORM customer_segment.drop_empty_history_partitions();
END
$$;

-- Every registered source's helper materialized views become <name>_<helper>_data, and a plain view takes
-- each one's name: the same rows, owner and comments, and every grant on the materialized view is given on
-- the view too.  Objects of users that depend on a materialized view keep depending on it (a rename keeps
-- dependencies).  A name <name>_<helper>_data already taken stops the update before anything changes.
DO $update$
DECLARE
    taken text;
    s customer_segment.sources;
    v record;
    mv oid;
    owner name;
    g record;
BEGIN
    SELECT pg_catalog.string_agg(h.data_name, ', ') INTO taken
      FROM customer_segment.sources src, customer_segment.source_views(src) h
     WHERE pg_catalog.to_regclass(h.data_name) IS NOT NULL;
    IF taken IS NOT NULL THEN
        RAISE EXCEPTION 'cannot update customer_segment to 1.4: the names its helper views need are taken: %', taken
            USING ERRCODE = 'duplicate_table', HINT = 'Rename or drop those objects, then update again.';
    END IF;
    FOR s IN SELECT * FROM customer_segment.sources LOOP
        FOR v IN SELECT * FROM customer_segment.source_views(s) LOOP
            mv := pg_catalog.to_regclass(v.view_name);
            CONTINUE WHEN mv IS NULL OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = mv) OPERATOR(pg_catalog.<>) 'm';
            owner := (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c WHERE c.oid = mv);
            EXECUTE pg_catalog.format('ALTER MATERIALIZED VIEW %s RENAME TO %I', v.view_name, s.name || '_' || v.helper || '_data');
            EXECUTE pg_catalog.format('CREATE VIEW %s AS SELECT * FROM %s', v.view_name, v.data_name);
            EXECUTE pg_catalog.format('ALTER EXTENSION customer_segment DROP VIEW %s', v.view_name);
            EXECUTE pg_catalog.format('ALTER VIEW %s OWNER TO %I', v.view_name, owner);
            PERFORM customer_segment.comment_source_view(s, v.view_name, v.data_name, v.comment, v.helper);
            FOR g IN SELECT a.grantee, a.privilege_type, a.is_grantable
                       FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
                      WHERE c.oid = mv AND a.grantee OPERATOR(pg_catalog.<>) c.relowner LOOP
                EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', g.privilege_type, v.view_name,
                    CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(g.grantee)) END,
                    CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
            END LOOP;
        END LOOP;
    END LOOP;
END
$update$;

-- The report reads the data of the helper views.
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
    cust := customer_segment.source_customers_view(src);
    IF NOT (SELECT c.relispopulated FROM pg_class c WHERE c.oid = cust::regclass) THEN
        RAISE EXCEPTION 'source "%" has not been refreshed yet', source USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('SELECT customer_segment.refresh(%L);', source);
    END IF;
    EXECUTE format('SELECT max(as_of)::text FROM %s', cust) INTO line;
    RETURN NEXT format('Customer segments of %s as of %s', source, line);
    RETURN NEXT '';
    RETURN NEXT format('%-20s %9s %7s %14s  %s', 'segment', 'customers', 'share', 'revenue', '');
    EXECUTE format('SELECT max(customers) FROM %s', customer_segment.source_data(src, 'segments')) INTO max_n;
    FOR r IN EXECUTE format('SELECT * FROM %s ORDER BY revenue DESC NULLS LAST', customer_segment.source_data(src, 'segments')) LOOP
        RETURN NEXT format('%-20s %9s %6s%% %14s  %s', r.segment, r.customers, to_char(100 * r.share, 'FM990.0'),
                           to_char(r.revenue, 'FM999,999,999,990'), repeat('■', greatest(1, (40.0 * r.customers / max_n)::int)));
    END LOOP;
    RETURN NEXT '';
    RETURN NEXT 'Recency x frequency: customers per cell (shade = share of the busiest cell)';
    RETURN NEXT format('%6s %s', 'R \ F', (SELECT string_agg(format('%8s', f), '') FROM generate_series(1, src.bins) f));
    EXECUTE format('SELECT max(customers) FROM %s WHERE r_score > 0', customer_segment.source_data(src, 'rf_grid')) INTO max_n;
    FOR r IN EXECUTE format($q$
        SELECT g.r, string_agg(format('%%s%%7s', ($1)[1 + least(4, ceil(4.0 * coalesce(x.customers, 0) / $2)::int)],
                                      coalesce(x.customers, 0)), '' ORDER BY g2.f) AS cells
          FROM generate_series(%1$s, 1, -1) g(r) CROSS JOIN LATERAL generate_series(1, %1$s) g2(f)
          LEFT JOIN %2$s x ON x.r_score = g.r AND x.f_score = g2.f
         GROUP BY g.r ORDER BY g.r DESC$q$, src.bins, customer_segment.source_data(src, 'rf_grid')) USING shades, max_n LOOP
        RETURN NEXT format('%6s %s', r.r, r.cells);
    END LOOP;
    RETURN NEXT '';
    RETURN NEXT 'Lifecycle stages';
    FOR r IN EXECUTE format('SELECT * FROM %s ORDER BY customers DESC', customer_segment.source_data(src, 'lifecycle')) LOOP
        RETURN NEXT format('%-14s %9s', r.lifecycle_stage, r.customers);
    END LOOP;
    IF src.tier_ladder IS NOT NULL THEN
        RETURN NEXT '';
        RETURN NEXT format('Tiers (%s)', src.tier_ladder);
        FOR r IN EXECUTE format('SELECT t.tier, t.customers FROM %s t LEFT JOIN customer_segment.tier_ladders l
                                  ON l.ladder = %L AND l.tier = t.tier ORDER BY l.rank DESC NULLS LAST',
                                 customer_segment.source_data(src, 'tiers'), src.tier_ladder) LOOP
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

-- Scheduling as the caller, and read grants that say when the schema cannot be granted.
CREATE OR REPLACE FUNCTION customer_segment.require_pg_cron()
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF to_regprocedure('cron.schedule(text, text, text)') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Install the postgresql-15-cron package, set shared_preload_libraries = ''pg_cron'' and '
                         'cron.database_name, restart, then CREATE EXTENSION pg_cron in that database.';
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.require_pg_cron() IS 'Raises 0A000 with installation hints unless pg_cron 1.4+ is installed in this database';

CREATE OR REPLACE FUNCTION customer_segment.schedule_refresh(source text, schedule text DEFAULT '0 3 * * *')
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    job bigint;
BEGIN
    PERFORM customer_segment.get_source(source);
    PERFORM customer_segment.require_pg_cron();
    -- pg_cron lives in one database (cron.database_name), so a job it runs for this database is a job of that
    -- one: cron.schedule, which every role with USAGE on schema cron may call, schedules it as the caller.
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
       INTO job
      USING 'customer_segment refresh ' || source, schedule, format('CALL customer_segment.refresh_job(%L)', source);
    RETURN job;
END
$$;
COMMENT ON FUNCTION customer_segment.schedule_refresh(text, text) IS
    'Schedules CALL refresh_job(source) with pg_cron (cron syntax, default daily at 03:00) in this database as the current user '
    '(needs USAGE on schema cron); a failed refresh is a failed run; returns the job id';

COMMENT ON FUNCTION customer_segment.unschedule_refresh(text) IS 'Removes the current user''s pg_cron job of schedule_refresh(source)';

-- Read access for a BI role: the helper views only, never the orders or the configuration.
CREATE OR REPLACE FUNCTION customer_segment.grant_source_read(source text, role name)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    v record;
BEGIN
    src := customer_segment.get_source(source);
    IF role IS NULL OR to_regrole(quote_ident(role)) IS NULL THEN
        RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT has_schema_privilege(role, src.target_schema, 'USAGE') THEN
        -- Only the schema's owner (or a holder of the grant option) can grant it; anyone else would get a
        -- warning and no privilege, so ask for it clearly instead.
        IF NOT has_schema_privilege(src.target_schema, 'USAGE WITH GRANT OPTION')
           AND NOT pg_has_role((SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = src.target_schema), 'USAGE') THEN
            RAISE EXCEPTION 'role "%" cannot use schema "%", and you cannot grant it', role, src.target_schema
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('Ask the owner of schema %I to run: GRANT USAGE ON SCHEMA %I TO %I;', src.target_schema, src.target_schema, role);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', src.target_schema, role);
    END IF;
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', v.view_name, role);
    END LOOP;
END
$$;


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
BEGIN
    days_per_unit := customer_segment.check_holdout_window(calibration_end, observation_end, unit);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH o AS MATERIALIZED (
            SELECT %1$s::text AS customer_id, %2$s AS ts, (%2$s)::date AS day, %3$s AS amount
              FROM %4$s WHERE %1$s IS NOT NULL
        ), cal AS (
            SELECT o.customer_id, (customer_segment.rfm_summary(o.ts, o.amount, $1, 'day', $3)).*
              FROM o WHERE o.day <= $1 GROUP BY 1
        ), hold AS (
            SELECT o.customer_id, (customer_segment.rfm_summary(o.ts, o.amount, $2, 'day', $3)).*
              FROM o WHERE o.day > $1 AND o.day <= $2 GROUP BY 1
        )
        SELECT c.customer_id, c.frequency, c.recency, c.t, c.monetary_value,
               coalesce(h.purchase_days, 0), coalesce(h.revenue / nullif(h.purchase_days, 0), 0), ($2 - $1) / $4
          FROM cal c LEFT JOIN hold h USING (customer_id)
         WHERE c.orders > 0
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
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
    ), per_model AS (
        SELECT 'bgnbd' AS model, p.frequency_holdout AS actual, p.bgnbd_expected AS predicted,
               p.bgnbd_probability AS probability, (p.bgnbd).converged AS converged FROM p
        UNION ALL
        SELECT 'pareto_nbd', p.frequency_holdout, p.pareto_nbd_expected, p.pareto_nbd_probability, (p.pareto_nbd).converged FROM p
    )
    SELECT x.model, count(*), sum(x.actual)::bigint, sum(x.predicted),
           (sum(x.predicted) - sum(x.actual)) / nullif(sum(x.actual), 0),
           avg(abs(x.predicted - x.actual)), sqrt(avg((x.predicted - x.actual) ^ 2)), avg(x.predicted - x.actual),
           CASE WHEN min(x.probability) > 0 THEN sum(ln(x.probability)) END, bool_and(x.converged)
      FROM per_model x GROUP BY x.model ORDER BY x.model
$$;
COMMENT ON FUNCTION customer_segment.btyd_evaluate(regclass, name, name, name, date, date, text, text) IS
    'Holdout metrics of BG/NBD and Pareto/NBD fitted on the calibration window: total purchases actual and predicted, '
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
-- P(alive) given the purchases up to then (the line of lifetimes' plot_history_alive).
CREATE FUNCTION customer_segment.btyd_p_alive_history(source regclass, customer_column name, time_column name,
    amount_column name, customer text, bgnbd customer_segment.bgnbd_model, end_date date, unit text DEFAULT 'week',
    zone text DEFAULT NULL)
RETURNS TABLE (day date, frequency bigint, recency float8, t float8, p_alive float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    days_per_unit float8;
BEGIN
    IF customer IS NULL OR bgnbd IS NULL OR end_date IS NULL OR unit IS NULL OR NOT isfinite(end_date) THEN
        RAISE EXCEPTION 'btyd_p_alive_history arguments must not be NULL or infinite' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    days_per_unit := customer_segment.unit_days(unit);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH d AS MATERIALIZED (
            SELECT DISTINCT (%2$s)::date AS day FROM %4$s
             WHERE %1$s::text = $1 AND %3$s >= 0 AND (%2$s)::date <= $2
        ), first AS (
            SELECT min(d.day) AS first_day FROM d
        )
        SELECT g.day::date, x.n - 1, (x.last - f.first_day) / $3, (g.day::date - f.first_day) / $3,
               customer_segment.bgnbd_p_alive($4, x.n - 1, (x.last - f.first_day) / $3, (g.day::date - f.first_day) / $3)
          FROM first f, generate_series(f.first_day, $2, make_interval(days => $3::int)) g(day),
               LATERAL (SELECT count(*) AS n, max(d.day) AS last FROM d WHERE d.day <= g.day) x
         WHERE f.first_day IS NOT NULL
         ORDER BY 1
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING customer, end_date, days_per_unit, bgnbd;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_p_alive_history(regclass, name, name, name, text, customer_segment.bgnbd_model, date, text, text) IS
    'BG/NBD P(alive) of one customer at every period (unit) from the first purchase to end_date, given the purchase days up to then';


-- k-means (doc/clusters.md).
-- Install-time helper, dropped at the end of this script: an aggregate over
-- several signatures, each with its transition function declared from one C
-- symbol (CREATE OR REPLACE: aggregates may share transition functions).
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

CREATE TYPE customer_segment.kmeans_model AS (
    k integer, dims integer, centroids float8[], inertia float8, iterations integer, converged boolean,
    sizes float8[], transform text, shift float8[], scale float8[], rows bigint, points bigint, seed bigint);
COMMENT ON TYPE customer_segment.kmeans_model IS
    'Fitted k-means model: centroids (k x dims) in the transformed space, where a feature vector x becomes '
    '(f(x) - shift) / scale, f = log1p for the log1p transforms; inertia and sizes by weight; rows fitted and points kept';
CREATE TYPE customer_segment.kmeans_k_score AS (k integer, inertia float8, silhouette float8, silhouette_points bigint);
COMMENT ON TYPE customer_segment.kmeans_k_score IS
    'One k of kmeans_scan: the best inertia of the restarts and the mean silhouette on silhouette_points points';

CREATE FUNCTION customer_segment.kmeans_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_fit_final(internal)
RETURNS customer_segment.kmeans_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_scan_final(internal)
RETURNS customer_segment.kmeans_k_score[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

SELECT customer_segment.install_aggregate(v.agg, v.sigs, v.c_trans, v.c_trans, v.final, 'kmeans_combine',
                                          'kmeans_serialize', 'kmeans_deserialize', 'IMMUTABLE', v.comment)
  FROM (VALUES
    ('kmeans_fit', ARRAY['features float8[], k integer', 'features float8[], k integer, seed bigint',
                         'features float8[], k integer, seed bigint, transform text',
                         'features float8[], k integer, seed bigint, transform text, weight float8'],
     'kmeans_fit_trans', 'kmeans_fit_final',
     'k-means of the feature vectors: k-means++ seeding from seed (default 0), best of 10 restarts, Lloyd to tol 1e-4; '
     'transform none (default), zscore, minmax, log1p, log1p+zscore or log1p+minmax; optional weight; NULL rows skipped'),
    ('kmeans_scan', ARRAY['features float8[], k_min integer, k_max integer', 'features float8[], k_min integer, k_max integer, seed bigint',
                          'features float8[], k_min integer, k_max integer, seed bigint, transform text',
                          'features float8[], k_min integer, k_max integer, seed bigint, transform text, weight float8'],
     'kmeans_scan_trans', 'kmeans_scan_final',
     'For every k from k_min to k_max: the inertia of kmeans_fit and the mean silhouette (exact up to 4,000 points, '
     'else on a seeded sample of 4,000), to choose k by the elbow or the best silhouette')
  ) v(agg, sigs, c_trans, final, comment);

CREATE FUNCTION customer_segment.kmeans_assign(model customer_segment.kmeans_model, features float8[])
RETURNS integer AS 'MODULE_PATHNAME', 'kmeans_assign_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.kmeans_assign(customer_segment.kmeans_model, float8[]) IS
    'Cluster 1..k of a feature vector: the nearest centroid after the model''s transform (the lowest on ties)';
CREATE FUNCTION customer_segment.kmeans_distance(model customer_segment.kmeans_model, features float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'kmeans_distance_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.kmeans_distance(customer_segment.kmeans_model, float8[]) IS
    'Euclidean distance, in the transformed space, from a feature vector to its nearest centroid';
-- Parameter uncertainty: the fits again, with standard errors from the observed information.
CREATE TYPE customer_segment.btyd_uncertainty AS (
    parameter text[], estimate float8[], standard_error float8[], lower_95 float8[], upper_95 float8[],
    covariance float8[], log_likelihood float8, customers bigint, converged boolean);
COMMENT ON TYPE customer_segment.btyd_uncertainty IS
    'A BTYD fit with its uncertainty: per parameter the estimate, standard error (observed information, delta method) '
    'and 95% interval (on the log scale, so it stays positive), the covariance matrix of the parameters';
CREATE FUNCTION customer_segment.bgnbd_uncertainty_final(internal)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_uncertainty_final(internal)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_uncertainty_final(internal)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
SELECT customer_segment.install_aggregate(v.agg, v.sigs, v.c_trans, v.c_trans, v.final, 'btyd_fit_combine',
                                          'btyd_fit_serialize', 'btyd_fit_deserialize', 'IMMUTABLE', v.comment)
  FROM (VALUES
    ('bgnbd_fit_uncertainty', ARRAY['frequency float8, recency float8, t float8', 'frequency float8, recency float8, t float8, penalizer float8'],
     'bgnbd_fit_trans', 'bgnbd_uncertainty_final',
     'bgnbd_fit with standard errors and 95% intervals of r, alpha, a, b from the observed information at the maximum'),
    ('pareto_nbd_fit_uncertainty', ARRAY['frequency float8, recency float8, t float8', 'frequency float8, recency float8, t float8, penalizer float8'],
     'bgnbd_fit_trans', 'pnbd_uncertainty_final',
     'pareto_nbd_fit with standard errors and 95% intervals of r, alpha, s, beta from the observed information at the maximum'),
    ('gamma_gamma_fit_uncertainty', ARRAY['frequency float8, monetary_value float8', 'frequency float8, monetary_value float8, penalizer float8'],
     'gg_fit_trans', 'gg_uncertainty_final',
     'gamma_gamma_fit with standard errors and 95% intervals of p, q, gamma from the observed information at the maximum')
  ) v(agg, sigs, c_trans, final, comment);

-- A customer's expected purchases with a 95% interval from the parameter uncertainty (delta method: the
-- gradient in the parameters by central differences, variance g' C g, estimate +- 1.96 sd, floored at 0).
CREATE FUNCTION customer_segment.bgnbd_expected_purchases_interval(model customer_segment.bgnbd_model,
    uncertainty customer_segment.btyd_uncertainty, horizon float8, frequency float8, recency float8, t float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    p float8[] := ARRAY[model.r, model.alpha, model.a, model.b];
    g float8[] := '{}';
    up float8[];
    down float8[];
    h float8;
    v float8 := 0;
BEGIN
    IF model IS NULL OR uncertainty IS NULL OR uncertainty.covariance IS NULL THEN
        RETURN;
    END IF;
    estimate := customer_segment.bgnbd_expected_purchases(model, horizon, frequency, recency, t);
    FOR i IN 1..4 LOOP
        h := 1e-6 * p[i];
        up := p;
        down := p;
        up[i] := p[i] + h;
        down[i] := p[i] - h;
        g[i] := (customer_segment.bgnbd_expected_purchases(ROW(up[1], up[2], up[3], up[4], NULL, NULL, NULL, NULL, NULL), horizon, frequency, recency, t)
               - customer_segment.bgnbd_expected_purchases(ROW(down[1], down[2], down[3], down[4], NULL, NULL, NULL, NULL, NULL), horizon, frequency, recency, t))
              / (2 * h);
    END LOOP;
    FOR i IN 1..4 LOOP
        FOR j IN 1..4 LOOP
            v := v + g[i] * uncertainty.covariance[i][j] * g[j];
        END LOOP;
    END LOOP;
    lower_95 := greatest(estimate - 1.959963984540054 * sqrt(greatest(v, 0)), 0);
    upper_95 := estimate + 1.959963984540054 * sqrt(greatest(v, 0));
END
$$;
COMMENT ON FUNCTION customer_segment.bgnbd_expected_purchases_interval(customer_segment.bgnbd_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8) IS
    'bgnbd_expected_purchases with a 95% interval from the parameter uncertainty of bgnbd_fit_uncertainty (delta method, floored at 0)';

DROP FUNCTION customer_segment.install_aggregate(text, text[], text, text, text, text, text, text, text, text);

-- Privileges: what an ordinary role may read and change in the extension's tables (doc/operations.md, Privileges).
--
-- Every function runs with the rights of its caller (the history partition helpers excepted), so reading an
-- orders table through the extension needs SELECT on it, and a refresh runs as the owner of the source's
-- views.  The tables are shared by all roles that have USAGE on the schema; row-level security decides whose
-- rows each role sees and changes:
--   rule sets, tier ladders, value-grid names  readable by all, changed only by the set's owner;
--   sources, refresh_log, segment_history      seen and changed only by the source's owner.
-- "The owner" includes the roles that inherit its rights, as for PostgreSQL's own objects.

-- True when the current role acts as role: is it, or inherits its rights.  A role that no longer exists is
-- nobody's.  SQL-standard body: parsed once here, so no caller's search_path changes what it means, and small
-- enough to be inlined into a policy, where pg_roles is read once per query, not once per row.
CREATE FUNCTION customer_segment.acts_as(role name)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT role OPERATOR(pg_catalog.=) CURRENT_USER
        OR role IN (SELECT r.rolname FROM pg_catalog.pg_roles r WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'));
END;
COMMENT ON FUNCTION customer_segment.acts_as(name) IS
    'True when the current role is role or inherits its rights (as PostgreSQL decides who may act as an object''s owner)';

-- One owner per rule set, ladder or naming scheme: a role cannot add rows to, or move rows into, a set that
-- has rows of a role it cannot act as.  TG_ARGV[0] names the column that names the set.
CREATE FUNCTION customer_segment.check_set_owner()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    set_name text := to_jsonb(NEW) ->> TG_ARGV[0];
    other name;
BEGIN
    -- Two roles creating the same set at once: the second waits, then sees the first one's rows.
    PERFORM pg_advisory_xact_lock(hashtext(TG_TABLE_NAME), hashtext(set_name));
    EXECUTE format('SELECT t.owner FROM %I.%I t WHERE t.%I = $1 AND NOT customer_segment.acts_as(t.owner) LIMIT 1',
                   TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0])
       INTO other USING set_name;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION '% "%" of % belongs to role %', replace(TG_ARGV[0], '_', ' '), set_name, TG_TABLE_NAME, other
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Copy it under a %s of your own and edit the copy.', replace(TG_ARGV[0], '_', ' '));
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION customer_segment.check_set_owner() IS
    'Trigger: raises 42501 when a row joins a set (rule set, ladder) that has rows of a role the current one cannot act as';
CREATE TRIGGER check_set_owner BEFORE INSERT OR UPDATE ON customer_segment.rfm_segment_rules
    FOR EACH ROW EXECUTE FUNCTION customer_segment.check_set_owner('rule_set');
CREATE TRIGGER check_set_owner BEFORE INSERT OR UPDATE ON customer_segment.tier_ladders
    FOR EACH ROW EXECUTE FUNCTION customer_segment.check_set_owner('ladder');
CREATE TRIGGER check_set_owner BEFORE INSERT OR UPDATE ON customer_segment.value_grid_cells
    FOR EACH ROW EXECUTE FUNCTION customer_segment.check_set_owner('rule_set');

-- Rule sets, ladders and naming schemes: configuration, not customer data.  Everyone reads them; each role
-- inserts rows as itself and changes only the rows it owns ('standard' is the installer's, and read-only).
ALTER TABLE customer_segment.rfm_segment_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_segment.tier_ladders ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_segment.value_grid_cells ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON customer_segment.rfm_segment_rules FOR SELECT USING (true);
CREATE POLICY owner_writes ON customer_segment.rfm_segment_rules FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
CREATE POLICY read_all ON customer_segment.tier_ladders FOR SELECT USING (true);
CREATE POLICY owner_writes ON customer_segment.tier_ladders FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
CREATE POLICY read_all ON customer_segment.value_grid_cells FOR SELECT USING (true);
CREATE POLICY owner_writes ON customer_segment.value_grid_cells FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
GRANT SELECT, INSERT, UPDATE, DELETE ON customer_segment.rfm_segment_rules, customer_segment.tier_ladders,
    customer_segment.value_grid_cells TO PUBLIC;

-- Sources: a role sees and changes its own.  It registers them as itself (register_source), may change the
-- settings a refresh reads, but not which table, columns or schema a source reads and writes.
ALTER TABLE customer_segment.sources ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.sources FOR SELECT USING (customer_segment.acts_as(registered_by));
CREATE POLICY owner_registers ON customer_segment.sources FOR INSERT WITH CHECK (registered_by OPERATOR(pg_catalog.=) CURRENT_USER);
CREATE POLICY owner_changes ON customer_segment.sources FOR UPDATE USING (customer_segment.acts_as(registered_by));
CREATE POLICY owner_unregisters ON customer_segment.sources FOR DELETE USING (customer_segment.acts_as(registered_by));
GRANT SELECT, INSERT, DELETE ON customer_segment.sources TO PUBLIC;
GRANT UPDATE (bins, rule_set, as_of, tier_ladder, history_days, time_zone, clusters, prediction_model) ON customer_segment.sources TO PUBLIC;

-- The refresh log and the history: rows carry the owner of their source.  The log is append-only for users.
ALTER TABLE customer_segment.refresh_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.refresh_log FOR SELECT USING (customer_segment.acts_as(owner));
CREATE POLICY owner_logs ON customer_segment.refresh_log FOR INSERT WITH CHECK (customer_segment.acts_as(owner));
GRANT SELECT, INSERT ON customer_segment.refresh_log TO PUBLIC;
ALTER TABLE customer_segment.segment_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON customer_segment.segment_history FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
GRANT SELECT, INSERT, DELETE ON customer_segment.segment_history TO PUBLIC;

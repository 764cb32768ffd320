-- customer_segment 1.7 -> 1.8: a sound privilege model.  The work of a refresh, a report or a scheduled job
-- on a registered source runs as the source's owner in a security-restricted operation (run_as_owner,
-- run_as_source_owner); btyd_analyze's covariates key goes through safe_key_sql;
-- row-level security refuses rows filed under another role's source (owns_source) and a source over a table
-- its owner cannot read; history partitions only for days a snapshot can have, dropped only while no
-- snapshot is being written; an UPDATE of a source's settings is checked (check_source_settings);
-- btyd_p_alive_history in one sort instead of a count per period.  Existing
-- rows that fail these rules are reported, and planted ones removed.
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

CREATE FUNCTION customer_segment.owns_source(source text, owner name)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT customer_segment.acts_as(owner)
       AND EXISTS (SELECT 1 FROM customer_segment.sources s
                    WHERE s.name OPERATOR(pg_catalog.=) source AND s.registered_by OPERATOR(pg_catalog.=) owner);
END;
COMMENT ON FUNCTION customer_segment.owns_source(text, name) IS
    'True when the current role acts as owner and owner registered the source (row-level security of the log, history and increments)';

CREATE OR REPLACE FUNCTION customer_segment.refresh_views(src customer_segment.sources, rebuild boolean DEFAULT false,
    OUT customers bigint, OUT note text)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v record;
BEGIN
    PERFORM customer_segment.check_source_views(src);
    note := customer_segment.run_as_source_owner(src, format(
        'SELECT customer_segment.update_source_states(%L::customer_segment.sources, %L)', src, rebuild));
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        -- CONCURRENTLY keeps the old rows readable during the refresh; it needs data to start from.
        IF (SELECT c.relispopulated FROM pg_class c WHERE c.oid = v.data_name::regclass) THEN
            EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', v.data_name);
        ELSE
            EXECUTE format('REFRESH MATERIALIZED VIEW %s', v.data_name);
        END IF;
    END LOOP;
    EXECUTE format('SELECT count(*) FROM %s', customer_segment.source_customers_view(src)) INTO customers;
    IF src.history_days IS NOT NULL THEN
        PERFORM customer_segment.run_as_source_owner(src, format(
            'SELECT customer_segment.snapshot_history(%L::customer_segment.sources)', src));
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.refresh_views(customer_segment.sources, boolean) IS
    'Brings the states of an incrementally refreshed source up to date (rebuild: from all orders), recomputes the helper '
    'views and takes the history snapshot, the first and last as the source''s owner; returns the customers and what '
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
    'lifecycle stages, tiers, cohort retention heat map and, unless holdout_weeks = 0, both purchase models evaluated on the last '
    'holdout_weeks weeks: holdout metrics, tracking and conditional-expectation charts';

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
BEGIN
    IF calibration_end IS NULL OR horizon IS NULL OR unit IS NULL OR margin IS NULL OR months IS NULL
       OR monthly_discount IS NULL OR penalizer IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'btyd_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF model NOT IN ('bgnbd', 'pareto_nbd', 'mbgnbd', 'bgbb') THEN
        RAISE EXCEPTION 'unknown purchase model "%"', model USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''bgnbd'', ''pareto_nbd'', ''mbgnbd'' or ''bgbb''; btyd_evaluate compares the first two on a holdout.';
    END IF;
    IF covariates IS NOT NULL THEN
        IF model NOT IN ('bgnbd', 'pareto_nbd') THEN
            RAISE EXCEPTION 'covariates are available for the bgnbd and pareto_nbd models, not %', model
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
    RETURN QUERY EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT %1$s::text AS customer_id, (customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $2)).*
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
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause,
         coalesce(covariates::text, '(SELECT NULL::text AS customer_id, NULL::float8[] AS purchase_covariates, NULL::float8[] AS dropout_covariates, NULL::float8[] AS spend_covariates WHERE false)'),
         CASE WHEN covariates IS NULL THEN 'c.customer_id' ELSE customer_segment.safe_key_sql(covariates, 'customer_id', 'c') END)
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
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
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
    'Creates the monthly partition of segment_history that holds a snapshot day, owned by the extension''s owner (SECURITY DEFINER)';

CREATE OR REPLACE FUNCTION customer_segment.drop_empty_history_partitions()
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
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
COMMENT ON FUNCTION customer_segment.drop_empty_history_partitions() IS 'Drops the monthly partitions of segment_history that hold no rows';

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

CREATE FUNCTION customer_segment.check_source_settings()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF NEW.time_zone IS DISTINCT FROM OLD.time_zone THEN
        NEW.time_zone := customer_segment.check_time_zone(NEW.time_zone);
    END IF;
    IF NEW.rule_set IS DISTINCT FROM OLD.rule_set
       AND NOT EXISTS (SELECT 1 FROM customer_segment.rfm_segment_rules r WHERE r.rule_set = NEW.rule_set) THEN
        RAISE EXCEPTION 'rule set "%" does not exist', NEW.rule_set USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.tier_ladder IS DISTINCT FROM OLD.tier_ladder AND NEW.tier_ladder IS NOT NULL THEN
        PERFORM customer_segment.check_tier_ladder(NEW.tier_ladder);
    END IF;
    IF NEW.as_of IS DISTINCT FROM OLD.as_of AND NOT isfinite(NEW.as_of) THEN
        RAISE EXCEPTION 'as_of must be a finite date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
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

ALTER POLICY owner_registers ON customer_segment.sources
    WITH CHECK (registered_by OPERATOR(pg_catalog.=) CURRENT_USER AND pg_catalog.has_table_privilege(orders, 'SELECT'));
ALTER POLICY owner_logs ON customer_segment.refresh_log WITH CHECK (customer_segment.owns_source(source, owner));
ALTER POLICY owner_only ON customer_segment.segment_history WITH CHECK (customer_segment.owns_source(source, owner));
ALTER POLICY owner_only ON customer_segment.source_increments WITH CHECK (customer_segment.owns_source(source, owner));

-- Rows filed under another role's source (possible before 1.8) are removed and counted; a source whose owner
-- cannot read its orders (registered by a direct INSERT) or whose zone is invalid (set by an UPDATE) is named,
-- in a warning and a failed row of its log: its refreshes fail, logged, until it is mended.  Log rows
-- of sources no longer registered stay, as unregister_source leaves them.
DO $$
DECLARE
    t text;
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
END
$$;

-- Registered sources: the registry, the refresh log table, the helper views a source gets, register and unregister.

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
    registered_by    name NOT NULL DEFAULT current_user,
    time_zone        text NOT NULL DEFAULT current_setting('TimeZone'),
    clusters         integer CHECK (clusters BETWEEN 2 AND 20),
    prediction_model text NOT NULL DEFAULT 'bgnbd' CHECK (customer_segment.is_source_model(prediction_model))
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
COMMENT ON COLUMN customer_segment.sources.time_zone IS 'Business time zone: the day of a timestamptz order, and today when as_of is NULL, are taken in it';
COMMENT ON COLUMN customer_segment.sources.prediction_model IS 'Purchase model of the customers view''s predictions: bgnbd (default), pareto_nbd or mbgnbd';
COMMENT ON COLUMN customer_segment.sources.clusters IS 'k of the k-means clusters of the customers (set_source_clusters); NULL = no cluster views';
SELECT pg_catalog.pg_extension_config_dump('customer_segment.sources', '');

CREATE TABLE customer_segment.refresh_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    customers    bigint,
    status       text NOT NULL CHECK (status IN ('ok', 'failed')),
    error        text,
    note         text,
    owner        name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE customer_segment.refresh_log IS 'One row per refresh of a source: when, how many customers, ok or failed with the error';
COMMENT ON COLUMN customer_segment.refresh_log.id IS 'Run number';
COMMENT ON COLUMN customer_segment.refresh_log.source IS 'Source name';
COMMENT ON COLUMN customer_segment.refresh_log.started_at IS 'Start of the refresh';
COMMENT ON COLUMN customer_segment.refresh_log.finished_at IS 'End of the refresh';
COMMENT ON COLUMN customer_segment.refresh_log.customers IS 'Rows of the customers view after the refresh';
COMMENT ON COLUMN customer_segment.refresh_log.status IS 'ok, or failed (the previous results were kept)';
COMMENT ON COLUMN customer_segment.refresh_log.error IS 'SQLSTATE and message of a failed refresh';
COMMENT ON COLUMN customer_segment.refresh_log.note IS 'Why an ok refresh left the prediction columns NULL (SQLSTATE and message); NULL when it did not';
COMMENT ON COLUMN customer_segment.refresh_log.owner IS 'Owner of the source at the time of the run; only roles acting as it see the row';

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

-- The observation day of a source's views: its fixed as_of, or today in its time zone; of a source's row
-- (source_day), or of a source by name (source_as_of).
CREATE FUNCTION customer_segment.source_day(src customer_segment.sources)
RETURNS date LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT coalesce(src.as_of, (now() AT TIME ZONE src.time_zone)::date)
$$;
COMMENT ON FUNCTION customer_segment.source_day(customer_segment.sources) IS 'as_of of a source''s row, or today in the source''s time zone when it has none';
CREATE FUNCTION customer_segment.source_as_of(source text, OUT as_of date)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT customer_segment.source_day(s) FROM customer_segment.sources s WHERE s.name = source_as_of.source
$$;
COMMENT ON FUNCTION customer_segment.source_as_of(text) IS 'as_of of a source, or today in the source''s time zone when it has none';

-- The tables behind a source's helper views must be the ones recorded when they were created for it
-- (source_relations), still of the source's owner, without row security and with columns of built-in types.
-- A refresh fills them as that owner in a security-restricted operation (fill_source_views), never as the
-- caller; reading them then runs nobody else's code (no policies; a table has no SELECT rules), even when the
-- schema's owner dropped one and put an object of their own in its place.
CREATE FUNCTION customer_segment.check_source_views(src customer_segment.sources)
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

-- Creates the helper views of a source that it has not got (none recorded under the name): each table behind
-- one (empty, with the columns of its source_<helper> function) with the unique index of its key, the plain
-- view over it, and the comments of both and of every column.
-- An object of someone else's by the name makes it fail (42P07), rather than be taken for a helper view.
CREATE FUNCTION customer_segment.create_source_views(src customer_segment.sources)
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

-- The comments of a helper view, of the table behind it and of every column of both.
CREATE FUNCTION customer_segment.comment_source_view(src customer_segment.sources, view_name text, data_name text,
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

CREATE FUNCTION customer_segment.register_source(name text, orders regclass, customer_column name,
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

-- The business time zone of a source; the next refresh uses it.
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

-- The settings of a source, checked as the functions that set them check them: all of a new one (previous
-- NULL), those an UPDATE changed; returns the row with its time zone in canonical form.
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

-- An UPDATE of a settings column by hand is checked as register_source checks it.
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
    UPDATE customer_segment.sources s SET clusters = set_source_clusters.k WHERE s.name = src.name;
    RETURN QUERY SELECT jsonb_array_elements_text(customer_segment.registry_write('create_views', src.name)::jsonb);
END
$$;
COMMENT ON FUNCTION customer_segment.set_source_clusters(text, integer) IS
    'Gives a source k-means clusters (k = 2..20) of its customers in two more helper views, <name>_clusters and <name>_cluster_profiles, '
    'filled at each refresh; NULL drops them; returns the views created';

-- Drops one helper view of a source and the data behind it, when that is the relation recorded for the
-- source; the user's own objects are never dropped silently.
CREATE FUNCTION customer_segment.drop_source_view(src customer_segment.sources, view_name text, data_name text, cascade boolean)
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

CREATE FUNCTION customer_segment.unregister_source(name text, cascade boolean DEFAULT false)
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


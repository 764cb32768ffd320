-- The sources row of a source whose helper views a report may read: verified and refreshed at least once.
CREATE FUNCTION customer_segment.get_refreshed_source(source text)
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
    src := customer_segment.get_refreshed_source(source);
    cust := customer_segment.source_customers_view(src);
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
COMMENT ON FUNCTION customer_segment.report(text, integer) IS 'Text report of a refreshed source: segments with bars, shaded R x F grid, lifecycle stages, top customers';


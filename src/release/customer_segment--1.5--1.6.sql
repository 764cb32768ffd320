-- customer_segment 1.5 -> 1.6: more customer-base models: MBG/NBD (mbgnbd_fit, mbgnbd_fit_uncertainty and its
-- predictions; btyd_analyze(..., model => 'mbgnbd') through btyd_predict_mbgnbd) and BG/BB for discrete
-- opportunities (bgbb_fit with weights, bgbb_fit_uncertainty, its predictions and DERT; bgbb_summary turns orders
-- into histories of calendar periods).  report_html, a self-contained HTML report of a source (inline SVG: segment
-- bars, R x F and cohort retention heat maps, lifecycle stages, tiers, and both purchase models evaluated on a
-- holdout: metrics, tracking and conditional-expectation charts), and the chart functions it is drawn with
-- (svg_bar_chart, svg_heat_map, svg_line_chart, html_escape, svg_number, svg_finite, svg_heat_colour); report and
-- report_html share get_refreshed_source.  btyd_holdout reads the orders once.  Intervals from the parameter
-- uncertainty for Pareto/NBD expected purchases and for the CLV of both purchase models with Gamma-Gamma spend
-- (pareto_nbd_expected_purchases_interval, bgnbd_clv_interval, pareto_nbd_clv_interval), one delta-method
-- computation for all (btyd_quantity, btyd_interval).  btyd_evaluate compares MBG/NBD too, and a
-- source's prediction_model may be mbgnbd (views created before keep their column comments).
\echo Use "ALTER EXTENSION customer_segment UPDATE TO '1.6'" to load this file. \quit

-- Install-time helper, dropped at the end of this script.
CREATE FUNCTION customer_segment.install_aggregate(agg text, signatures text[], c_trans text, sql_trans text,
    final text, combine text, serial text, deserial text, volatility text, comment text, stype text DEFAULT 'internal')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    sig text;
    st text := CASE WHEN stype = 'internal' THEN 'internal' ELSE format('customer_segment.%I', stype) END;
    moves text := CASE WHEN stype = 'internal' THEN format(', SERIALFUNC = customer_segment.%I, DESERIALFUNC = customer_segment.%I',
                                                          serial, deserial) ELSE '' END;
BEGIN
    FOREACH sig IN ARRAY signatures LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION customer_segment.%I(%s, %s) RETURNS %s
                        AS %L, %L LANGUAGE C %s PARALLEL SAFE', sql_trans, st, sig, st, 'MODULE_PATHNAME', c_trans, volatility);
        EXECUTE format('CREATE AGGREGATE customer_segment.%I(%s) (SFUNC = customer_segment.%I, STYPE = %s,
                        FINALFUNC = customer_segment.%I, COMBINEFUNC = customer_segment.%I%s, PARALLEL = SAFE)',
                       agg, sig, sql_trans, st, final, combine, moves);
        EXECUTE format('COMMENT ON AGGREGATE customer_segment.%I(%s) IS %L', agg, sig, comment);
    END LOOP;
END
$$;

-- The sources row of a source whose helper views a report may read: verified and refreshed at least once.
CREATE FUNCTION customer_segment.get_refreshed_source(source text)
RETURNS customer_segment.sources LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
BEGIN
    src := customer_segment.get_source(source);
    PERFORM customer_segment.check_source_views(src);
    IF NOT (SELECT c.relispopulated FROM pg_class c WHERE c.oid = customer_segment.source_customers_view(src)::regclass) THEN
        RAISE EXCEPTION 'source "%" has not been refreshed yet', source USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('SELECT customer_segment.refresh(%L);', source);
    END IF;
    RETURN src;
END
$$;
COMMENT ON FUNCTION customer_segment.get_refreshed_source(text) IS
    'The sources row of a registered source whose helper views are verified (check_source_views) and populated; 55000 before the first refresh';

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

CREATE OR REPLACE FUNCTION customer_segment.btyd_holdout(source regclass, customer_column name, time_column name,
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
        WITH per_customer AS (   -- one pass over the orders: both windows' summaries
            SELECT %1$s AS customer,
                   customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $3) FILTER (WHERE (%2$s)::date <= $1) AS cal,
                   customer_segment.rfm_summary(%2$s, %3$s, $2, 'day', $3)
                       FILTER (WHERE (%2$s)::date > $1 AND (%2$s)::date <= $2) AS hold
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY 1
        )
        SELECT p.customer::text, (p.cal).frequency, (p.cal).recency, (p.cal).t, (p.cal).monetary_value,
               coalesce((p.hold).purchase_days, 0), coalesce((p.hold).revenue / nullif((p.hold).purchase_days, 0), 0), ($2 - $1) / $4
          FROM per_customer p
         WHERE (p.cal).orders > 0
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING calibration_end, observation_end, unit, days_per_unit;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_holdout(regclass, name, name, name, date, date, text, text) IS
    'Calibration/holdout split: per customer who bought by calibration_end, the calibration frequency, recency, T and monetary_value '
    '(rfm_summary, day periods, in unit) and the holdout purchase days, mean spend per purchase day and length (in unit)';

CREATE OR REPLACE FUNCTION customer_segment.btyd_analyze(source regclass, customer_column name, time_column name,
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
       OR monthly_discount IS NULL OR penalizer IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'btyd_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF model NOT IN ('bgnbd', 'pareto_nbd', 'mbgnbd', 'bgbb') THEN
        RAISE EXCEPTION 'unknown purchase model "%"', model USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''bgnbd'', ''pareto_nbd'', ''mbgnbd'' or ''bgbb''; btyd_evaluate compares the first two on a holdout.';
    END IF;
    per_month := CASE customer_segment.check_period(unit, 'unit') WHEN 'day' THEN 30 WHEN 'week' THEN 4.345 ELSE 1 END;
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT %1$s::text AS customer_id, (customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $2)).*
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), hb AS MATERIALIZED (    -- BG/BB: histories of calendar periods of unit
            SELECT h.customer_id, h.frequency::float8 AS frequency, h.recency::float8 AS recency, h.n_periods::float8 AS n_periods
              FROM customer_segment.bgbb_summary($10, $11, $12, $13, $1, $2, $14) h WHERE $9 = 'bgbb'
        ), models AS (
            SELECT customer_segment.bgnbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'bgnbd') AS bg,
                   customer_segment.pareto_nbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'pareto_nbd') AS pn,
                   customer_segment.mbgnbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'mbgnbd') AS mb,
                   (SELECT customer_segment.bgbb_fit(hb.frequency, hb.recency, hb.n_periods) FROM hb WHERE $9 = 'bgbb') AS bb,
                   customer_segment.gamma_gamma_fit(s.frequency, s.monetary_value, $8)
                       FILTER (WHERE s.frequency = 0 OR s.monetary_value > 0) AS gg
              FROM s WHERE s.orders > 0
        )
        SELECT s.customer_id, coalesce(hb.frequency::bigint, s.frequency), coalesce(hb.recency, s.recency),
               coalesce(hb.n_periods, s.t), s.monetary_value,
               p.p_alive, p.expected_purchases, p.expected_spend, p.clv
          FROM s CROSS JOIN models m LEFT JOIN hb USING (customer_id)
               LEFT JOIN LATERAL (
                   SELECT * FROM customer_segment.btyd_predict(m.bg, m.pn, m.gg, s.frequency, s.recency, s.t,
                                                               s.monetary_value, $3, $5, $6, $7, $4) WHERE $9 IN ('bgnbd', 'pareto_nbd')
                   UNION ALL
                   SELECT * FROM customer_segment.btyd_predict_mbgnbd(m.mb, m.gg, s.frequency, s.recency, s.t,
                                                                      s.monetary_value, $3, $5, $6, $7, $4) WHERE $9 = 'mbgnbd'
                   UNION ALL   -- BG/BB: one period of unit is one opportunity; no history (a first purchase in the last, incomplete period): NULLs
                   SELECT * FROM customer_segment.btyd_predict_bgbb(m.bb, m.gg, hb.frequency, hb.recency, hb.n_periods,
                                                                    s.frequency, s.monetary_value, $3, $5, $6, $7, $4)
                    WHERE $9 = 'bgbb' AND hb.customer_id IS NOT NULL) p ON true
         WHERE s.orders > 0
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING calibration_end, unit, horizon, margin, months, monthly_discount, per_month, penalizer, model,
          source, customer_column, time_column, amount_column, zone;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text, text) IS
    'Summarises orders up to calibration_end (day purchases, a timestamptz on its date in zone or the session''s TimeZone when NULL, reported in unit), '
    'fits BG/NBD (or Pareto/NBD, MBG/NBD, or BG/BB on calendar periods of unit: model) and Gamma-Gamma, and returns per customer P(alive), expected purchases in horizon units, expected spend and discounted CLV '
    '(btyd_predict: spend and CLV NULL when the Gamma-Gamma q <= 1)';

-- A self-contained HTML report of a source: inline SVG charts, no scripts, no external assets.  The three
-- chart functions are plain SQL over arrays so a user can draw their own rows with them too.

CREATE FUNCTION customer_segment.html_escape(value text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;
COMMENT ON FUNCTION customer_segment.html_escape(text) IS 'Text with & < > " and '' replaced by HTML entities (safe in element text and quoted attributes)';

-- A number as chart labels show it: thousands separated, `decimals` decimals (NULL: none for a whole number, else 2).
CREATE FUNCTION customer_segment.svg_number(value float8, decimals integer DEFAULT 0)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN value IS NULL OR NOT abs(value) < 'Infinity' THEN '' ELSE
           to_char(round(value::numeric, d), 'FM999,999,999,999,990' || CASE WHEN d > 0 THEN '.' || repeat('0', d) ELSE '' END) END
      FROM (SELECT coalesce(decimals, CASE WHEN value = trunc(value) THEN 0 ELSE 2 END) AS d) x
$$;
COMMENT ON FUNCTION customer_segment.svg_number(float8, integer) IS 'A number for a chart label: thousands separators, rounded to decimals (NULL: 0 for a whole number, else 2); empty for NULL, NaN and infinities';

-- Charts draw finite numbers only: NaN and infinities become NULL (not drawn).
CREATE FUNCTION customer_segment.svg_finite(vals float8[])
RETURNS float8[] LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT array_agg(CASE WHEN abs(v) < 'Infinity' THEN v END ORDER BY i) FROM unnest(vals) WITH ORDINALITY u(v, i)
$$;
COMMENT ON FUNCTION customer_segment.svg_finite(float8[]) IS 'The array with NaN and infinities replaced by NULL';

-- The fill of a heat-map cell: white-blue ramp by share (0..1) of the largest value; light grey for none.
CREATE FUNCTION customer_segment.svg_heat_colour(share float8)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN share IS NULL OR share = 'NaN' THEN '#eeeeee' ELSE
           format('#%s%s%s', lpad(to_hex(round(247 - 239 * s)::int), 2, '0'), lpad(to_hex(round(251 - 170 * s)::int), 2, '0'),
                  lpad(to_hex(round(255 - 99 * s)::int), 2, '0')) END
      FROM (SELECT least(1, greatest(0, share)) AS s) x
$$;
COMMENT ON FUNCTION customer_segment.svg_heat_colour(float8) IS 'Heat-map fill for a share 0..1 (#f7fbff to #08519c); #eeeeee for NULL';

CREATE FUNCTION customer_segment.svg_bar_chart(labels text[], vals float8[], notes text[] DEFAULT NULL)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    WITH rows AS (
        SELECT u.label, u.value, u.note, u.i, max(greatest(u.value, 0)) OVER () AS top
          FROM unnest(labels, customer_segment.svg_finite(vals), coalesce(notes, '{}'::text[])) WITH ORDINALITY AS u(label, value, note, i)
         WHERE u.i <= cardinality(labels)
    ), rows_len AS (
        SELECT x.*, coalesce(round(360 * greatest(x.value, 0) / nullif(x.top, 0))::int, 0) AS len FROM rows x
    )
    SELECT format('<svg class="chart bars" width="900" height="%s" viewBox="0 0 900 %1$s" role="img">', 24 * count(*) + 8)
           || coalesce(string_agg(format('<text x="194" y="%1$s" text-anchor="end">%2$s</text><rect x="200" y="%3$s" width="%4$s" height="16" fill="#4e79a7"><title>%5$s</title></rect><text x="%6$s" y="%1$s">%5$s</text>',
                                         24 * r.i - 6, customer_segment.html_escape(coalesce(r.label, '(none)')), 24 * r.i - 19, r.len,
                                         customer_segment.html_escape(coalesce(r.note, customer_segment.svg_number(r.value, NULL))), 206 + r.len),
                                  '' ORDER BY r.i), '')
           || '</svg>'
      FROM rows_len r
$$;
COMMENT ON FUNCTION customer_segment.svg_bar_chart(text[], float8[], text[]) IS
    'Inline SVG of horizontal bars: one per label, length proportional to the value (negative and NULL values draw none), the note (default: the value) after it';

CREATE FUNCTION customer_segment.svg_heat_map(row_labels text[], column_labels text[], cells float8[],
    cell_notes text[] DEFAULT NULL, row_title text DEFAULT '', column_title text DEFAULT '', cell_width integer DEFAULT 48)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    WITH finite AS MATERIALIZED (   -- once, not per cell
        SELECT customer_segment.svg_finite(cells) AS cells
    ), grid AS (
        SELECT r.label AS row_label, r.i, c.label AS column_label, c.j,
               f.cells[(r.i - 1) * cardinality(column_labels) + c.j] AS value,
               cell_notes[(r.i - 1) * cardinality(column_labels) + c.j] AS note
          FROM finite f, unnest(row_labels) WITH ORDINALITY r(label, i), unnest(column_labels) WITH ORDINALITY c(label, j)
    ), scaled AS (
        SELECT g.*, g.value / nullif(max(abs(g.value)) OVER (), 0) AS share FROM grid g
    )
    SELECT format('<svg class="chart heat" width="%s" height="%s" viewBox="0 0 %1$s %2$s" role="img">',
                  110 + cell_width * greatest(cardinality(column_labels), 1), 44 + 22 * greatest(cardinality(row_labels), 1))
           || format('<text x="%s" y="12" text-anchor="middle" class="axis">%s</text>', 110 + cell_width * cardinality(column_labels) / 2,
                     customer_segment.html_escape(column_title))
           || format('<text x="4" y="30" class="axis">%s</text>', customer_segment.html_escape(row_title))
           || (SELECT coalesce(string_agg(format('<text x="%s" y="34" text-anchor="middle">%s</text>', 110 + cell_width * (c.j - 1) + cell_width / 2,
                                                 customer_segment.html_escape(c.label)), '' ORDER BY c.j), '')
                 FROM unnest(column_labels) WITH ORDINALITY c(label, j))
           || (SELECT coalesce(string_agg(format('<text x="104" y="%s" text-anchor="end">%s</text>', 40 + 22 * r.i - 7,
                                                 customer_segment.html_escape(r.label)), '' ORDER BY r.i), '')
                 FROM unnest(row_labels) WITH ORDINALITY r(label, i))
           || coalesce(string_agg(format('<rect x="%s" y="%s" width="%s" height="21" fill="%s"><title>%s, %s: %s</title></rect>%s',
                                         110 + cell_width * (s.j - 1), 40 + 22 * (s.i - 1), cell_width - 1,
                                         customer_segment.svg_heat_colour(s.share), customer_segment.html_escape(s.row_label),
                                         customer_segment.html_escape(s.column_label),
                                         customer_segment.html_escape(coalesce(s.note, nullif(customer_segment.svg_number(s.value, NULL), ''), 'none')),
                                         CASE WHEN s.value IS NOT NULL THEN
                                             format('<text x="%s" y="%s" text-anchor="middle" fill="%s" class="cell">%s</text>',
                                                    110 + cell_width * (s.j - 1) + cell_width / 2, 40 + 22 * s.i - 7,
                                                    CASE WHEN s.share > 0.55 THEN '#ffffff' ELSE '#222222' END,
                                                    customer_segment.html_escape(coalesce(s.note, customer_segment.svg_number(s.value, NULL)))) ELSE '' END),
                                  '' ORDER BY s.i, s.j), '')
           || '</svg>'
      FROM scaled s
$$;
COMMENT ON FUNCTION customer_segment.svg_heat_map(text[], text[], float8[], text[], text, text, integer) IS
    'Inline SVG heat map: cells[(i - 1) * columns + j] is row i, column j (row-major), shaded by its share of the largest |value| '
    '(grey when NULL) and labelled with its note (default: the value)';

CREATE FUNCTION customer_segment.svg_line_chart(x float8[], series text[], y float8[], marker_x float8 DEFAULT NULL,
    x_title text DEFAULT '', y_title text DEFAULT '', marker_label text DEFAULT '')
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    WITH finite AS MATERIALIZED (   -- once, not per point
        SELECT customer_segment.svg_finite(svg_line_chart.y) AS y
    ), pts AS (
        SELECT s.name, s.k, p.x, f.y[(s.k - 1) * cardinality(svg_line_chart.x) + p.i] AS y
          FROM finite f, unnest(series) WITH ORDINALITY s(name, k), unnest(customer_segment.svg_finite(svg_line_chart.x)) WITH ORDINALITY p(x, i)
    ), box AS (
        SELECT min(p.x) AS x0, max(p.x) AS x1, least(0, min(p.y)) AS y0, greatest(max(p.y), 0) AS y1 FROM pts p
    ), scale AS (
        SELECT b.x0, b.x1, b.y0, b.y1 + (b.y1 = b.y0)::int AS y1, nullif(b.x1 - b.x0, 0) AS dx FROM box b
    ), lines AS (
        SELECT p.k, p.name, string_agg(format('%s,%s', round((60 + 520 * coalesce((p.x - sc.x0) / sc.dx, 0.5))::numeric, 1),
                                              round((290 - 270 * (p.y - sc.y0) / (sc.y1 - sc.y0))::numeric, 1)), ' ' ORDER BY p.x) AS points
          FROM pts p, scale sc WHERE p.y IS NOT NULL AND p.x IS NOT NULL GROUP BY p.k, p.name
    ), palette(colours) AS (VALUES (ARRAY['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1']))
    SELECT '<svg class="chart lines" width="760" height="330" viewBox="0 0 760 330" role="img">'
           || '<line x1="60" y1="290" x2="580" y2="290" stroke="#888"/><line x1="60" y1="20" x2="60" y2="290" stroke="#888"/>'
           || (SELECT string_agg(format('<text x="54" y="%s" text-anchor="end">%s</text><line x1="60" y1="%s" x2="580" y2="%3$s" stroke="#e4e4e4"/>',
                                        round(290 - 270 * t / 4.0 + 4), customer_segment.svg_number(sc.y0 + (sc.y1 - sc.y0) * t / 4.0,
                                        CASE WHEN sc.y1 - sc.y0 < 4 THEN 2 ELSE 0 END), round(290 - 270 * t / 4.0)), '' ORDER BY t)
                 FROM generate_series(0, 4) t)
           || (SELECT string_agg(format('<text x="%s" y="306" text-anchor="middle">%s</text>', round(60 + 520 * t / 5.0),
                                        customer_segment.svg_number(sc.x0 + coalesce(sc.dx, 0) * t / 5.0, CASE WHEN coalesce(sc.dx, 0) < 5 THEN 1 ELSE 0 END)), '' ORDER BY t)
                 FROM generate_series(0, 5) t)
           || format('<text x="320" y="324" text-anchor="middle" class="axis">%s</text><text x="60" y="12" class="axis">%s</text>',
                     customer_segment.html_escape(x_title), customer_segment.html_escape(y_title))
           || CASE WHEN marker_x IS NOT NULL AND sc.dx IS NOT NULL AND marker_x BETWEEN sc.x0 AND sc.x1 THEN
                  format('<line x1="%s" y1="20" x2="%1$s" y2="290" stroke="#666" stroke-dasharray="4 3"/><text x="%s" y="30">%s</text>',
                         round((60 + 520 * (marker_x - sc.x0) / sc.dx)::numeric, 1), round((64 + 520 * (marker_x - sc.x0) / sc.dx)::numeric, 1),
                         customer_segment.html_escape(marker_label)) ELSE '' END
           || coalesce((SELECT string_agg(format('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>'
                                                 '<rect x="596" y="%4$s" width="14" height="4" fill="%1$s"/><text x="616" y="%5$s">%3$s</text>',
                                                 pl.colours[1 + (l.k - 1) % 6], l.points, customer_segment.html_escape(l.name),
                                                 24 + 20 * l.k - 6, 24 + 20 * l.k), '' ORDER BY l.k)
                          FROM lines l, palette pl), '')
           || '</svg>'
      FROM scale sc
$$;
COMMENT ON FUNCTION customer_segment.svg_line_chart(float8[], text[], float8[], float8, text, text, text) IS
    'Inline SVG line chart: series k has the points (x[i], y[(k - 1) * cardinality(x) + i]) (series-major; NULL and NaN skipped), '
    'axes from 0 or the least value, a legend, and a dashed vertical marker at marker_x';

-- The report: what `report` prints, drawn, plus the cohort retention heat map and, unless holdout_weeks is 0,
-- both purchase models fitted on the orders up to holdout_weeks before the views' as_of and checked against the
-- weeks after it (btyd_evaluate, btyd_tracking, btyd_conditional_expectations).
CREATE FUNCTION customer_segment.report_html(source text, holdout_weeks integer DEFAULT 26)
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
            body := body || customer_segment.report_html_models(src, calibration_end, as_of);
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

-- The model part of report_html: BG/NBD and Pareto/NBD fitted on the orders to calibration_end, against
-- the purchases up to observation_end.
CREATE FUNCTION customer_segment.report_html_models(src customer_segment.sources, calibration_end date, observation_end date)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    metrics text;
    tracking text;
    conditional text;
BEGIN
    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>',
                             CASE e.model WHEN 'bgnbd' THEN 'BG/NBD' WHEN 'mbgnbd' THEN 'MBG/NBD' ELSE 'Pareto/NBD' END, customer_segment.svg_number(e.customers),
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
    RETURN format('<h2>Purchase models</h2><p>BG/NBD, MBG/NBD and Pareto/NBD fitted on the orders to %s, forecasting the purchase '
                  'days of the same customers from then to %s (the holdout); the charts show BG/NBD and Pareto/NBD.</p>',
                  calibration_end, observation_end)
        || '<table class="metrics"><tr><th>model</th><th>customers</th><th>actual</th><th>predicted</th><th>total error</th>'
        || '<th>MAE</th><th>RMSE</th><th>holdout log-likelihood</th><th>converged</th></tr>' || coalesce(metrics, '') || '</table>'
        || '<h3>Tracking: cumulative repeat purchase days, actual and expected</h3>' || coalesce(tracking, '')
        || '<h3>Conditional expectations: holdout purchases by calibration frequency</h3>' || coalesce(conditional, '');
END
$$;
COMMENT ON FUNCTION customer_segment.report_html_models(customer_segment.sources, date, date) IS
    'The purchase-model section of report_html: holdout metrics table, tracking and conditional-expectation charts';

-- Intervals from the parameter uncertainty (delta method).  One quantity of a customer as a function of the
-- purchase model's parameters p (r, alpha, a, b or r, alpha, s, beta) and, for CLV, the Gamma-Gamma ones g
-- (p, q, gamma): what btyd_interval differentiates.
CREATE FUNCTION customer_segment.btyd_quantity(quantity text, p float8[], g float8[], horizon float8, frequency float8,
    recency float8, t float8, monetary_value float8, months integer, monthly_discount float8, periods_per_month float8,
    margin float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE quantity
        WHEN 'bgnbd_expected' THEN customer_segment.bgnbd_expected_purchases(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), horizon, frequency, recency, t)
        WHEN 'pareto_nbd_expected' THEN customer_segment.pareto_nbd_expected_purchases(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), horizon, frequency, recency, t)
        WHEN 'bgnbd_clv' THEN customer_segment.bgnbd_clv(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), frequency, recency, t,
            customer_segment.gamma_gamma_expected_spend(ROW(g[1], g[2], g[3], NULL, NULL, NULL, NULL, NULL), frequency, monetary_value),
            months, monthly_discount, periods_per_month, margin)
        WHEN 'pareto_nbd_clv' THEN customer_segment.pareto_nbd_clv(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), frequency, recency, t,
            customer_segment.gamma_gamma_expected_spend(ROW(g[1], g[2], g[3], NULL, NULL, NULL, NULL, NULL), frequency, monetary_value),
            months, monthly_discount, periods_per_month, margin)
    END
$$;
COMMENT ON FUNCTION customer_segment.btyd_quantity(text, float8[], float8[], float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'bgnbd_expected, pareto_nbd_expected, bgnbd_clv or pareto_nbd_clv (Gamma-Gamma spend) of one customer at the parameters p (and g): what btyd_interval differentiates';

-- The estimate at the fitted parameters, the gradient by central differences (step 1e-6 of each parameter),
-- variance g' C g summed over the purchase model and, for CLV, the spend model (two separate fits: their
-- estimates are taken as uncorrelated), and estimate +- 1.96 sd floored at 0.  NULL without a covariance.
CREATE FUNCTION customer_segment.btyd_interval(quantity text, p float8[], p_covariance float8[], g float8[],
    g_covariance float8[], horizon float8, frequency float8, recency float8, t float8, monetary_value float8,
    months integer, monthly_discount float8, periods_per_month float8, margin float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    params float8[];
    cov float8[];
    grad float8[];
    up float8[];
    down float8[];
    h float8;
    v float8 := 0;
BEGIN
    IF p IS NULL OR p_covariance IS NULL OR array_position(p, NULL) IS NOT NULL
       OR (quantity LIKE '%clv' AND (g IS NULL OR g_covariance IS NULL OR array_position(g, NULL) IS NOT NULL)) THEN
        RETURN;   -- no model or no covariance (the fit's information was not positive definite)
    END IF;
    estimate := customer_segment.btyd_quantity(quantity, p, g, horizon, frequency, recency, t, monetary_value,
                                               months, monthly_discount, periods_per_month, margin);
    -- the purchase model's parameters (set 1), then for CLV the spend model's (set 2)
    FOR k IN 1..CASE WHEN quantity LIKE '%clv' THEN 2 ELSE 1 END LOOP
        params := CASE k WHEN 1 THEN p ELSE g END;
        cov := CASE k WHEN 1 THEN p_covariance ELSE g_covariance END;
        grad := '{}';
        FOR i IN 1..cardinality(params) LOOP
            h := 1e-6 * params[i];
            up := params;
            down := params;
            up[i] := params[i] + h;
            down[i] := params[i] - h;
            grad[i] := (customer_segment.btyd_quantity(quantity, CASE k WHEN 1 THEN up ELSE p END, CASE k WHEN 2 THEN up ELSE g END,
                            horizon, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)
                      - customer_segment.btyd_quantity(quantity, CASE k WHEN 1 THEN down ELSE p END, CASE k WHEN 2 THEN down ELSE g END,
                            horizon, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)) / (2 * h);
        END LOOP;
        FOR i IN 1..cardinality(params) LOOP
            FOR j IN 1..cardinality(params) LOOP
                v := v + grad[i] * cov[i][j] * grad[j];
            END LOOP;
        END LOOP;
    END LOOP;
    lower_95 := greatest(estimate - 1.959963984540054 * sqrt(greatest(v, 0)), 0);
    upper_95 := estimate + 1.959963984540054 * sqrt(greatest(v, 0));
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_interval(text, float8[], float8[], float8[], float8[], float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Delta-method 95% interval of a btyd_quantity: central-difference gradient, variance over the purchase model''s covariance '
    'plus, for CLV, the spend model''s (fits taken as uncorrelated), estimate +- 1.96 sd floored at 0';

-- A customer's expected purchases and CLV with 95% intervals from the parameter uncertainty.
CREATE OR REPLACE FUNCTION customer_segment.bgnbd_expected_purchases_interval(model customer_segment.bgnbd_model,
    uncertainty customer_segment.btyd_uncertainty, horizon float8, frequency float8, recency float8, t float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('bgnbd_expected', ARRAY[model.r, model.alpha, model.a, model.b],
        uncertainty.covariance, NULL, NULL, horizon, frequency, recency, t, NULL, NULL, NULL, NULL, NULL)
$$;
COMMENT ON FUNCTION customer_segment.bgnbd_expected_purchases_interval(customer_segment.bgnbd_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8) IS
    'bgnbd_expected_purchases with a 95% interval from the parameter uncertainty of bgnbd_fit_uncertainty (delta method, floored at 0)';

CREATE FUNCTION customer_segment.pareto_nbd_expected_purchases_interval(model customer_segment.pareto_nbd_model,
    uncertainty customer_segment.btyd_uncertainty, horizon float8, frequency float8, recency float8, t float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('pareto_nbd_expected', ARRAY[model.r, model.alpha, model.s, model.beta],
        uncertainty.covariance, NULL, NULL, horizon, frequency, recency, t, NULL, NULL, NULL, NULL, NULL)
$$;
COMMENT ON FUNCTION customer_segment.pareto_nbd_expected_purchases_interval(customer_segment.pareto_nbd_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8) IS
    'pareto_nbd_expected_purchases with a 95% interval from the parameter uncertainty of pareto_nbd_fit_uncertainty (delta method, floored at 0)';

CREATE FUNCTION customer_segment.bgnbd_clv_interval(model customer_segment.bgnbd_model,
    uncertainty customer_segment.btyd_uncertainty, spend_model customer_segment.gamma_gamma_model,
    spend_uncertainty customer_segment.btyd_uncertainty, frequency float8, recency float8, t float8,
    monetary_value float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('bgnbd_clv', ARRAY[model.r, model.alpha, model.a, model.b],
        uncertainty.covariance, ARRAY[spend_model.p, spend_model.q, spend_model.gamma], spend_uncertainty.covariance,
        NULL, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)
$$;
COMMENT ON FUNCTION customer_segment.bgnbd_clv_interval(customer_segment.bgnbd_model, customer_segment.btyd_uncertainty, customer_segment.gamma_gamma_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'bgnbd_clv with Gamma-Gamma expected spend, and a 95% interval from the uncertainty of both fits (delta method, fits taken as uncorrelated, floored at 0)';

CREATE FUNCTION customer_segment.pareto_nbd_clv_interval(model customer_segment.pareto_nbd_model,
    uncertainty customer_segment.btyd_uncertainty, spend_model customer_segment.gamma_gamma_model,
    spend_uncertainty customer_segment.btyd_uncertainty, frequency float8, recency float8, t float8,
    monetary_value float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('pareto_nbd_clv', ARRAY[model.r, model.alpha, model.s, model.beta],
        uncertainty.covariance, ARRAY[spend_model.p, spend_model.q, spend_model.gamma], spend_uncertainty.covariance,
        NULL, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)
$$;
COMMENT ON FUNCTION customer_segment.pareto_nbd_clv_interval(customer_segment.pareto_nbd_model, customer_segment.btyd_uncertainty, customer_segment.gamma_gamma_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'pareto_nbd_clv with Gamma-Gamma expected spend, and a 95% interval from the uncertainty of both fits (delta method, fits taken as uncorrelated, floored at 0)';

-- MBG/NBD (Batislam, Denizel & Filiztekin 2007): the BG/NBD in which a customer may also drop out right after
-- the first purchase, so one with x repeat purchases has had x + 1 dropout chances (doc/btyd.md).  The same
-- inputs, state and fitting as bgnbd_fit; the model type has the same fields.  mbgnbd_fit_uncertainty is with
-- the other uncertainty aggregates (72_btyd_evaluation.sql).

CREATE TYPE customer_segment.mbgnbd_model AS (
    r float8, alpha float8, a float8, b float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.mbgnbd_model IS
    'Fitted MBG/NBD model: purchase rate ~ Gamma(r, alpha), dropout probability at the first purchase and after each repeat purchase ~ Beta(a, b); '
    'alpha in the time unit of recency and T';
CREATE FUNCTION customer_segment.mbgnbd_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.mbgnbd_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
SELECT customer_segment.install_aggregate('mbgnbd_fit',
    ARRAY['frequency float8, recency float8, t float8', 'frequency float8, recency float8, t float8, penalizer float8'],
    'bgnbd_fit_trans', 'bgnbd_fit_trans', 'mbgnbd_fit_final', 'btyd_fit_combine', NULL, NULL, 'IMMUTABLE',
    'Maximum-likelihood MBG/NBD fit over per-customer (frequency, recency, T), optionally with an L2 penalty penalizer * sum(params^2); state holds weighted distinct triples',
    'btyd_fit_state');

CREATE FUNCTION customer_segment.mbgnbd_p_alive(model customer_segment.mbgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_p_alive(customer_segment.mbgnbd_model, float8, float8, float8) IS
    'MBG/NBD probability the customer is still alive: 1 / (1 + a / (b + x) ((alpha + T) / (alpha + t_x))^(r + x)), below 1 also at x = 0';
CREATE FUNCTION customer_segment.mbgnbd_expected_purchases(model customer_segment.mbgnbd_model, horizon float8,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_expected_purchases(customer_segment.mbgnbd_model, float8, float8, float8, float8) IS
    'MBG/NBD expected purchases in the next horizon units given (frequency, recency, T): '
    '(a + b + x) / (a - 1) (1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x + 1; a + b + x; t / (alpha + T + t))) P(alive)';
CREATE FUNCTION customer_segment.mbgnbd_expected_purchases_new(model customer_segment.mbgnbd_model, horizon float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_expected_purchases_new(customer_segment.mbgnbd_model, float8) IS
    'MBG/NBD expected repeat purchases in horizon units of a newly acquired customer: b / (a - 1) (1 - (alpha / (alpha + t))^r 2F1(r, b + 1; a + b; t / (alpha + t)))';
CREATE FUNCTION customer_segment.mbgnbd_probability_purchases(model customer_segment.mbgnbd_model, horizon float8, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_probability_purchases(customer_segment.mbgnbd_model, float8, bigint) IS
    'MBG/NBD P(X(horizon) = n) for a newly acquired customer (who may drop out right after the first purchase)';
CREATE FUNCTION customer_segment.mbgnbd_probability_purchases(model customer_segment.mbgnbd_model, horizon float8, n bigint,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_probability_purchases(customer_segment.mbgnbd_model, float8, bigint, float8, float8, float8) IS
    'MBG/NBD P(n purchases in the next horizon units | frequency, recency, T) = [n = 0] (1 - P(alive)) + P(alive) * BG/NBD P_new(n) under the posterior (r + x, alpha + T, a, b + x + 1)';
CREATE FUNCTION customer_segment.mbgnbd_loglik(model customer_segment.mbgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_loglik(customer_segment.mbgnbd_model, float8, float8, float8) IS
    'Log-likelihood of one customer under the MBG/NBD model';
CREATE FUNCTION customer_segment.mbgnbd_clv(model customer_segment.mbgnbd_model, frequency float8, recency float8, t float8,
    spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_clv(customer_segment.mbgnbd_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months under MBG/NBD: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month';

-- btyd_predict for an MBG/NBD model: the same columns, the spend from btyd_predict's Gamma-Gamma rule.
CREATE FUNCTION customer_segment.btyd_predict_mbgnbd(mb customer_segment.mbgnbd_model, gg customer_segment.gamma_gamma_model,
    frequency float8, recency float8, t float8, monetary_value float8, horizon float8, months integer DEFAULT 12,
    monthly_discount float8 DEFAULT 0.01, periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS TABLE (p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT customer_segment.mbgnbd_p_alive(mb, frequency, recency, t),
           customer_segment.mbgnbd_expected_purchases(mb, horizon, frequency, recency, t),
           p.expected_spend,
           customer_segment.mbgnbd_clv(mb, frequency, recency, t, p.expected_spend, months, monthly_discount, periods_per_month, margin)
      FROM customer_segment.btyd_predict(NULL, NULL, gg, frequency, recency, t, monetary_value, horizon, months,
                                         monthly_discount, periods_per_month, margin) p;
END;
COMMENT ON FUNCTION customer_segment.btyd_predict_mbgnbd(customer_segment.mbgnbd_model, customer_segment.gamma_gamma_model, float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'P(alive), expected purchases in horizon, expected spend (Gamma-Gamma, as btyd_predict) and CLV of one customer from an MBG/NBD model; NULLs for NULL models';

CREATE FUNCTION customer_segment.mbgnbd_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
SELECT customer_segment.install_aggregate('mbgnbd_fit_uncertainty',
    ARRAY['frequency float8, recency float8, t float8', 'frequency float8, recency float8, t float8, penalizer float8'],
    'bgnbd_fit_trans', 'bgnbd_fit_trans', 'mbgnbd_uncertainty_final', 'btyd_fit_combine', NULL, NULL, 'IMMUTABLE',
    'mbgnbd_fit with standard errors and 95% intervals of r, alpha, a, b from the observed information at the maximum',
    'btyd_fit_state');

-- BG/BB (Fader, Hardie & Shang 2010): customers with discrete transaction opportunities (annual donations,
-- events, seasons).  A history is (frequency, recency, n_periods): x transactions in the n opportunities after
-- the first transaction, the last in opportunity t_x (0 when x = 0).  doc/btyd.md, "BG/BB".

CREATE TYPE customer_segment.bgbb_model AS (
    alpha float8, beta float8, gamma float8, delta float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.bgbb_model IS
    'Fitted BG/BB model: transaction probability per opportunity ~ Beta(alpha, beta), dropout probability per opportunity ~ Beta(gamma, delta)';
CREATE FUNCTION customer_segment.bgbb_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.bgbb_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgbb_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
SELECT customer_segment.install_aggregate(v.agg, ARRAY['frequency float8, recency float8, n_periods float8',
                                                       'frequency float8, recency float8, n_periods float8, weight float8'],
                                          'bgbb_fit_trans', 'bgbb_fit_trans', v.final, 'btyd_fit_combine',
                                          NULL, NULL, 'IMMUTABLE', v.comment, 'btyd_fit_state')
  FROM (VALUES
    ('bgbb_fit', 'bgbb_fit_final',
     'Maximum-likelihood BG/BB fit over (frequency, recency, n_periods) histories, each counted weight times (default 1); '
     'state holds weighted distinct histories'),
    ('bgbb_fit_uncertainty', 'bgbb_uncertainty_final',
     'bgbb_fit with standard errors and 95% intervals of alpha, beta, gamma, delta from the observed information at the maximum')
  ) v(agg, final, comment);

CREATE FUNCTION customer_segment.bgbb_p_alive(model customer_segment.bgbb_model, frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_p_alive(customer_segment.bgbb_model, float8, float8, float8) IS
    'BG/BB probability the customer is alive in opportunity n + 1: B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n+1)/B(gamma, delta) / L(x, t_x, n)';
CREATE FUNCTION customer_segment.bgbb_expected_purchases(model customer_segment.bgbb_model, periods float8,
    frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_expected_purchases(customer_segment.bgbb_model, float8, float8, float8, float8) IS
    'BG/BB expected transactions in the next periods opportunities given (x, t_x, n): '
    'B(alpha+x+1, beta+n-x)/B(alpha, beta) / L * sum_{k=1..periods} B(gamma, delta+n+k)/B(gamma, delta)';
CREATE FUNCTION customer_segment.bgbb_expected_purchases_new(model customer_segment.bgbb_model, periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_expected_purchases_new(customer_segment.bgbb_model, float8) IS
    'BG/BB expected transactions of a new customer in its first periods opportunities: alpha / (alpha + beta) sum_{k=1..periods} B(gamma, delta+k)/B(gamma, delta)';
CREATE FUNCTION customer_segment.bgbb_probability_purchases(model customer_segment.bgbb_model, n_periods bigint, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_probability_purchases(customer_segment.bgbb_model, bigint, bigint) IS
    'BG/BB P(X(n_periods) = n): probability a new customer transacts in exactly n of its first n_periods opportunities (FHS 2010 eq. 7)';
CREATE FUNCTION customer_segment.bgbb_probability_purchases(model customer_segment.bgbb_model, periods bigint, n bigint,
    frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_probability_purchases(customer_segment.bgbb_model, bigint, bigint, float8, float8, float8) IS
    'BG/BB P(n transactions in the next periods opportunities | frequency, recency, n_periods): gone before n + 1 (n = 0), '
    'gone at the start of a later opportunity, or alive through n + periods, each with its Beta-Binomial count';
CREATE FUNCTION customer_segment.bgbb_dert(model customer_segment.bgbb_model, discount float8, frequency float8,
    recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_dert_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_dert(customer_segment.bgbb_model, float8, float8, float8, float8) IS
    'BG/BB discounted expected residual transactions at discount per opportunity (> 0), the k-th future one discounted by (1 + discount)^-k (FHS 2010 eq. 14)';
CREATE FUNCTION customer_segment.bgbb_loglik(model customer_segment.bgbb_model, frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_loglik(customer_segment.bgbb_model, float8, float8, float8) IS
    'Log-likelihood of one history under the BG/BB model';

CREATE FUNCTION customer_segment.bgbb_clv(model customer_segment.bgbb_model, frequency float8, recency float8,
    n_periods float8, spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 1, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_clv(customer_segment.bgbb_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months under BG/BB: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month opportunities a month (1 for monthly, 4.345 for weekly, 1/12 for yearly)';

-- btyd_predict for a BG/BB model: P(alive), expected transactions (periods with a purchase) in horizon periods,
-- the Gamma-Gamma spend of btyd_predict from the customer's repeat purchase days and their mean spend, CLV.
CREATE FUNCTION customer_segment.btyd_predict_bgbb(bb customer_segment.bgbb_model, gg customer_segment.gamma_gamma_model,
    frequency float8, recency float8, n_periods float8, spend_frequency float8, monetary_value float8, horizon float8,
    months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01, periods_per_month float8 DEFAULT 1, margin float8 DEFAULT 1)
RETURNS TABLE (p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT customer_segment.bgbb_p_alive(bb, frequency, recency, n_periods),
           customer_segment.bgbb_expected_purchases(bb, horizon, frequency, recency, n_periods),
           p.expected_spend,
           customer_segment.bgbb_clv(bb, frequency, recency, n_periods, p.expected_spend, months, monthly_discount, periods_per_month, margin)
      FROM customer_segment.btyd_predict(NULL, NULL, gg, spend_frequency, 0, 0, monetary_value, horizon, months,
                                         monthly_discount, periods_per_month, margin) p;
END;
COMMENT ON FUNCTION customer_segment.btyd_predict_bgbb(customer_segment.bgbb_model, customer_segment.gamma_gamma_model, float8, float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'P(alive), expected transactions in horizon periods, expected spend (Gamma-Gamma of the repeat purchase days, as btyd_predict) and CLV of one customer from a BG/BB model; NULLs for NULL models';

-- Orders to BG/BB histories: a customer's opportunities are the calendar periods (year, quarter, month, week,
-- day) after the one of its first purchase, through the last period that ends by observation_end; a period
-- with a purchase (an order of amount >= 0) counts once.
-- The consecutive number of the calendar period of a date expression, as SQL to put in a query (plain
-- integer arithmetic: a function called per order row would cost more than the rest of the query).
CREATE FUNCTION customer_segment.period_number_sql(day_expr text, period text)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    RETURN CASE period
        WHEN 'year' THEN format('extract(year FROM %s)::bigint', day_expr)
        WHEN 'quarter' THEN format('(extract(year FROM %1$s)::bigint * 4 + extract(quarter FROM %1$s)::bigint - 1)', day_expr)
        WHEN 'month' THEN format('(extract(year FROM %1$s)::bigint * 12 + extract(month FROM %1$s)::bigint - 1)', day_expr)
        -- weeks from Monday 1970-01-05, floored: shifted by a million weeks so the division never sees a negative
        WHEN 'week' THEN format('((%s - DATE ''1970-01-05'' + 7000000) / 7 - 1000000)::bigint', day_expr)
        WHEN 'day' THEN format('(%s - DATE ''1970-01-01'')::bigint', day_expr)
    END;
END
$$;
COMMENT ON FUNCTION customer_segment.period_number_sql(text, text) IS
    'SQL for the consecutive number of the calendar year, quarter, month, week (Monday to Sunday) or day of a date expression; NULL for another period';

CREATE FUNCTION customer_segment.period_number(day date, period text)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    k bigint;
BEGIN
    EXECUTE 'SELECT ' || customer_segment.period_number_sql('$1', period) INTO k USING day;
    RETURN k;
END
$$;
COMMENT ON FUNCTION customer_segment.period_number(date, text) IS
    'Consecutive number of the calendar year, quarter, month, week (Monday to Sunday) or day of a date';

CREATE FUNCTION customer_segment.bgbb_summary(source regclass, customer_column name, time_column name,
    amount_column name, observation_end date, period text DEFAULT 'year', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency bigint, recency bigint, n_periods bigint, first_period date)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    last_complete bigint;
BEGIN
    IF observation_end IS NULL OR period IS NULL THEN
        RAISE EXCEPTION 'observation_end and period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF period NOT IN ('year', 'quarter', 'month', 'week', 'day') THEN
        RAISE EXCEPTION 'unknown period "%"', period USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''year'', ''quarter'', ''month'', ''week'' or ''day''.';
    END IF;
    IF NOT isfinite(observation_end) THEN
        RAISE EXCEPTION 'observation_end must be a finite date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the period of observation_end counts only when observation_end is its last day
    last_complete := customer_segment.period_number(observation_end, period)
                     - CASE WHEN customer_segment.period_number(observation_end + 1, period)
                                 = customer_segment.period_number(observation_end, period) THEN 1 ELSE 0 END;
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH o AS (
            SELECT %1$s AS customer, (%2$s)::date AS day FROM %4$s WHERE %1$s IS NOT NULL AND %3$s >= 0
        ), p AS (
            SELECT o.customer, %5$s AS k, min(o.day) AS first_day FROM o GROUP BY 1, 2 HAVING %5$s <= $1
        ), f AS (
            SELECT p.customer, min(p.k) AS k0, min(p.first_day) AS first_day FROM p GROUP BY 1
        )
        SELECT f.customer::text, count(*) FILTER (WHERE p.k > f.k0), coalesce(max(p.k) FILTER (WHERE p.k > f.k0) - f.k0, 0),
               $1 - f.k0, date_trunc($2, f.first_day)::date
          FROM p JOIN f USING (customer)
         GROUP BY f.customer, f.k0, f.first_day
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause, customer_segment.period_number_sql('o.day', period))
    USING last_complete, period;
END
$$;
COMMENT ON FUNCTION customer_segment.bgbb_summary(regclass, name, name, name, date, text, text) IS
    'BG/BB histories of an orders table: per customer the periods (year, quarter, month, week, day) with a purchase after the first one (frequency), '
    'the number of the last of them counted from the first (recency, 0 without), and the complete periods after the first through observation_end (n_periods)';

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
      FROM per_model x GROUP BY x.model ORDER BY x.model
$$;
COMMENT ON FUNCTION customer_segment.btyd_evaluate(regclass, name, name, name, date, date, text, text) IS
    'Holdout metrics of BG/NBD, MBG/NBD and Pareto/NBD fitted on the calibration window: total purchases actual and predicted, '
    'relative total error, MAE, RMSE and bias per customer, and the holdout log-likelihood (NULL when a customer''s count has probability 0)';

-- Registered sources may predict with MBG/NBD.
ALTER TABLE customer_segment.sources DROP CONSTRAINT sources_prediction_model_check,
    ADD CONSTRAINT sources_prediction_model_check CHECK (prediction_model IN ('bgnbd', 'pareto_nbd', 'mbgnbd'));
COMMENT ON COLUMN customer_segment.sources.prediction_model IS 'Purchase model of the customers view''s predictions: bgnbd (default), pareto_nbd or mbgnbd';

CREATE OR REPLACE FUNCTION customer_segment.helper_columns()
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
    ('customers', 'p_alive', 'Probability that the customer is still active, 0..1, by the source''s prediction_model (BG/NBD, Pareto/NBD or MBG/NBD); NULL when no model could be fitted'),
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
               LATERAL customer_segment.source_rfm(src, d.as_of) a
    ), fit AS (
        -- Models only when the data can identify them; otherwise the prediction columns stay NULL.
        SELECT customer_segment.bgnbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE predict AND src.prediction_model = 'bgnbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS bg,
               customer_segment.pareto_nbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE predict AND src.prediction_model = 'pareto_nbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS pn,
               customer_segment.mbgnbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE predict AND src.prediction_model = 'mbgnbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS mb,
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
           LATERAL (SELECT * FROM customer_segment.btyd_predict(CASE WHEN a.orders > 0 THEN fit.bg END, CASE WHEN a.orders > 0 THEN fit.pn END,
                                                                CASE WHEN a.orders > 0 THEN fit.gg END,
                                                                a.frequency, a.recency, a.t, a.monetary_value, 90)
                     WHERE src.prediction_model <> 'mbgnbd'
                    UNION ALL
                    SELECT * FROM customer_segment.btyd_predict_mbgnbd(CASE WHEN a.orders > 0 THEN fit.mb END, CASE WHEN a.orders > 0 THEN fit.gg END,
                                                                       a.frequency, a.recency, a.t, a.monetary_value, 90)
                     WHERE src.prediction_model = 'mbgnbd') p;
END
$$;
COMMENT ON FUNCTION customer_segment.source_customers(text) IS
    'The rows of a source''s customers helper view, computed now: RFM analysis in the source''s time zone '
    '(from its states when it is refreshed incrementally), '
    'lifecycle stage, quadrant, tier, BG/NBD and Gamma-Gamma predictions';

CREATE OR REPLACE FUNCTION customer_segment.source_views(src customer_segment.sources)
RETURNS TABLE (view_name text, data_name text, definition text, unique_key text, comment text, helper text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || v.suffix), customer_segment.source_data(src, substr(v.suffix, 2)),
           format('SELECT * FROM customer_segment.%I(%L)', 'source' || v.suffix, src.name), v.unique_key, v.comment, substr(v.suffix, 2)
      FROM (VALUES
        (1, '_customers', 'customer_id',
         'Per customer: RFM summary, scores, cell, segment and action, lifecycle stage, value/engagement quadrant '
         '(cuts at the medians), tier on the source''s ladder (net spend to as_of), P(alive) and expected '
         'purchases in 90 days (BG/NBD, or Pareto/NBD or MBG/NBD: the source''s prediction_model), Gamma-Gamma expected spend and 12-month CLV at 1% a month (time in days), as of the last refresh'),
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

DROP FUNCTION customer_segment.install_aggregate(text, text[], text, text, text, text, text, text, text, text, text);

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

-- How the report names a purchase model of btyd_evaluate.
CREATE FUNCTION customer_segment.btyd_model_label(model text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce((SELECT m.display_name FROM customer_segment.btyd_models() m WHERE m.model = btyd_model_label.model), model);
END;
COMMENT ON FUNCTION customer_segment.btyd_model_label(text) IS 'Display name of a purchase model (btyd_models; bgnbd: BG/NBD, ...), the name itself for another';

-- The model part of report_html: BG/NBD and Pareto/NBD fitted on the orders to calibration_end, against
-- the purchases up to observation_end.
CREATE FUNCTION customer_segment.report_html_models(src customer_segment.sources, calibration_end date, observation_end date)
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

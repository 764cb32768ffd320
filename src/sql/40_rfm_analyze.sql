-- One call: summary, scores, cell and segment per customer of any orders table.

-- The checks of rfm_analyze's arguments, shared with rfm_analyze_states.
CREATE FUNCTION customer_segment.check_rfm_arguments(as_of date, bins integer, rule_set text, granularity text, unit text)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF as_of IS NULL OR bins IS NULL OR rule_set IS NULL OR granularity IS NULL OR unit IS NULL THEN
        RAISE EXCEPTION 'rfm_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF bins < 2 OR bins > 100 THEN
        RAISE EXCEPTION 'bins must be between 2 and 100' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', bins), HINT = 'RFM scores usually use 5 bins (quintiles).';
    END IF;
    PERFORM customer_segment.check_period(granularity, 'granularity');
END
$$;
COMMENT ON FUNCTION customer_segment.check_rfm_arguments(date, integer, text, text, text) IS
    'Raises 22004 for a NULL argument of rfm_analyze, 22023 for bins outside 2..100 or an unknown granularity';

-- The RFM analysis query over per-customer summaries: per_customer is SQL giving (customer_id text,
-- s customer_summary); the query takes $1 as_of, $2 granularity, $3 unit, $4 bins, $5 rule_set.
CREATE FUNCTION customer_segment.rfm_scored_sql(per_customer text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $f$
    SELECT format($q$
        WITH per_customer AS (
            %s
        ), flat AS (
            -- NOT (s IS NULL): a summary with some NULL fields (refunds only) is kept.  OFFSET 0 keeps s one
            -- value: inlined, (s).* would call a summary function (rfm_state_summary) once per field.
            SELECT p.customer_id, (p.s).* FROM (SELECT * FROM per_customer OFFSET 0) p WHERE NOT (p.s IS NULL)
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
        $q$, per_customer)
$f$;
COMMENT ON FUNCTION customer_segment.rfm_scored_sql(text) IS
    'Text of the RFM analysis query (scores, cell, segment, action) over per-customer summaries given as SQL';

-- The per-customer summaries of an orders table as SQL for rfm_scored_sql: (customer_id text, s
-- customer_summary) of the orders up to $1 as_of, at $2 granularity in $3 unit, each on its day in zone.
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

CREATE FUNCTION customer_segment.rfm_analyze(
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
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.check_rfm_arguments(as_of, bins, rule_set, granularity, unit);
    RETURN QUERY EXECUTE customer_segment.rfm_scored_sql(
        customer_segment.rfm_summaries_query(source, customer_column, time_column, amount_column, zone))
    USING as_of, granularity, unit, bins, rule_set;
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_analyze(regclass, name, name, name, date, integer, text, text, text, text) IS
    'Per customer of an orders table (a timestamptz on its date in zone; NULL: the session''s TimeZone): rfm_summary, R/F/M quantile scores (F = orders, M = net spend), cell, FM and RFM scores, segment and action';

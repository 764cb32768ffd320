-- One call: summary, scores, cell and segment per customer of any orders table.

-- Type of a column of a relation, or a clear error when there is none.
CREATE FUNCTION customer_segment.column_type(rel regclass, col name)
RETURNS regtype LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog AS $$
DECLARE
    typ regtype;
BEGIN
    SELECT a.atttypid::regtype INTO typ FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF typ IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', col, rel
            USING ERRCODE = 'undefined_column', HINT = 'Pass the column name as it is spelled in the table.';
    END IF;
    RETURN typ;
END
$$;
COMMENT ON FUNCTION customer_segment.column_type(regclass, name) IS 'Type of a column of a relation; error when the column does not exist';

CREATE FUNCTION customer_segment.rfm_analyze(
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
    time_type regtype;
    amount_type regtype;
    time_expr text;
    amount_expr text;
BEGIN
    IF source IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL
       OR as_of IS NULL OR bins IS NULL OR rule_set IS NULL OR granularity IS NULL OR unit IS NULL THEN
        RAISE EXCEPTION 'rfm_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF bins < 2 OR bins > 100 THEN
        RAISE EXCEPTION 'bins must be between 2 and 100' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', bins), HINT = 'RFM scores usually use 5 bins (quintiles).';
    END IF;
    IF granularity NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'unknown granularity "%"', granularity USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''day'', ''week'' or ''month''.';
    END IF;
    PERFORM customer_segment.column_type(source, customer_column);
    time_type := customer_segment.column_type(source, time_column);
    amount_type := customer_segment.column_type(source, amount_column);

    time_expr := CASE
        WHEN time_type IN ('date'::regtype, 'timestamptz'::regtype) THEN format('o.%I', time_column)
        WHEN time_type = 'timestamp'::regtype THEN format('o.%I::date', time_column)
    END;
    IF time_expr IS NULL THEN
        RAISE EXCEPTION 'column "%" has type %, expected date, timestamp or timestamptz', time_column, time_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    amount_expr := CASE
        WHEN amount_type IN ('numeric'::regtype, 'float8'::regtype) THEN format('o.%I', amount_column)
        WHEN amount_type IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype)
            THEN format('o.%I::numeric', amount_column)
    END;
    IF amount_expr IS NULL THEN
        RAISE EXCEPTION 'column "%" has type %, expected a number', amount_column, amount_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;

    RETURN QUERY EXECUTE format($q$
        WITH per_customer AS (
            SELECT o.%1$I::text AS customer_id,
                   customer_segment.rfm_summary(%2$s, %3$s, $1, $2, $3) AS s
              FROM %4$s o
             WHERE o.%1$I IS NOT NULL
             GROUP BY o.%1$I
        ), flat AS (
            -- NOT (s IS NULL): a summary with some NULL fields (refunds only) is kept
            SELECT p.customer_id, (p.s).* FROM per_customer p WHERE NOT (p.s IS NULL)
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
               s.r_score, s.f_score, s.m_score, g.cell, customer_segment.fm_score(s.f_score, s.m_score),
               customer_segment.rfm_weighted_score(s.r_score, s.f_score, s.m_score), g.segment, g.action
          FROM scored s
          LEFT JOIN customer_segment.rfm_segment_map($4, $5) g
            ON g.r = s.r_score AND g.f = s.f_score AND g.m = s.m_score
        $q$, customer_column, time_expr, amount_expr, source)
    USING as_of, granularity, unit, bins, rule_set;
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_analyze(regclass, name, name, name, date, integer, text, text, text) IS
    'Per customer of an orders table: rfm_summary, R/F/M quantile scores (F = orders, M = net spend), cell, FM and RFM scores, segment and action';

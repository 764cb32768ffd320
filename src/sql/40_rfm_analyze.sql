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

-- The RFM analysis of per-customer summaries in one C pass (rfm_scored.c): per_customer is SQL giving
-- (customer_id text, s customer_summary) with $1 as_of, $2 granularity, $3 unit.
CREATE FUNCTION customer_segment.rfm_scored(per_customer text, as_of date, granularity text, unit text,
    bins integer, rule_set text)
RETURNS TABLE (
    customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
    refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
    monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
    monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
    fm_score float8, rfm_score float8, segment text, action text)
AS 'MODULE_PATHNAME' LANGUAGE C STABLE SET search_path = pg_catalog;
COMMENT ON FUNCTION customer_segment.rfm_scored(text, date, text, text, integer, text) IS
    'Scores, cell, FM and RFM scores, segment and action of per-customer summaries given as SQL: exact breakpoints over the customers with a purchase (score_breakpoints), scores as score, segments as rfm_segment_map';

-- The RFM analysis query over per-customer summaries: per_customer is SQL giving (customer_id text,
-- s customer_summary); the query takes $1 as_of, $2 granularity, $3 unit, $4 bins, $5 rule_set.
CREATE FUNCTION customer_segment.rfm_scored_sql(per_customer text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $f$
    SELECT format('SELECT * FROM customer_segment.rfm_scored(%L, $1, $2, $3, $4, $5)', per_customer)
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
AS 'MODULE_PATHNAME' LANGUAGE C STABLE SET search_path = pg_catalog;
COMMENT ON FUNCTION customer_segment.rfm_analyze(regclass, name, name, name, date, integer, text, text, text, text) IS
    'Per customer of an orders table (a timestamptz on its date in zone; NULL: the session''s TimeZone): rfm_summary, R/F/M quantile scores (F = orders, M = net spend), cell, FM and RFM scores, segment and action';

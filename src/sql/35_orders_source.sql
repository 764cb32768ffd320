-- Reading a user's orders table safely.

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

-- Validated, quoted SQL for the customer, time and amount columns of an orders table,
-- shared by every function that reads a user's orders table.
CREATE FUNCTION customer_segment.orders_source_sql(source regclass, customer_column name, time_column name,
    amount_column name, OUT customer_expr text, OUT time_expr text, OUT amount_expr text, OUT from_clause text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    time_type regtype;
    amount_type regtype;
BEGIN
    IF source IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'the orders table and its column names must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.column_type(source, customer_column);
    time_type := customer_segment.column_type(source, time_column);
    amount_type := customer_segment.column_type(source, amount_column);
    customer_expr := format('o.%I', customer_column);
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
    from_clause := format('%s o', source);
END
$$;
COMMENT ON FUNCTION customer_segment.orders_source_sql(regclass, name, name, name) IS
    'Validated, quoted SQL expressions for the customer, time and amount columns of an orders table';


-- Purchase-period names accepted by the table functions (as rfm_summary's granularity).
CREATE FUNCTION customer_segment.check_period(period text, what text DEFAULT 'period')
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF period IS NULL OR period NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'unknown % "%"', what, period USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''day'', ''week'' or ''month''.';
    END IF;
    RETURN period;
END
$$;
COMMENT ON FUNCTION customer_segment.check_period(text, text) IS 'Returns period when it is day, week or month, raises 22023 otherwise';

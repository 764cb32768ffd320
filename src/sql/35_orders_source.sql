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

-- SQL for a key or label column of a user's table (a customer id, a segment) that evaluates no code the
-- table's owner could have written, whoever runs it.  A built-in type (domains resolved to their base) is
-- used as it is: its equality, hashing and cast to text are PostgreSQL's own, and nobody else can add a cast
-- from it.  Any other type (composite, enum, range, an array of those, an extension's type) becomes its text
-- form through the type's output function, as format's %s does: user-defined casts and operators are never
-- applied, and only a superuser can install an output function.  NULL stays NULL.
CREATE FUNCTION customer_segment.safe_key_sql(rel regclass, col name, alias text DEFAULT 'o')
RETURNS text LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog AS $$
DECLARE
    typ oid := customer_segment.column_type(rel, col);
    ref text := format('%I.%I', alias, col);
BEGIN
    WHILE (SELECT t.typtype = 'd' FROM pg_type t WHERE t.oid = typ) LOOP
        SELECT t.typbasetype INTO typ FROM pg_type t WHERE t.oid = typ;
    END LOOP;
    IF typ < 16384::oid THEN   -- FirstNormalObjectId: below it, the types initdb created
        RETURN ref;
    END IF;
    RETURN format('CASE WHEN pg_catalog.num_nulls(%1$s) = 0 THEN pg_catalog.format(''%%s'', %1$s) END', ref);
END
$$;
COMMENT ON FUNCTION customer_segment.safe_key_sql(regclass, name, text) IS
    'SQL for a key column that runs no user-defined cast or operator: the column when its type is built in, else its text form through the type''s output function';

-- SQL for an amount column: numeric and float8 as they are, the other built-in number types as numeric.
CREATE FUNCTION customer_segment.number_sql(rel regclass, col name, alias text DEFAULT 'o')
RETURNS text LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog AS $$
DECLARE
    typ regtype := customer_segment.column_type(rel, col);
BEGIN
    IF typ IN ('numeric'::regtype, 'float8'::regtype) THEN
        RETURN format('%I.%I', alias, col);
    ELSIF typ IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype) THEN
        RETURN format('%I.%I::numeric', alias, col);
    END IF;
    RAISE EXCEPTION 'column "%" has type %, expected a number', col, typ USING ERRCODE = 'datatype_mismatch';
END
$$;
COMMENT ON FUNCTION customer_segment.number_sql(regclass, name, text) IS
    'SQL for a built-in number column (numeric or float8 as is, other number types as numeric); 42804 for any other type';

-- A business time zone: the name as given when AT TIME ZONE knows it (IANA names such as
-- 'Europe/Berlin', abbreviations such as 'UTC', POSIX specifications), 22023 otherwise.  NULL stays NULL.
CREATE FUNCTION customer_segment.check_time_zone(zone text)
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF zone IS NOT NULL THEN
        PERFORM TIMESTAMPTZ '2000-01-01 00:00+00' AT TIME ZONE zone;
    END IF;
    RETURN zone;
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'time zone "%" is not recognized', zone USING ERRCODE = 'invalid_parameter_value',
        HINT = 'Use a name from pg_timezone_names, e.g. ''Europe/Berlin'' or ''UTC''.';
END
$$;
COMMENT ON FUNCTION customer_segment.check_time_zone(text) IS
    'Returns zone when AT TIME ZONE accepts it (NULL stays NULL), raises 22023 otherwise';

-- SQL for the day of a time column of a relation aliased o: a date as it is, a timestamp by its wall-clock
-- date, a timestamptz by its date in zone (NULL: kept a timestamptz, which the aggregates take in the
-- session's TimeZone); 42804 for any other type, 22023 for a zone AT TIME ZONE does not know.
CREATE FUNCTION customer_segment.day_sql(source regclass, time_column name, zone text)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    time_type regtype := customer_segment.column_type(source, time_column);
    expr text;
BEGIN
    PERFORM customer_segment.check_time_zone(zone);
    expr := CASE
        WHEN time_type = 'date'::regtype THEN format('o.%I', time_column)
        WHEN time_type = 'timestamptz'::regtype AND zone IS NULL THEN format('o.%I', time_column)
        WHEN time_type = 'timestamptz'::regtype THEN format('(o.%I AT TIME ZONE %L)::date', time_column, zone)
        WHEN time_type = 'timestamp'::regtype THEN format('o.%I::date', time_column)
    END;
    IF expr IS NULL THEN
        RAISE EXCEPTION 'column "%" has type %, expected date, timestamp or timestamptz', time_column, time_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    RETURN expr;
END
$$;
COMMENT ON FUNCTION customer_segment.day_sql(regclass, name, text) IS
    'Quoted SQL for the day of a date, timestamp or timestamptz column (a timestamptz taken in zone; NULL zone: left a timestamptz)';

-- The time of an orders table as the C aggregates take it: a timestamptz with a zone as it is, followed by the
-- zone as their last argument (zone_arg ', ''Europe/Berlin'''), so the aggregate takes its day in zone itself
-- (once a row, in C); anything else as day_sql gives it, with no zone argument.
CREATE FUNCTION customer_segment.aggregate_time_sql(source regclass, time_column name, zone text,
    OUT time_expr text, OUT zone_arg text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    time_expr := customer_segment.day_sql(source, time_column, zone);
    zone_arg := '';
    IF zone IS NOT NULL AND customer_segment.column_type(source, time_column) = 'timestamptz'::regtype THEN
        time_expr := format('o.%I', time_column);
        zone_arg := format(', %L', zone);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.aggregate_time_sql(regclass, name, text) IS
    'Quoted SQL for the time column as the aggregates take it (a timestamptz with a zone: the column, and the zone as their last argument; else its day) and that zone argument';

-- Validated, quoted SQL for the customer, time and amount columns of an orders table,
-- shared by every function that reads a user's orders table.  Only built-in code is applied to the
-- columns (see safe_key_sql), so a superuser reading another role's table runs none of that role's code.
-- The time becomes a day: a date as it is, a timestamp by its wall-clock date, a timestamptz by its
-- date in zone (NULL: the session's TimeZone).
CREATE FUNCTION customer_segment.orders_source_sql(source regclass, customer_column name, time_column name,
    amount_column name, zone text DEFAULT NULL,
    OUT customer_expr text, OUT time_expr text, OUT amount_expr text, OUT from_clause text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF source IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'the orders table and its column names must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    customer_expr := customer_segment.safe_key_sql(source, customer_column);
    time_expr := customer_segment.day_sql(source, time_column, zone);
    amount_expr := customer_segment.number_sql(source, amount_column);
    from_clause := format('%s o', source);
END
$$;
COMMENT ON FUNCTION customer_segment.orders_source_sql(regclass, name, name, name, text) IS
    'Validated, quoted SQL expressions for the customer, time (a day, timestamptz taken in zone) and amount columns of an orders table';


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

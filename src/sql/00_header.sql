-- customer_segment install script, generated from src/sql/*.sql by the Makefile.
\echo Use "CREATE EXTENSION customer_segment" to load this file. \quit
COMMENT ON SCHEMA customer_segment IS 'customer_segment extension: RFM, CLV, tiers and lifecycle segmentation';

-- Install-time helper, dropped at the end of this script: an aggregate over
-- several signatures, each with its transition function declared from one C
-- symbol (CREATE OR REPLACE: aggregates may share transition functions).  An
-- internal state moves between processes through serial/deserial; a state of
-- a real type (stype) through the type itself, and serial/deserial are NULL.
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

-- Install-time helper, dropped at the end of this script: a state type of
-- aggregates (a varlena whose text form is base64), with its input, output,
-- receive and send functions <type>_in, _out, _recv, _send (C symbols of the
-- same names).
CREATE FUNCTION customer_segment.install_state_type(type text, comment text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    EXECUTE format('CREATE TYPE customer_segment.%I', type);
    EXECUTE format('CREATE FUNCTION customer_segment.%I(cstring) RETURNS customer_segment.%I
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_in', type, 'MODULE_PATHNAME', type || '_in');
    EXECUTE format('CREATE FUNCTION customer_segment.%I(customer_segment.%I) RETURNS cstring
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_out', type, 'MODULE_PATHNAME', type || '_out');
    EXECUTE format('CREATE FUNCTION customer_segment.%I(internal) RETURNS customer_segment.%I
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_recv', type, 'MODULE_PATHNAME', type || '_recv');
    EXECUTE format('CREATE FUNCTION customer_segment.%I(customer_segment.%I) RETURNS bytea
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_send', type, 'MODULE_PATHNAME', type || '_send');
    EXECUTE format('CREATE TYPE customer_segment.%1$I (INPUT = customer_segment.%2$I, OUTPUT = customer_segment.%3$I,
                    RECEIVE = customer_segment.%4$I, SEND = customer_segment.%5$I,
                    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended)',
                   type, type || '_in', type || '_out', type || '_recv', type || '_send');
    EXECUTE format('COMMENT ON TYPE customer_segment.%I IS %L', type, comment);
END
$$;

-- customer_segment 1.4 -> 1.5: the per-customer summary state is a real type, rfm_summary_state, instead of
-- internal: Citus runs rfm_summary and purchase_activity in two phases (partial states on the workers,
-- combined on the coordinator) when they are not grouped by the distribution column, and a state can be
-- stored, merged with the state of newer orders and finalised later (rfm_state, rfm_state_merge,
-- rfm_state_summary, rfm_state_activity).  The aggregates keep their identity (CREATE OR REPLACE AGGREGATE
-- changes the state type in place), so views and materialized views of users that call them are untouched.
\echo Use "ALTER EXTENSION customer_segment UPDATE TO '1.5'" to load this file. \quit

-- The aggregates' state as a value: it can travel between nodes (Citus runs
-- the aggregates in two phases: partial states on the workers, combined on the
-- coordinator), be stored, merged with the state of newer orders and
-- finalised later with an as_of (rfm_state, rfm_state_merge,
-- rfm_state_summary).  Text form: base64 of the binary form.
CREATE TYPE customer_segment.rfm_summary_state;
CREATE FUNCTION customer_segment.rfm_summary_state_in(cstring)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_state_out(customer_segment.rfm_summary_state)
RETURNS cstring AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_state_recv(internal)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_state_send(customer_segment.rfm_summary_state)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE customer_segment.rfm_summary_state (
    INPUT = customer_segment.rfm_summary_state_in, OUTPUT = customer_segment.rfm_summary_state_out,
    RECEIVE = customer_segment.rfm_summary_state_recv, SEND = customer_segment.rfm_summary_state_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended);
COMMENT ON TYPE customer_segment.rfm_summary_state IS 'Mergeable per-customer purchase summary (state of rfm_summary, purchase_activity and rfm_state): '
    'counts, sums, first/last days and a bitmap of purchase days, about 180 bytes plus one bit per day of the customer''s span';

CREATE FUNCTION customer_segment.rfm_summary_combine(customer_segment.rfm_summary_state, customer_segment.rfm_summary_state)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_final(customer_segment.rfm_summary_state)
RETURNS customer_segment.customer_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The aggregates over the new state: their transition functions take it, then each aggregate is replaced
-- in place (same OID, so objects that use it keep working) and the internal-state functions are dropped.
CREATE FUNCTION customer_segment.rfm_activity_final(customer_segment.rfm_summary_state)
RETURNS varbit AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT * FROM (VALUES
        ('rfm_summary', 'date, numeric, date', 'rfm_summary_trans', 'rfm_summary_final'),
        ('rfm_summary', 'date, float8, date', 'rfm_summary_trans', 'rfm_summary_final'),
        ('rfm_summary', 'timestamptz, numeric, date', 'rfm_summary_trans', 'rfm_summary_final'),
        ('rfm_summary', 'timestamptz, float8, date', 'rfm_summary_trans', 'rfm_summary_final'),
        ('rfm_summary', 'date, numeric, date, text, text', 'rfm_summary_trans', 'rfm_summary_final'),
        ('rfm_summary', 'date, float8, date, text, text', 'rfm_summary_trans', 'rfm_summary_final'),
        ('rfm_summary', 'timestamptz, numeric, date, text, text', 'rfm_summary_trans', 'rfm_summary_final'),
        ('rfm_summary', 'timestamptz, float8, date, text, text', 'rfm_summary_trans', 'rfm_summary_final'),
        ('rfm_summary', 'timestamptz, numeric, date, text, text, text', 'rfm_summary_trans', 'rfm_summary_final'),
        ('rfm_summary', 'timestamptz, float8, date, text, text, text', 'rfm_summary_trans', 'rfm_summary_final'),
        ('purchase_activity', 'date, numeric, date, text', 'rfm_summary_trans', 'rfm_activity_final'),
        ('purchase_activity', 'date, float8, date, text', 'rfm_summary_trans', 'rfm_activity_final'),
        ('purchase_activity', 'timestamptz, numeric, date, text', 'rfm_summary_trans', 'rfm_activity_final'),
        ('purchase_activity', 'timestamptz, float8, date, text', 'rfm_summary_trans', 'rfm_activity_final'),
        ('purchase_activity', 'timestamptz, numeric, date, text, text', 'rfm_activity_trans', 'rfm_activity_final'),
        ('purchase_activity', 'timestamptz, float8, date, text, text', 'rfm_activity_trans', 'rfm_activity_final'))
        v(agg, sig, trans, final)
    LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION customer_segment.%I(customer_segment.rfm_summary_state, %s)
                        RETURNS customer_segment.rfm_summary_state AS %L, %L LANGUAGE C STABLE PARALLEL SAFE',
                       a.trans, a.sig, 'MODULE_PATHNAME', a.trans);
        EXECUTE format('CREATE OR REPLACE AGGREGATE customer_segment.%I(%s) (SFUNC = customer_segment.%I,
                        STYPE = customer_segment.rfm_summary_state, FINALFUNC = customer_segment.%I,
                        COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE)',
                       a.agg, a.sig, a.trans, a.final);
        EXECUTE format('DROP FUNCTION customer_segment.%I(internal, %s)', a.trans, a.sig);
    END LOOP;
END
$$;
DROP FUNCTION customer_segment.rfm_summary_final(internal);
DROP FUNCTION customer_segment.rfm_activity_final(internal);
DROP FUNCTION customer_segment.rfm_summary_combine(internal, internal);
DROP FUNCTION customer_segment.rfm_summary_serialize(internal);
DROP FUNCTION customer_segment.rfm_summary_deserialize(bytea, internal);

-- Open states: every order counts; as_of, granularity and unit are chosen when the state is finalised.
DO $$
DECLARE
    sig text;
BEGIN
    FOREACH sig IN ARRAY ARRAY['date, numeric', 'date, float8', 'timestamptz, numeric', 'timestamptz, float8',
                               'timestamptz, numeric, text', 'timestamptz, float8, text'] LOOP
        EXECUTE format('CREATE FUNCTION customer_segment.rfm_state_trans(customer_segment.rfm_summary_state, %s)
                        RETURNS customer_segment.rfm_summary_state AS %L, %L LANGUAGE C STABLE PARALLEL SAFE',
                       sig, 'MODULE_PATHNAME', 'rfm_state_trans');
        EXECUTE format('CREATE AGGREGATE customer_segment.rfm_state(%s) (SFUNC = customer_segment.rfm_state_trans,
                        STYPE = customer_segment.rfm_summary_state, COMBINEFUNC = customer_segment.rfm_summary_combine,
                        PARALLEL = SAFE)', sig);
        EXECUTE format('COMMENT ON AGGREGATE customer_segment.rfm_state(%s) IS %L', sig,
                       'Open per-customer state of all the given orders (with a zone: each on its date in zone), '
                       'to store, merge with rfm_state_merge and finalise with rfm_state_summary; '
                       'NULL times/amounts are skipped and counted');
    END LOOP;
END
$$;
CREATE AGGREGATE customer_segment.rfm_state_merge(customer_segment.rfm_summary_state) (
    SFUNC = customer_segment.rfm_summary_combine, STYPE = customer_segment.rfm_summary_state,
    COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_state_merge(customer_segment.rfm_summary_state) IS
    'One state of the orders of all the given states (rfm_state of old orders merged with rfm_state of new ones); '
    'states must share their zone';

CREATE FUNCTION customer_segment.rfm_state_summary(state customer_segment.rfm_summary_state, as_of date,
    granularity text DEFAULT 'day', unit text DEFAULT 'day')
RETURNS customer_segment.customer_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.rfm_state_summary(customer_segment.rfm_summary_state, date, text, text) IS
    'customer_summary of an open state as of as_of (= rfm_summary of the same orders); '
    'error when the state holds an order after as_of; NULL state: NULL';

CREATE FUNCTION customer_segment.rfm_state_activity(state customer_segment.rfm_summary_state, as_of date,
    granularity text DEFAULT 'day')
RETURNS varbit AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.rfm_state_activity(customer_segment.rfm_summary_state, date, text) IS
    'purchase_activity of an open state as of as_of (= purchase_activity of the same orders); '
    'error when the state holds an order after as_of; NULL state: NULL';

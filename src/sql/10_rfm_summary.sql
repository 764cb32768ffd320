-- Per-customer summary: one pass over a customer's orders.

CREATE TYPE customer_segment.customer_summary AS (
    first_purchase  date,
    last_purchase   date,
    orders          bigint,
    purchase_days   bigint,
    refunds_count   bigint,
    recency_days    integer,
    tenure_days     integer,
    revenue         float8,
    refunds         float8,
    monetary_total  float8,
    monetary_avg    float8,
    frequency       bigint,
    recency         float8,
    t               float8,
    monetary_value  float8,
    skipped_rows    bigint,
    excluded_rows   bigint
);
COMMENT ON TYPE customer_segment.customer_summary IS 'Result of rfm_summary: RFM facts and the lifetimes-style (frequency, recency, t, monetary_value) summary of one customer';
COMMENT ON COLUMN customer_segment.customer_summary.first_purchase IS 'Day of the first purchase (amount >= 0) on or before as_of';
COMMENT ON COLUMN customer_segment.customer_summary.last_purchase IS 'Day of the last purchase on or before as_of';
COMMENT ON COLUMN customer_segment.customer_summary.orders IS 'Number of purchase rows (amount >= 0)';
COMMENT ON COLUMN customer_segment.customer_summary.purchase_days IS 'Number of distinct days with a purchase';
COMMENT ON COLUMN customer_segment.customer_summary.refunds_count IS 'Number of refund rows (amount < 0)';
COMMENT ON COLUMN customer_segment.customer_summary.recency_days IS 'as_of - last_purchase, in days';
COMMENT ON COLUMN customer_segment.customer_summary.tenure_days IS 'as_of - first_purchase, in days';
COMMENT ON COLUMN customer_segment.customer_summary.revenue IS 'Sum of purchase amounts';
COMMENT ON COLUMN customer_segment.customer_summary.refunds IS 'Sum of refunded amounts, as a positive number';
COMMENT ON COLUMN customer_segment.customer_summary.monetary_total IS 'revenue - refunds (net spend)';
COMMENT ON COLUMN customer_segment.customer_summary.monetary_avg IS 'monetary_total / orders';
COMMENT ON COLUMN customer_segment.customer_summary.frequency IS 'BTYD frequency: distinct purchase periods - 1 (repeat purchases)';
COMMENT ON COLUMN customer_segment.customer_summary.recency IS 'BTYD recency: first to last purchase period, in the reporting unit';
COMMENT ON COLUMN customer_segment.customer_summary.t IS 'BTYD T: first purchase period to the as_of period, in the reporting unit';
COMMENT ON COLUMN customer_segment.customer_summary.monetary_value IS 'BTYD monetary value: mean purchase amount per repeat period (first period excluded), 0 when frequency = 0';
COMMENT ON COLUMN customer_segment.customer_summary.skipped_rows IS 'Rows skipped because the time or the amount was NULL';
COMMENT ON COLUMN customer_segment.customer_summary.excluded_rows IS 'Rows excluded because they fall after as_of';

-- The aggregates' state as a value: it can travel between nodes (Citus runs
-- the aggregates in two phases: partial states on the workers, combined on the
-- coordinator), be stored, merged with the state of newer orders and
-- finalised later with an as_of (rfm_state, rfm_state_merge,
-- rfm_state_summary).  Text form: base64 of the binary form.
CREATE TYPE customer_segment.rfm_summary_state;
CREATE FUNCTION customer_segment.rfm_summary_state_in(cstring) RETURNS customer_segment.rfm_summary_state
    AS 'MODULE_PATHNAME', 'rfm_summary_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_state_out(customer_segment.rfm_summary_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'rfm_summary_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_state_recv(internal) RETURNS customer_segment.rfm_summary_state
    AS 'MODULE_PATHNAME', 'rfm_summary_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_state_send(customer_segment.rfm_summary_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_summary_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE customer_segment.rfm_summary_state (INPUT = customer_segment.rfm_summary_state_in,
    OUTPUT = customer_segment.rfm_summary_state_out, RECEIVE = customer_segment.rfm_summary_state_recv, SEND = customer_segment.rfm_summary_state_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended);
COMMENT ON TYPE customer_segment.rfm_summary_state IS
    'Mergeable per-customer purchase summary (state of rfm_summary, purchase_activity and rfm_state): counts, exact decimal sums, first/last days and a bitmap of purchase days, 216 bytes plus one bit per day of the customer''s span';

CREATE FUNCTION customer_segment.rfm_summary_combine(customer_segment.rfm_summary_state, customer_segment.rfm_summary_state)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_final(customer_segment.rfm_summary_state)
RETURNS customer_segment.customer_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Eight signatures: date or timestamptz time, numeric or float8 amount, with or
-- without the (granularity, unit) knobs; one C transition function serves all.
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, date, numeric, date)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(date, numeric, date) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(date, numeric, date) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; NULL times/amounts are skipped and counted, negative amounts are refunds';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, date, float8, date)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(date, float8, date) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(date, float8, date) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; NULL times/amounts are skipped and counted, negative amounts are refunds';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, timestamptz, numeric, date)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(timestamptz, numeric, date) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(timestamptz, numeric, date) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; NULL times/amounts are skipped and counted, negative amounts are refunds';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, timestamptz, float8, date)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(timestamptz, float8, date) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(timestamptz, float8, date) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; NULL times/amounts are skipped and counted, negative amounts are refunds';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, date, numeric, date, text, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(date, numeric, date, text, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(date, numeric, date, text, text) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; NULL times/amounts are skipped and counted, negative amounts are refunds';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, date, float8, date, text, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(date, float8, date, text, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(date, float8, date, text, text) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; NULL times/amounts are skipped and counted, negative amounts are refunds';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, timestamptz, numeric, date, text, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(timestamptz, numeric, date, text, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(timestamptz, numeric, date, text, text) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; NULL times/amounts are skipped and counted, negative amounts are refunds';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, timestamptz, float8, date, text, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(timestamptz, float8, date, text, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(timestamptz, float8, date, text, text) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; NULL times/amounts are skipped and counted, negative amounts are refunds';
-- And with a business time zone: the day of a timestamptz is its date in zone, whatever the session's.
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, timestamptz, numeric, date, text, text, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(timestamptz, numeric, date, text, text, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(timestamptz, numeric, date, text, text, text) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of, each order on its date in zone (NULL: the session''s TimeZone); NULL times/amounts are skipped and counted, negative amounts are refunds';
CREATE FUNCTION customer_segment.rfm_summary_trans(customer_segment.rfm_summary_state, timestamptz, float8, date, text, text, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_summary_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_summary(timestamptz, float8, date, text, text, text) (
    SFUNC = customer_segment.rfm_summary_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_summary_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_summary(timestamptz, float8, date, text, text, text) IS
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of, each order on its date in zone (NULL: the session''s TimeZone); NULL times/amounts are skipped and counted, negative amounts are refunds';

-- Open states: every order counts; as_of, granularity and unit are chosen when the state is finalised.
CREATE FUNCTION customer_segment.rfm_state_final(customer_segment.rfm_summary_state)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_state_trans(customer_segment.rfm_summary_state, date, numeric)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_state_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_state(date, numeric) (
    SFUNC = customer_segment.rfm_state_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_state_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_state(date, numeric) IS
    'Open per-customer state of all the given orders (with a zone: each on its date in zone), to store, merge with rfm_state_merge and finalise with rfm_state_summary; NULL times/amounts are skipped and counted';
CREATE FUNCTION customer_segment.rfm_state_trans(customer_segment.rfm_summary_state, date, float8)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_state_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_state(date, float8) (
    SFUNC = customer_segment.rfm_state_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_state_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_state(date, float8) IS
    'Open per-customer state of all the given orders (with a zone: each on its date in zone), to store, merge with rfm_state_merge and finalise with rfm_state_summary; NULL times/amounts are skipped and counted';
CREATE FUNCTION customer_segment.rfm_state_trans(customer_segment.rfm_summary_state, timestamptz, numeric)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_state_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_state(timestamptz, numeric) (
    SFUNC = customer_segment.rfm_state_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_state_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_state(timestamptz, numeric) IS
    'Open per-customer state of all the given orders (with a zone: each on its date in zone), to store, merge with rfm_state_merge and finalise with rfm_state_summary; NULL times/amounts are skipped and counted';
CREATE FUNCTION customer_segment.rfm_state_trans(customer_segment.rfm_summary_state, timestamptz, float8)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_state_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_state(timestamptz, float8) (
    SFUNC = customer_segment.rfm_state_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_state_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_state(timestamptz, float8) IS
    'Open per-customer state of all the given orders (with a zone: each on its date in zone), to store, merge with rfm_state_merge and finalise with rfm_state_summary; NULL times/amounts are skipped and counted';
CREATE FUNCTION customer_segment.rfm_state_trans(customer_segment.rfm_summary_state, timestamptz, numeric, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_state_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_state(timestamptz, numeric, text) (
    SFUNC = customer_segment.rfm_state_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_state_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_state(timestamptz, numeric, text) IS
    'Open per-customer state of all the given orders (with a zone: each on its date in zone), to store, merge with rfm_state_merge and finalise with rfm_state_summary; NULL times/amounts are skipped and counted';
CREATE FUNCTION customer_segment.rfm_state_trans(customer_segment.rfm_summary_state, timestamptz, float8, text)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME', 'rfm_state_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.rfm_state(timestamptz, float8, text) (
    SFUNC = customer_segment.rfm_state_trans, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_state_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_state(timestamptz, float8, text) IS
    'Open per-customer state of all the given orders (with a zone: each on its date in zone), to store, merge with rfm_state_merge and finalise with rfm_state_summary; NULL times/amounts are skipped and counted';
CREATE AGGREGATE customer_segment.rfm_state_merge(customer_segment.rfm_summary_state) (
    SFUNC = customer_segment.rfm_summary_combine, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_state_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_state_merge(customer_segment.rfm_summary_state) IS
    'One state of the orders of all the given states (rfm_state of old orders merged with rfm_state of new ones); '
    'states must share their zone';

CREATE FUNCTION customer_segment.rfm_state_summary(state customer_segment.rfm_summary_state, as_of date,
    granularity text DEFAULT 'day', unit text DEFAULT 'day')
RETURNS customer_segment.customer_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.rfm_state_summary(customer_segment.rfm_summary_state, date, text, text) IS
    'customer_summary of an open state as of as_of (= rfm_summary of the same orders); '
    'error when the state holds an order after as_of; NULL state: NULL';

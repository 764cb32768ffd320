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

CREATE FUNCTION customer_segment.rfm_summary_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_final(internal)
RETURNS customer_segment.customer_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Eight signatures: date or timestamptz time, numeric or float8 amount, with or
-- without the (granularity, unit) knobs; one C transition function serves all.
SELECT customer_segment.install_aggregate('rfm_summary',
    ARRAY['date, numeric, date', 'date, float8, date', 'timestamptz, numeric, date', 'timestamptz, float8, date',
          'date, numeric, date, text, text', 'date, float8, date, text, text',
          'timestamptz, numeric, date, text, text', 'timestamptz, float8, date, text, text'],
    'rfm_summary_trans', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine',
    'rfm_summary_serialize', 'rfm_summary_deserialize', 'STABLE',
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; '
    'NULL times/amounts are skipped and counted, negative amounts are refunds');
-- And with a business time zone: the day of a timestamptz is its date in zone, whatever the session's.
SELECT customer_segment.install_aggregate('rfm_summary',
    ARRAY['timestamptz, numeric, date, text, text, text', 'timestamptz, float8, date, text, text, text'],
    'rfm_summary_trans', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine',
    'rfm_summary_serialize', 'rfm_summary_deserialize', 'STABLE',
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of, '
    'each order on its date in zone (NULL: the session''s TimeZone); '
    'NULL times/amounts are skipped and counted, negative amounts are refunds');

\set SHOW_CONTEXT never
-- Parallel plans give exactly the serial results, on a plain and a partitioned table.
SET TimeZone = 'UTC';
CREATE SCHEMA par_store;
SELECT customers_created FROM customer_segment.create_sample_store('par_store', 4000, 3);
CREATE TABLE par_store.orders_part (LIKE par_store.orders) PARTITION BY RANGE (ordered_at);
CREATE TABLE par_store.orders_2023 PARTITION OF par_store.orders_part FOR VALUES FROM (MINVALUE) TO ('2024-01-01');
CREATE TABLE par_store.orders_2024 PARTITION OF par_store.orders_part FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE par_store.orders_2025 PARTITION OF par_store.orders_part FOR VALUES FROM ('2025-01-01') TO (MAXVALUE);
INSERT INTO par_store.orders_part SELECT * FROM par_store.orders;
ANALYZE par_store.orders_part;

-- Serial results.
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_summary AS
SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'week', 'week')::text AS s
  FROM par_store.orders GROUP BY 1;
CREATE TEMP TABLE serial_total AS
SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30')::text AS s,
       customer_segment.score_breakpoints(amount, 10)::text AS b,
       round(customer_segment.clv_historical(ordered_at, amount, DATE '2025-06-30', 0.1)::numeric, 6) AS h
  FROM par_store.orders;
CREATE TEMP TABLE serial_activity AS
SELECT customer_id, customer_segment.purchase_activity(ordered_at, amount, DATE '2025-06-30', 'month') AS a,
       round(customer_segment.clv_historical(ordered_at, amount, DATE '2025-06-30', 0.1, 0.3, 'continuous')::numeric, 9) AS h
  FROM par_store.orders GROUP BY 1;
CREATE TEMP TABLE serial_curve AS
SELECT customer_segment.retention_curve(a)::text AS c FROM serial_activity;

-- Forced parallel plans.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SET enable_partitionwise_aggregate = on;
SET enable_hashagg = off;

-- A whole-table aggregate runs partial in the workers and combines in the leader.
EXPLAIN (COSTS OFF)
SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30') FROM par_store.orders;
-- compared both ways, as multisets: a plan that drops or duplicates rows is a difference
WITH p AS MATERIALIZED (
    SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30')::text AS s,
           customer_segment.score_breakpoints(amount, 10)::text AS b,
           round(customer_segment.clv_historical(ordered_at, amount, DATE '2025-06-30', 0.1)::numeric, 6) AS h
      FROM par_store.orders
) SELECT count(*) AS differences FROM (
    (SELECT * FROM p EXCEPT ALL SELECT * FROM serial_total) UNION ALL (SELECT * FROM serial_total EXCEPT ALL SELECT * FROM p)) d;
-- compared both ways, as multisets: a plan that drops or duplicates rows is a difference
WITH p AS MATERIALIZED (
    SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30')::text AS s,
           customer_segment.score_breakpoints(amount, 10)::text AS b,
           round(customer_segment.clv_historical(ordered_at, amount, DATE '2025-06-30', 0.1)::numeric, 6) AS h
      FROM par_store.orders_part
) SELECT count(*) AS differences FROM (
    (SELECT * FROM p EXCEPT ALL SELECT * FROM serial_total) UNION ALL (SELECT * FROM serial_total EXCEPT ALL SELECT * FROM p)) d;

-- Grouped: partial aggregation per worker, then combine per customer.
EXPLAIN (COSTS OFF)
SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'week', 'week')
  FROM par_store.orders_part GROUP BY 1;
-- compared both ways, as multisets: a plan that drops or duplicates rows is a difference
WITH p AS MATERIALIZED (
    SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'week', 'week')::text
      FROM par_store.orders_part GROUP BY 1
) SELECT count(*) AS differences FROM (
    (SELECT * FROM p EXCEPT ALL SELECT * FROM serial_summary) UNION ALL (SELECT * FROM serial_summary EXCEPT ALL SELECT * FROM p)) d;
-- compared both ways, as multisets: a plan that drops or duplicates rows is a difference
WITH p AS MATERIALIZED (
    SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'week', 'week')::text
      FROM par_store.orders GROUP BY 1
) SELECT count(*) AS differences FROM (
    (SELECT * FROM p EXCEPT ALL SELECT * FROM serial_summary) UNION ALL (SELECT * FROM serial_summary EXCEPT ALL SELECT * FROM p)) d;

-- CLV aggregates: activity bit strings and discounted values per customer, and the
-- retention curve over a parallel scan of those.
-- compared both ways, as multisets: a plan that drops or duplicates rows is a difference
WITH p AS MATERIALIZED (
    SELECT customer_id, customer_segment.purchase_activity(ordered_at, amount, DATE '2025-06-30', 'month'),
           round(customer_segment.clv_historical(ordered_at, amount, DATE '2025-06-30', 0.1, 0.3, 'continuous')::numeric, 9)
      FROM par_store.orders_part GROUP BY 1
) SELECT count(*) AS differences FROM (
    (SELECT * FROM p EXCEPT ALL SELECT * FROM serial_activity) UNION ALL (SELECT * FROM serial_activity EXCEPT ALL SELECT * FROM p)) d;
CREATE TABLE par_store.activity AS SELECT * FROM serial_activity;
ANALYZE par_store.activity;
EXPLAIN (COSTS OFF) SELECT customer_segment.retention_curve(a) FROM par_store.activity;
WITH p AS MATERIALIZED (SELECT customer_segment.retention_curve(a)::text FROM par_store.activity)
SELECT count(*) AS differences FROM (
    (SELECT * FROM p EXCEPT ALL SELECT * FROM serial_curve) UNION ALL (SELECT * FROM serial_curve EXCEPT ALL SELECT * FROM p)) d;

-- Aggregates with a business time zone: the zone travels in the state, parallel equals serial.
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE serial_zoned AS
SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'week', 'day', 'Asia/Kathmandu')::text AS s,
       customer_segment.purchase_activity(ordered_at, amount, DATE '2025-06-30', 'day', 'Asia/Kathmandu') AS a,
       round(customer_segment.clv_historical(ordered_at, amount, DATE '2025-06-30', 0.1, 0.3, 'annual', 'Asia/Kathmandu')::numeric, 9) AS h
  FROM par_store.orders GROUP BY 1;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'week', 'day', 'Asia/Kathmandu')
  FROM par_store.orders_part GROUP BY 1;
-- compared both ways, as multisets: a plan that drops or duplicates rows is a difference
WITH p AS MATERIALIZED (
    SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'week', 'day', 'Asia/Kathmandu')::text,
           customer_segment.purchase_activity(ordered_at, amount, DATE '2025-06-30', 'day', 'Asia/Kathmandu'),
           round(customer_segment.clv_historical(ordered_at, amount, DATE '2025-06-30', 0.1, 0.3, 'annual', 'Asia/Kathmandu')::numeric, 9)
      FROM par_store.orders_part GROUP BY 1
) SELECT count(*) AS differences FROM (
    (SELECT * FROM p EXCEPT ALL SELECT * FROM serial_zoned) UNION ALL (SELECT * FROM serial_zoned EXCEPT ALL SELECT * FROM p)) d;
-- a zone constant within each partition but not across them is an error, whether a worker's row check or
-- the combine of partial states catches it (which one depends on how workers share the partitions)
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || CASE WHEN SQLERRM LIKE '%zone%must be the same for all rows of a group' THEN ' zone must be constant' ELSE ' ' || SQLERRM END;
END
$$;
SELECT pg_temp.sqlstate_of(q) FROM (VALUES
    ($$SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'day',
          CASE WHEN ordered_at < TIMESTAMPTZ '2024-01-01 00:00+00' THEN 'UTC' ELSE 'Asia/Tokyo' END) FROM par_store.orders_part$$),
    ($$SELECT customer_segment.clv_historical(ordered_at, amount, DATE '2025-06-30', 0.1, 1, 'annual',
          CASE WHEN ordered_at < TIMESTAMPTZ '2024-01-01 00:00+00' THEN 'UTC' ELSE 'Asia/Tokyo' END) FROM par_store.orders_part$$)
) v(q);

-- Combine edge cases: workers that saw no rows, and groups split across partitions.
SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30') IS NULL AS empty_parallel
  FROM par_store.orders WHERE amount > 1e9;
SELECT count(*) AS customers_in_several_partitions FROM (
    SELECT customer_id FROM par_store.orders_part GROUP BY 1
    HAVING count(DISTINCT date_trunc('year', ordered_at)) > 1) x;

RESET ALL;
DROP SCHEMA par_store CASCADE;

\set SHOW_CONTEXT never
\set VERBOSITY default
-- rfm_summary_state: stored, merged and finalised later.  Every check compares with rfm_summary /
-- purchase_activity over the same orders, the independent one-pass computation.
SET TimeZone = 'UTC';
CREATE SCHEMA st_store;
SELECT customers_created FROM customer_segment.create_sample_store('st_store', 1500, 7);

-- The nightly pattern: states of the orders up to a change key, then the states of newer rows merged in.
-- Newer rows include late orders dated in the past, refunds and customers never seen before.
INSERT INTO st_store.orders
SELECT 1000000 + g, CASE WHEN g % 3 = 0 THEN 9000 + g ELSE g % 1400 + 1 END,
       TIMESTAMPTZ '2024-02-01 10:00+00' + (g * 13 % 500) * interval '1 day',
       CASE WHEN g % 7 = 0 THEN -(g % 50) ELSE g % 300 END
  FROM generate_series(1, 600) g;
CREATE TEMP TABLE old_states AS
SELECT customer_id, customer_segment.rfm_state(ordered_at, amount, 'Europe/Paris') AS s
  FROM st_store.orders WHERE order_id < 1000000 GROUP BY 1;
CREATE TEMP TABLE merged AS
SELECT customer_id, customer_segment.rfm_state_merge(s) AS s FROM (
    SELECT customer_id, s FROM old_states
    UNION ALL
    SELECT customer_id, customer_segment.rfm_state(ordered_at, amount, 'Europe/Paris')
      FROM st_store.orders WHERE order_id >= 1000000 GROUP BY 1) u GROUP BY 1;

-- Finalised with any granularity and unit: the summaries of rfm_summary over all orders, 0 differences.
SELECT g, u, count(*) AS customers,
       count(*) FILTER (WHERE customer_segment.rfm_state_summary(m.s, DATE '2026-01-31', g, u)
                              IS DISTINCT FROM r.s) AS differ
  FROM merged m
  JOIN (SELECT customer_id, g, u, customer_segment.rfm_summary(ordered_at, amount, DATE '2026-01-31', g, u, 'Europe/Paris') AS s
          FROM st_store.orders, (VALUES ('day'), ('week'), ('month')) a(g), (VALUES ('day'), ('week'), ('month')) b(u)
         GROUP BY 1, 2, 3) r USING (customer_id)
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT g, count(*) FILTER (WHERE customer_segment.rfm_state_activity(m.s, DATE '2026-01-31', g) IS DISTINCT FROM r.a) AS differ
  FROM merged m
  JOIN (SELECT customer_id, g, customer_segment.purchase_activity(ordered_at, amount, DATE '2026-01-31', g, 'Europe/Paris') AS a
          FROM st_store.orders, (VALUES ('day'), ('week'), ('month')) a(g) GROUP BY 1, 2) r USING (customer_id)
 GROUP BY 1 ORDER BY 1;
-- New customers (only in the newer rows), customers with late orders, and one whole-table state.
SELECT count(*) FILTER (WHERE customer_id > 9000) AS new_customers,
       count(*) FILTER (WHERE customer_id <= 1400 AND (customer_segment.rfm_state_summary(s, DATE '2026-01-31')).orders
                              > (SELECT count(*) FROM st_store.orders o WHERE o.customer_id = merged.customer_id AND amount >= 0
                                    AND order_id < 1000000)) AS grown
  FROM merged;
SELECT customer_segment.rfm_state_summary(customer_segment.rfm_state_merge(s), DATE '2026-01-31', 'month', 'month')
       = (SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2026-01-31', 'month', 'month', 'Europe/Paris')
            FROM st_store.orders) AS whole_table_same
  FROM merged;

-- The text and binary forms give the state back (stored in a table and read again, then finalised).
CREATE TEMP TABLE stored (customer_id int, s customer_segment.rfm_summary_state);
INSERT INTO stored SELECT customer_id, s::text::customer_segment.rfm_summary_state FROM merged;
SELECT count(*) FILTER (WHERE customer_segment.rfm_state_summary(t.s, DATE '2026-01-31', 'week')
                              IS DISTINCT FROM customer_segment.rfm_state_summary(m.s, DATE '2026-01-31', 'week')) AS differ,
       count(*) FILTER (WHERE t.s::text <> m.s::text) AS text_differ,
       count(*) FILTER (WHERE customer_segment.rfm_summary_state_send(t.s) <> customer_segment.rfm_summary_state_send(m.s)) AS binary_differ
  FROM stored t JOIN merged m USING (customer_id);
\copy (SELECT customer_id, s FROM merged ORDER BY 1) TO 'results/cs_rfm_state.bin' WITH (FORMAT binary)
CREATE TEMP TABLE stored_bin (LIKE stored);
\copy stored_bin FROM 'results/cs_rfm_state.bin' WITH (FORMAT binary)
SELECT count(*) AS customers, count(*) FILTER (WHERE b.s::text <> m.s::text) AS differ
  FROM stored_bin b JOIN merged m USING (customer_id);
-- A state is small: 216 bytes plus a bit per day of the customer's span (stored without spare words).
SELECT max(pg_column_size(s)) < 400 AS small, round(avg(pg_column_size(s))) < 280 AS small_on_average,
       count(*) FILTER (WHERE pg_column_size(s) <> length(decode(s::text, 'base64')) + 4) AS not_canonical FROM merged;

-- A parallel merge gives the same summary (the bits of a float sum's rounding term may differ with the order).
SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;
CREATE TABLE st_store.all_states AS SELECT * FROM old_states UNION ALL
    SELECT customer_id, customer_segment.rfm_state(ordered_at, amount, 'Europe/Paris')
      FROM st_store.orders WHERE order_id >= 1000000 GROUP BY 1;
ALTER TABLE st_store.all_states SET (parallel_workers = 2);
ANALYZE st_store.all_states;
EXPLAIN (COSTS OFF) SELECT customer_segment.rfm_state_merge(s) FROM st_store.all_states;
SELECT customer_segment.rfm_state_summary(customer_segment.rfm_state_merge(s), DATE '2026-01-31', 'week', 'week')
       = (SELECT customer_segment.rfm_state_summary(customer_segment.rfm_state_merge(s ORDER BY customer_id), DATE '2026-01-31', 'week', 'week')
            FROM st_store.all_states) AS parallel_same_summary
  FROM st_store.all_states;
RESET parallel_setup_cost; RESET parallel_tuple_cost; RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather; RESET parallel_leader_participation;

-- Errors.
-- A state cannot forget orders: as_of before its latest order.
SELECT customer_segment.rfm_state_summary(customer_segment.rfm_state(d, 1.0), DATE '2025-01-01')
  FROM (VALUES (DATE '2025-01-01'), (DATE '2025-01-02')) v(d);
SELECT customer_segment.rfm_state_activity(customer_segment.rfm_state(d, -1.0), DATE '2025-01-01')
  FROM (VALUES (DATE '2025-01-02')) v(d);
SELECT customer_segment.rfm_state_summary(customer_segment.rfm_state(d, 1.0), NULL)
  FROM (VALUES (DATE '2025-01-01')) v(d);
SELECT customer_segment.rfm_state_summary(customer_segment.rfm_state(d, 1.0), DATE '2025-01-01', 'year')
  FROM (VALUES (DATE '2025-01-01')) v(d);
SELECT customer_segment.rfm_state_summary(NULL, DATE '2025-01-01') IS NULL AS null_state_null_summary;
-- States of different zones do not merge.
SELECT customer_segment.rfm_state_merge(s) FROM (
    SELECT customer_segment.rfm_state(TIMESTAMPTZ '2025-01-01 23:30+00', 1.0, 'UTC') AS s
    UNION ALL SELECT customer_segment.rfm_state(TIMESTAMPTZ '2025-01-01 23:30+00', 1.0, 'Asia/Tokyo')) x;
-- Malformed values.
SELECT 'not base64!'::customer_segment.rfm_summary_state;
SELECT 'AAAA'::customer_segment.rfm_summary_state;
SELECT translate(s::text, 'AB', 'BA')::customer_segment.rfm_summary_state FROM merged ORDER BY customer_id LIMIT 1;
-- The aggregates' transition functions are not for direct calls.
SELECT customer_segment.rfm_summary_combine(NULL, NULL);
DROP SCHEMA st_store CASCADE;

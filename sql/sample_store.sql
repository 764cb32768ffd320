\set SHOW_CONTEXT never
-- The sample store: row counts, refunds, customers without orders, and the
-- same store for the same seed.
CREATE SCHEMA store_a;
CREATE SCHEMA store_b;
CREATE SCHEMA store_c;
SELECT * FROM customer_segment.create_sample_store('store_a', 5000, 42);
SELECT * FROM customer_segment.create_sample_store('store_b', 5000, 42);
SELECT * FROM customer_segment.create_sample_store('store_c', 500, 7);

-- Same seed, same rows: nothing differs either way.
SELECT (SELECT count(*) FROM (TABLE store_a.orders EXCEPT ALL TABLE store_b.orders) d)
     + (SELECT count(*) FROM (TABLE store_b.orders EXCEPT ALL TABLE store_a.orders) d)
     + (SELECT count(*) FROM (TABLE store_a.customers EXCEPT ALL TABLE store_b.customers) d) AS differences;
-- Another seed, another store.
SELECT count(*) > 0 AS differs FROM (SELECT * FROM store_c.orders EXCEPT SELECT * FROM store_a.orders) d;

-- Shape of the default store: about 10 orders per ordering customer over three years,
-- every order inside the window, amounts with cents, refunds negative.
SELECT min(ordered_at AT TIME ZONE 'UTC')::date >= DATE '2023-01-01' AS starts_in_window,
       max(ordered_at AT TIME ZONE 'UTC')::date <= DATE '2025-12-31' AS ends_in_window,
       count(DISTINCT customer_id) AS buyers,
       round(count(*) FILTER (WHERE amount >= 0)::numeric / count(DISTINCT customer_id), 1) AS orders_per_buyer,
       min(amount) FILTER (WHERE amount >= 0) >= 1 AS positive_orders,
       count(*) FILTER (WHERE amount = 0) AS zero_amounts
  FROM store_a.orders;
-- Heterogeneous customers: some buy once, some very often; some stop (no order in the last year).
SELECT count(*) FILTER (WHERE n = 1) > 200 AS one_time_buyers,
       count(*) FILTER (WHERE n >= 50) > 10 AS heavy_buyers,
       count(*) FILTER (WHERE last_order < DATE '2025-01-01') > 500 AS lapsed
  FROM (SELECT customer_id, count(*) n, max(ordered_at)::date last_order
          FROM store_a.orders WHERE amount >= 0 GROUP BY 1) c;
-- Every refund follows an order of the same customer.
SELECT count(*) AS orphan_refunds FROM store_a.orders r
 WHERE r.amount < 0 AND NOT EXISTS (
     SELECT 1 FROM store_a.orders o WHERE o.customer_id = r.customer_id AND o.amount > 0
        AND o.ordered_at < r.ordered_at);

-- Bad input: clear errors, nothing overwritten.
SELECT * FROM customer_segment.create_sample_store('store_a', 10);
SELECT count(*) AS still_there FROM store_a.customers;
SELECT * FROM customer_segment.create_sample_store('no_such_schema', 10);
SELECT * FROM customer_segment.create_sample_store('store_c', 0);
SELECT * FROM customer_segment.create_sample_store('store_c', NULL);
SELECT * FROM customer_segment.create_sample_store('store_c', 10, 1, DATE '2024-01-01', DATE '2023-01-01');

DROP SCHEMA store_a CASCADE;
DROP SCHEMA store_b CASCADE;
DROP SCHEMA store_c CASCADE;

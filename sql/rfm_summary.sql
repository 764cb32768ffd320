\set SHOW_CONTEXT never
-- rfm_summary: per-customer summary in one pass.
SET TimeZone = 'UTC';
CREATE TEMP TABLE o (customer_id int, ordered_at timestamptz, amount numeric);
-- Customer 1: two orders on 2025-01-10, one on 01-17 and 02-14, a refund, an order after as_of.
-- Customer 2: one order.  Customer 3: only a refund.  Customer 4: only NULLs.
INSERT INTO o VALUES
  (1, '2025-01-10 09:00', 10), (1, '2025-01-10 18:00', 5), (1, '2025-01-17 12:00', 20),
  (1, '2025-02-14 12:00', 30), (1, '2025-02-19 12:00', -8), (1, '2025-04-11 12:00', 99),
  (1, NULL, 7), (1, '2025-02-01', NULL),
  (2, '2025-03-01 00:00', 42.5),
  (3, '2025-03-02 00:00', -12),
  (4, NULL, NULL);

-- All fields, as_of 2025-04-10 (inclusive), days.
SELECT customer_id, (s).*
  FROM (SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-04-10') s
          FROM o GROUP BY 1) x ORDER BY 1;

-- The lifetimes definitions in weeks: frequency = repeat purchase days,
-- recency = first to last purchase day / 7, T = first purchase day to as_of / 7,
-- monetary_value = mean spend of the repeat days (20 and 30).
SELECT customer_id, (s).frequency, round((s).recency::numeric, 6) AS recency, round((s).t::numeric, 6) AS t,
       (s).monetary_value
  FROM (SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-04-10', 'day', 'week') s
          FROM o GROUP BY 1) x ORDER BY 1;

-- Week granularity (Monday weeks): 01-10 and 01-17 are different weeks; month granularity in months.
SELECT customer_id, g, u, (s).frequency, round((s).recency::numeric, 4) AS recency, round((s).t::numeric, 4) AS t,
       (s).monetary_value
  FROM (VALUES ('week', 'week'), ('month', 'month'), ('month', 'day'), ('day', 'month')) k(g, u),
       LATERAL (SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-04-10', g, u) s
                  FROM o WHERE customer_id = 1 GROUP BY 1) x
 ORDER BY 2, 3;

-- The day of a timestamptz is taken in the session TimeZone: 2025-01-10 02:00 UTC is 01-09 in New York.
SET TimeZone = 'America/New_York';
SELECT (customer_segment.rfm_summary(ts, 1.0, DATE '2025-01-31')).first_purchase
  FROM (VALUES (TIMESTAMPTZ '2025-01-10 02:00+00')) v(ts);
SET TimeZone = 'UTC';
SELECT (customer_segment.rfm_summary(ts, 1.0, DATE '2025-01-31')).first_purchase
  FROM (VALUES (TIMESTAMPTZ '2025-01-10 02:00+00')) v(ts);

-- The last valid timestamptz (and the days next to it) is an ordinary purchase time.
SELECT (s).orders, (s).first_purchase, (s).last_purchase, (s).purchase_days
  FROM (SELECT customer_segment.rfm_summary(ts, 1.0, DATE '294277-01-01') AS s
          FROM (VALUES (TIMESTAMPTZ '294276-12-31 23:59:59.999999+00'), (TIMESTAMPTZ '294276-12-31 00:00+00'),
                       (TIMESTAMPTZ '294276-12-30 12:00+00'), (TIMESTAMPTZ '294276-12-31 12:00+00')) v(ts)) x;

-- date and float8 inputs give the same result as timestamptz and numeric.
WITH a AS (SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-04-10')::text FROM o GROUP BY 1),
     b AS (SELECT customer_id, customer_segment.rfm_summary(ordered_at::date, amount::float8, DATE '2025-04-10')::text FROM o GROUP BY 1)
SELECT count(*) AS mismatches FROM ((TABLE a EXCEPT ALL TABLE b) UNION ALL (TABLE b EXCEPT ALL TABLE a)) d;

-- An empty group (no rows, or only NULL rows) gives NULL.
SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-04-10') IS NULL AS is_null FROM o WHERE false;

-- The fast numeric reader agrees with numeric::float8, including values it hands to the slow path.
SELECT count(*) AS mismatches FROM (
    SELECT v, (customer_segment.rfm_summary(DATE '2025-01-01', v, DATE '2025-01-01')).revenue AS fast
      FROM unnest(ARRAY[0, 0.01, 1, 9999.99, 10000, 123.45, 1234567.89, 0.000001, 1e-30, 1e30,
                        12345678901234.5678, 99999999.99999999, 3.14159265358979323846, 1e20, 7e-20]::numeric[]) v
     GROUP BY v) x
 WHERE fast <> v::float8;
SELECT count(*) AS mismatches FROM (
    SELECT v, (customer_segment.rfm_summary(DATE '2025-01-01', v, DATE '2025-01-01')).revenue AS fast
      FROM (SELECT round((i * 7919 % 1000003) / 100.0 + i, (i % 5)) AS v FROM generate_series(1, 20000) i) s
     GROUP BY v::text, v) x
 WHERE fast <> v::float8;

-- Bad input.
SELECT customer_segment.rfm_summary(ordered_at, amount, NULL) FROM o;
SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-04-10', 'fortnight', 'day') FROM o;
SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-04-10', 'day', NULL) FROM o;
SELECT customer_segment.rfm_summary(DATE '2025-01-01', 'NaN'::numeric, DATE '2025-04-10');
SELECT customer_segment.rfm_summary(DATE '2025-01-01', 'Infinity'::float8, DATE '2025-04-10');
SELECT customer_segment.rfm_summary(DATE 'infinity', 1.0, DATE '2025-04-10');
SELECT customer_segment.rfm_summary(DATE '2025-01-01', 1.0, DATE 'infinity');
SELECT customer_segment.rfm_summary(DATE '2025-01-01', 1.0, d) FROM (VALUES (DATE '2025-02-01'), (DATE '2025-03-01')) v(d);

-- Against plain SQL on the sample store: every field of every customer.
CREATE SCHEMA summary_store;
SELECT customers_created FROM customer_segment.create_sample_store('summary_store', 2000, 11);
CREATE TEMP TABLE ours AS
SELECT customer_id, (customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'week')).*
  FROM summary_store.orders GROUP BY customer_id;
-- Customers whose every order falls after as_of get NULL.
DELETE FROM ours WHERE orders IS NULL;
CREATE TEMP TABLE plain AS
WITH o AS (
    SELECT customer_id, ordered_at::date AS d, amount FROM summary_store.orders WHERE ordered_at::date <= DATE '2025-06-30'
), p AS (
    SELECT customer_id, min(d) AS first_purchase, max(d) AS last_purchase, count(*) AS orders,
           count(DISTINCT d) AS purchase_days, sum(amount) AS revenue
      FROM o WHERE amount >= 0 GROUP BY 1
), r AS (
    SELECT customer_id, count(*) AS refunds_count, -sum(amount) AS refunds FROM o WHERE amount < 0 GROUP BY 1
), f AS (
    SELECT o.customer_id, sum(o.amount) AS first_day_revenue
      FROM o JOIN p USING (customer_id) WHERE o.amount >= 0 AND o.d = p.first_purchase GROUP BY 1
)
SELECT customer_id, p.first_purchase, p.last_purchase, coalesce(p.orders, 0) AS orders,
       coalesce(p.purchase_days, 0) AS purchase_days, coalesce(r.refunds_count, 0) AS refunds_count,
       DATE '2025-06-30' - p.last_purchase AS recency_days, DATE '2025-06-30' - p.first_purchase AS tenure_days,
       coalesce(p.revenue, 0) AS revenue, coalesce(r.refunds, 0) AS refunds,
       coalesce(p.revenue, 0) - coalesce(r.refunds, 0) AS monetary_total,
       p.purchase_days - 1 AS frequency, (p.last_purchase - p.first_purchase) / 7.0 AS recency,
       (DATE '2025-06-30' - p.first_purchase) / 7.0 AS t,
       CASE WHEN p.purchase_days > 1 THEN (p.revenue - f.first_day_revenue) / (p.purchase_days - 1) ELSE 0 END AS monetary_value
  FROM p FULL JOIN r USING (customer_id) LEFT JOIN f USING (customer_id);
SELECT (SELECT count(*) FROM ours) AS ours, (SELECT count(*) FROM plain) AS plain,
       count(*) FILTER (WHERE o.first_purchase IS DISTINCT FROM p.first_purchase
                           OR o.last_purchase IS DISTINCT FROM p.last_purchase
                           OR o.orders <> p.orders OR o.purchase_days <> p.purchase_days
                           OR o.refunds_count <> p.refunds_count
                           OR o.recency_days IS DISTINCT FROM p.recency_days
                           OR o.tenure_days IS DISTINCT FROM p.tenure_days
                           OR abs(o.revenue - p.revenue) > 1e-6 OR abs(o.refunds - p.refunds) > 1e-6
                           OR abs(o.monetary_total - p.monetary_total) > 1e-6
                           OR o.frequency IS DISTINCT FROM p.frequency
                           OR abs(o.recency - p.recency) > 1e-9 OR abs(o.t - p.t) > 1e-9
                           OR abs(o.monetary_value - p.monetary_value) > 1e-6) AS mismatches,
       sum(o.excluded_rows) > 0 AS some_orders_after_as_of
  FROM ours o JOIN plain p USING (customer_id);
DROP SCHEMA summary_store CASCADE;

\set SHOW_CONTEXT never
-- CLV: retention-model formulas, rate conversion, historical value, retention from data.

-- Textbook case: margin 100 a period, retention 80%, discount 10% a period.
--   end:       100 * 0.8 / (1 + 0.1 - 0.8)  = 266.67
--   start:     100 * 1.1 / (1 + 0.1 - 0.8)  = 366.67
--   end_first: 100 / (1 + 0.1 - 0.8)        = 333.33
--   3 periods, end: 100*0.8/1.1 + 100*0.64/1.21 + 100*0.512/1.331 = 164.09
SELECT round(customer_segment.clv_retention(100, 0.8, 0.1)::numeric, 2) AS end_infinite,
       round(customer_segment.clv_retention(100, 0.8, 0.1, timing => 'start')::numeric, 2) AS start_infinite,
       round(customer_segment.clv_retention(100, 0.8, 0.1, timing => 'end_first')::numeric, 2) AS end_first_infinite,
       round(customer_segment.clv_retention(100, 0.8, 0.1, 3)::numeric, 2) AS end_3,
       round(customer_segment.clv_retention(100, 0.8, 0.1, 3, 'start')::numeric, 2) AS start_3,
       round(customer_segment.clv_retention(100, 0.8, 0.1, acquisition_cost => 50)::numeric, 2) AS minus_cac;
-- Growing margin (2% a period): end = 100 * 0.8 / (1.1 - 0.8 * 1.02) = 281.69.
SELECT round(customer_segment.clv_retention(100, 0.8, 0.1, growth => 0.02)::numeric, 2) AS growing;
-- Edge cases: zero periods, zero retention, retention 1 with a finite horizon (q = 1 / (1 + d)).
SELECT customer_segment.clv_retention(100, 0.8, 0.1, 0) AS zero_periods,
       customer_segment.clv_retention(100, 0, 0.1, timing => 'start') AS zero_retention_start,
       customer_segment.clv_retention(100, 0, 0.1) AS zero_retention_end,
       customer_segment.clv_retention(100, 1, 0, 12) AS no_discount_full_retention,
       customer_segment.clv_retention(NULL, 0.8, 0.1) IS NULL AS null_margin;

-- Randomised: closed forms against direct loop sums, 300 parameter sets and every timing.
CREATE TEMP TABLE params AS
SELECT i, 10 + 990 * customer_segment.sample_uniform(i * 8, 7) AS m,
       0.99 * customer_segment.sample_uniform(i * 8 + 1, 7) AS r,
       0.001 + 0.3 * customer_segment.sample_uniform(i * 8 + 2, 7) AS d,
       -0.05 + 0.1 * customer_segment.sample_uniform(i * 8 + 3, 7) AS g,
       1 + floor(120 * customer_segment.sample_uniform(i * 8 + 4, 7))::int AS n,
       (ARRAY['start', 'end', 'end_first'])[1 + i % 3] AS timing
  FROM generate_series(1, 300) i;
SELECT count(*) AS compared,
       count(*) FILTER (WHERE abs(closed - loop) > 1e-9 * abs(loop)) AS finite_mismatches
  FROM (SELECT p.*, customer_segment.clv_retention(m, r, d, n, timing, g) AS closed,
               (SELECT sum(m * (1 + g) ^ (k - 1) * CASE timing
                         WHEN 'start' THEN r ^ (k - 1) / (1 + d) ^ (k - 1)
                         WHEN 'end' THEN r ^ k / (1 + d) ^ k
                         ELSE r ^ (k - 1) / (1 + d) ^ k END)
                  FROM generate_series(1, n) k) AS loop
          FROM params p) x;
-- Infinite horizon against 3,000-term sums where the tail is negligible (terms in log space
-- so that tiny terms do not underflow).
SELECT count(*) AS compared,
       count(*) FILTER (WHERE abs(closed - loop) > 1e-9 * abs(loop)) AS infinite_mismatches
  FROM (SELECT p.*, customer_segment.clv_retention(m, r, d, NULL, timing, g) AS closed,
               (SELECT sum(m * exp(greatest((k - 1) * ln(1 + g) + CASE timing
                         WHEN 'start' THEN (k - 1) * ln(r) - (k - 1) * ln(1 + d)
                         WHEN 'end' THEN k * ln(r) - k * ln(1 + d)
                         ELSE (k - 1) * ln(r) - k * ln(1 + d) END, -700)))
                  FROM generate_series(1, 3000) k) AS loop
          FROM params p WHERE r * (1 + g) / (1 + d) < 0.99) x;

-- Rates: 12.6825...% a year is exactly 1% a month; conversions round-trip for every period.
SELECT round(customer_segment.period_rate(1.01 ^ 12 - 1, 'month')::numeric, 12) AS monthly,
       round(customer_segment.period_rate(0.10, 'year')::numeric, 12) AS yearly,
       round(customer_segment.period_rate(0.10, 'quarter')::numeric, 10) AS quarterly;
SELECT p, abs((1 + customer_segment.period_rate(0.10, p)) ^ n - 1.10) < 1e-12 AS round_trip
  FROM (VALUES ('year', 1), ('quarter', 4), ('month', 12), ('week', 365.2425 / 7), ('day', 365.2425)) v(p, n);

-- Bad input.
SELECT customer_segment.clv_retention(100, 1.5, 0.1);
SELECT customer_segment.clv_retention(100, -0.1, 0.1);
SELECT customer_segment.clv_retention(100, 'NaN', 0.1);
SELECT customer_segment.clv_retention('Infinity', 0.8, 0.1);
SELECT customer_segment.clv_retention(100, 0.8, -1);
SELECT customer_segment.clv_retention(100, 1, 0);
SELECT customer_segment.clv_retention(100, 0.9, 0.1, growth => 0.3);
SELECT customer_segment.clv_retention(100, 0.8, 0.1, -1);
SELECT customer_segment.clv_retention(100, 0.8, 0.1, timing => 'middle');
SELECT customer_segment.clv_retention(100, 0.8, 0.1, growth => -1);
SELECT customer_segment.clv_retention(1e308, 1, 0, 10);
SELECT customer_segment.clv_retention(100, 1, 0, 100000, growth => 1);
SELECT customer_segment.clv_retention(100, 0.8, 0.1, timing => NULL);
SELECT customer_segment.period_rate(-1, 'month');
SELECT customer_segment.period_rate(0.1, 'fortnight');

-- Historical value: every cash flow times margin, moved to the reference date at the annual rate.
SET TimeZone = 'UTC';
CREATE TEMP TABLE h (customer_id int, day date, amount numeric);
INSERT INTO h VALUES (1, '2025-12-31', 100), (1, '2024-12-31', 100), (1, '2025-06-30', -20), (1, NULL, 5),
                     (2, '2026-12-31', 100);
SELECT customer_id,
       round(customer_segment.clv_historical(day, amount, DATE '2025-12-31', 0.10)::numeric, 6) AS value,
       round(customer_segment.clv_historical(day, amount, DATE '2025-12-31', 0.10, 0.3, 'annual')::numeric, 6) AS margin_30,
       round(customer_segment.clv_historical(day, amount, DATE '2025-12-31', 0.10, 1, 'continuous')::numeric, 6) AS continuous
  FROM h GROUP BY 1 ORDER BY 1;
-- The same by hand: 100 + 100 * 1.1^(365/365.2425) - 20 * 1.1^(184/365.2425); 100 / 1.1^(365/365.2425).
SELECT round((100 + 100 * 1.1 ^ (365 / 365.2425) - 20 * 1.1 ^ (184 / 365.2425))::numeric, 6) AS by_hand_1,
       round((100 * 1.1 ^ (-365 / 365.2425))::numeric, 6) AS by_hand_2;

-- purchase_activity: bit k = a purchase in the k-th month since the first (Jan, Mar; as of May).
SELECT customer_segment.purchase_activity(d, a, DATE '2025-05-15', 'month')
  FROM (VALUES (DATE '2025-01-20', 10.0), ('2025-03-02', 5), ('2025-03-30', 5), ('2025-04-10', -5), ('2025-06-01', 9)) v(d, a);
SELECT customer_segment.purchase_activity(d, a, DATE '2025-01-10', 'day')
  FROM (VALUES (DATE '2025-01-05', 10.0), ('2025-01-07', 5), ('2025-01-10', 5)) v(d, a);
-- retention_curve over three customers: 1101, 1011, 1.
SELECT (c).customers, (c).observed, (c).active, (c).at_risk, (c).retained, round((c).rate::numeric, 6) AS rate
  FROM (SELECT customer_segment.retention_curve(b) AS c FROM (VALUES (B'1101'), (B'1011'), (B'1'), (NULL)) v(b)) x;
SELECT customer_segment.retention_curve(b) IS NULL AS empty FROM (VALUES (B'1')) v(b) WHERE false;
SELECT customer_segment.retention_curve(B'0110');

-- Cohort matrix on the sample store against plain SQL.
CREATE SCHEMA clv_store;
SELECT customers_created FROM customer_segment.create_sample_store('clv_store', 2000, 21);
CREATE TEMP TABLE ours AS
SELECT * FROM customer_segment.cohort_retention('clv_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-09-30');
CREATE TEMP TABLE plain AS
WITH months AS (
    SELECT DISTINCT customer_id, date_trunc('month', ordered_at::date)::date AS m
      FROM clv_store.orders WHERE amount >= 0 AND ordered_at::date <= DATE '2025-09-30'
), firsts AS (
    SELECT customer_id, min(m) AS cohort FROM months GROUP BY 1
), offsets AS (
    SELECT f.customer_id, f.cohort,
           (extract(year FROM age(mo.m, f.cohort)) * 12 + extract(month FROM age(mo.m, f.cohort)))::int AS k
      FROM months mo JOIN firsts f USING (customer_id)
), horizon AS (
    SELECT cohort, (extract(year FROM age(DATE '2025-09-01', cohort)) * 12
                    + extract(month FROM age(DATE '2025-09-01', cohort)))::int AS last_k,
           count(*) AS size
      FROM firsts GROUP BY 1
)
SELECT h.cohort, k AS period_offset, h.size AS cohort_size,
       (SELECT count(DISTINCT customer_id) FROM offsets o WHERE o.cohort = h.cohort AND o.k = g.k) AS active,
       CASE WHEN k < h.last_k THEN
           (SELECT count(*) FROM offsets o WHERE o.cohort = h.cohort AND o.k = g.k
               AND EXISTS (SELECT 1 FROM offsets o2 WHERE o2.customer_id = o.customer_id AND o2.k = g.k + 1))
       END AS retained
  FROM horizon h, generate_series(0, h.last_k) g(k);
SELECT (SELECT count(*) FROM ours) AS our_cells, (SELECT count(*) FROM plain) AS plain_cells,
       count(*) FILTER (WHERE o.cohort_size <> p.cohort_size OR o.active <> p.active
                           OR o.observed <> o.cohort_size
                           OR o.retained IS DISTINCT FROM coalesce(p.retained, 0)
                           OR (p.retained IS NULL) <> (o.at_risk = 0)
                           OR o.retention IS DISTINCT FROM p.retained::float8 / nullif(p.active, 0)) AS mismatches
  FROM ours o JOIN plain p USING (cohort, period_offset);

-- clv_analyze: projected value = clv_retention(margin per active month, r, monthly discount) * r^(silent months).
CREATE TEMP TABLE clv AS
SELECT * FROM customer_segment.clv_analyze('clv_store.orders', 'customer_id', 'ordered_at', 'amount',
                                           DATE '2025-09-30', annual_discount => 0.10, margin_rate => 0.3);
SELECT count(*) AS customers, count(DISTINCT retention) AS one_rate,
       round(min(retention)::numeric, 6) = (SELECT round(((customer_segment.retention_curve(a)).rate)::numeric, 6)
          FROM (SELECT customer_segment.purchase_activity(ordered_at, amount, DATE '2025-09-30', 'month') a
                  FROM clv_store.orders GROUP BY customer_id) x) AS rate_from_data,
       count(*) FILTER (WHERE abs(projected_clv - customer_segment.clv_retention(margin_per_period, retention,
                                  discount_per_period) * retention ^ periods_since_active) > 1e-9) AS projection_mismatches,
       count(*) FILTER (WHERE abs(margin_per_period - monetary_total * 0.3 / active_periods) > 1e-9) AS margin_mismatches,
       count(*) FILTER (WHERE abs(total_clv - historical_value - projected_clv) > 1e-9) AS total_mismatches
  FROM clv;
-- Decile 10 holds the highest projections, ties share a decile, rank 1 is the top.
SELECT count(*) AS tied_values_split FROM (
    SELECT projected_clv FROM clv GROUP BY 1 HAVING count(DISTINCT clv_decile) > 1) x;
SELECT (SELECT clv_decile FROM clv WHERE clv_rank = 1 LIMIT 1) AS top_decile,
       (SELECT min(projected_clv) FROM clv WHERE clv_decile = 10) >= (SELECT max(projected_clv) FROM clv WHERE clv_decile = 9) AS ordered;
-- A given retention rate is used as is.
SELECT DISTINCT retention FROM customer_segment.clv_analyze('clv_store.orders', 'customer_id', 'ordered_at', 'amount',
    DATE '2025-09-30', retention_rate => 0.7);
SELECT * FROM customer_segment.clv_analyze('clv_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-09-30', margin_rate => 2);
SELECT * FROM customer_segment.clv_analyze('clv_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-09-30', period => 'year');
SELECT * FROM customer_segment.clv_analyze('clv_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-09-30', retention_rate => 1.5);
SELECT * FROM customer_segment.cohort_retention('clv_store.orders', 'customer_id', 'ordered_at', 'nope');
DROP SCHEMA clv_store CASCADE;

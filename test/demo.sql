-- The demo report: what customer_segment tells about the sample store.
\pset footer off
CREATE EXTENSION IF NOT EXISTS customer_segment;
DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;

\echo
\echo 'Sample store (customer_segment.create_sample_store, seed 42)'
SELECT * FROM customer_segment.create_sample_store('demo', 5000, 42);

CREATE TABLE demo.rfm AS
SELECT * FROM customer_segment.rfm_analyze('demo.orders', 'customer_id', 'ordered_at', 'amount',
                                           as_of => DATE '2025-12-31');

\echo
\echo 'RFM segments as of 2025-12-31 (quintile scores, standard segment map)'
SELECT segment,
       count(*) AS customers,
       to_char(100.0 * count(*) / sum(count(*)) OVER (), 'FM990.0') || '%' AS share,
       to_char(sum(monetary_total), 'FM999,999,990') AS net_revenue,
       round(avg(recency_days)) AS avg_days_since,
       round(avg(orders), 1) AS avg_orders,
       repeat('#', (60.0 * count(*) / max(count(*)) OVER ())::int) AS customers_bar
  FROM demo.rfm
 GROUP BY segment
 ORDER BY sum(monetary_total) DESC;

\echo 'R x F grid: customers per cell (rows R = recency score, columns F = frequency score)'
SELECT r_score AS r,
       count(*) FILTER (WHERE f_score = 1) AS f1, count(*) FILTER (WHERE f_score = 2) AS f2,
       count(*) FILTER (WHERE f_score = 3) AS f3, count(*) FILTER (WHERE f_score = 4) AS f4,
       count(*) FILTER (WHERE f_score = 5) AS f5
  FROM demo.rfm WHERE r_score IS NOT NULL
 GROUP BY r_score ORDER BY r_score DESC;

\echo 'Top 10 customers by net spend'
SELECT customer_id, rfm_cell, segment, orders, recency_days,
       to_char(monetary_total, 'FM999,990.00') AS net_spend
  FROM demo.rfm ORDER BY monetary_total DESC, customer_id LIMIT 10;

\echo 'Member tiers on 2025 net spend (ladder demo: Regular 0, Silver 300, Gold 1000, Platinum 3000)'
INSERT INTO customer_segment.tier_ladders (ladder, tier, rank, lower_bound, benefits) VALUES
  ('demo', 'Regular', 1, 0, 'Newsletter'), ('demo', 'Silver', 2, 300, '5% off'),
  ('demo', 'Gold', 3, 1000, '10% off'), ('demo', 'Platinum', 4, 3000, '15% off, concierge');
SELECT coalesce(customer_segment.tier_for('demo', spend), '(below the ladder)') AS tier, count(*) AS customers,
       to_char(sum(spend), 'FM999,999,990') AS spend_2025
  FROM (SELECT customer_id, sum(amount) AS spend FROM demo.orders WHERE ordered_at >= '2025-01-01' GROUP BY 1) s
 GROUP BY 1 ORDER BY min(spend) DESC;
DELETE FROM customer_segment.tier_ladders WHERE ladder = 'demo';

\echo 'Lifecycle stages as of 2025-12-31 (new 90 days, lapsed after 365, at risk beyond twice the usual gap)'
SELECT stage, count(*) AS customers, repeat('#', (50.0 * count(*) / max(count(*)) OVER ())::int) AS bar
  FROM (SELECT customer_segment.lifecycle_stage((s).first_purchase, (s).last_purchase, (s).orders, DATE '2025-12-31',
                   reactivated_on => customer_segment.last_reactivation(a, (s).first_purchase, 365)) AS stage
          FROM demo.customers c
          LEFT JOIN (SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-12-31') AS s,
                            customer_segment.purchase_activity(ordered_at, amount, DATE '2025-12-31', 'day') AS a
                       FROM demo.orders GROUP BY 1) x USING (customer_id)
         WHERE c.signup_date <= DATE '2025-12-31') y
 GROUP BY 1 ORDER BY 2 DESC;

\echo 'Value / engagement quadrants (cuts at the medians of net spend and orders)'
SELECT customer_segment.quadrant(monetary_total, orders, cuts.v, cuts.n, 'value', 'engagement') AS quadrant,
       count(*) AS customers, to_char(sum(monetary_total), 'FM999,999,990') AS net_revenue
  FROM demo.rfm, (SELECT (customer_segment.score_breakpoints(monetary_total, 2))[1] AS v,
                         (customer_segment.score_breakpoints(orders, 2))[1] AS n FROM demo.rfm WHERE orders > 0) cuts
 WHERE orders > 0
 GROUP BY 1 ORDER BY 1;

\echo 'Customer lifetime value by decile (30% margin, 10% a year, monthly retention estimated from the orders)'
SELECT clv_decile AS decile, count(*) AS customers,
       round(avg(historical_value)) AS avg_realised,
       round(avg(projected_clv)) AS avg_projected,
       to_char(sum(projected_clv), 'FM999,999,990') AS projected_total,
       round(min(retention)::numeric, 3) AS monthly_retention
  FROM customer_segment.clv_analyze('demo.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31',
                                    annual_discount => 0.10, margin_rate => 0.3)
 GROUP BY 1 ORDER BY 1 DESC;

\echo 'Cohort retention: share of each 2025 quarter-start cohort buying in months 0..6'
SELECT cohort,
       max(cohort_size) AS size,
       string_agg(lpad(to_char(100 * active_share, 'FM990'), 4) || '%', ' ' ORDER BY period_offset) AS "m0 .. m6"
  FROM customer_segment.cohort_retention('demo.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31')
 WHERE cohort IN (DATE '2025-01-01', DATE '2025-04-01', DATE '2025-07-01') AND period_offset <= 6
 GROUP BY cohort ORDER BY cohort;

\echo 'The same store registered as a source: helper views for BI tools, and their report'
SELECT count(*) AS helper_views FROM customer_segment.register_source('demo', 'demo.orders', 'customer_id', 'ordered_at', 'amount',
                                                                        as_of => DATE '2025-12-31');
SELECT customer_segment.refresh('demo') AS refresh;
\pset tuples_only on
SELECT * FROM customer_segment.report('demo', 5);
\pset tuples_only off
SELECT customer_segment.unregister_source('demo');

\echo 'Subscriptions: sample memberships, the monthly plan by yearly cohort (sBG retention, value at 9.90 a month, 10% a year)'
SELECT * FROM customer_segment.create_sample_subscriptions('demo', 3000, 7);
CREATE VIEW demo.monthly AS SELECT * FROM demo.subscriptions WHERE plan = 'monthly';
SELECT cohort, contracts, active, round(alpha::numeric, 3) AS alpha, round(beta::numeric, 3) AS beta,
       to_char(active_value, 'FM999,990') AS value_of_active, round(new_contract_value::numeric, 2) AS value_of_a_new_member
  FROM customer_segment.sbg_cohorts('demo.monthly', 'member_id', 'started_on', 'ended_on', 'period', DATE '2025-12-31',
                                    discount => customer_segment.period_rate(0.10, 'month'), margin => 9.90);

DROP SCHEMA demo CASCADE;

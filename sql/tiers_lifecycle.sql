\set SHOW_CONTEXT never
-- Tiers, quadrants, the value grid, lifecycle stages and migrations.

-- A ladder on 12-month spend.
INSERT INTO customer_segment.tier_ladders (ladder, tier, rank, lower_bound, benefits) VALUES
('club', 'Regular', 1, 0, 'Newsletter'), ('club', 'Silver', 2, 500, '5% off'),
('club', 'Gold', 3, 1500, '10% off, free shipping'), ('club', 'Platinum', 4, 5000, '15% off, concierge');
SELECT customer_segment.check_tier_ladder('club');

-- Every boundary: exactly on a bound earns the tier, one cent below does not.
SELECT v, customer_segment.tier_for('club', v) FROM unnest(ARRAY[-0.01, 0, 499.99, 500, 1499.99, 1500, 4999.99, 5000, 1e9]::numeric[]) v;
SELECT customer_segment.tier_for('club', 500::float8) AS from_float8, customer_segment.tier_for('club', NULL::numeric) AS null_value;

-- Hysteresis: up at once; down only below bound * (1 - 10%) for 2 consecutive periods.
WITH RECURSIVE spend(period, value) AS (
    VALUES (1, 600::numeric), (2, 1600), (3, 1400), (4, 1300), (5, 1349), (6, 1340), (7, 1600), (8, 100), (9, 100), (10, 6000)
), path AS (
    SELECT s.period, s.value, customer_segment.tier_next('club', NULL, s.value, 0, 0.10, 2) AS step
      FROM spend s WHERE s.period = 1
    UNION ALL
    SELECT s.period, s.value, customer_segment.tier_next('club', (p.step).tier, s.value, (p.step).periods_below, 0.10, 2)
      FROM path p JOIN spend s ON s.period = p.period + 1
)
SELECT period, value, (step).tier, (step).periods_below, (step).change FROM path ORDER BY period;
-- Without margin or grace a drop below the bound downgrades at once, possibly by several tiers.
SELECT (customer_segment.tier_next('club', 'Platinum', 100)).*;
SELECT (customer_segment.tier_next('club', 'Gold', 1499.99)).*;
SELECT (customer_segment.tier_next('club', NULL, -5)).*;

-- Against a plain-SQL CASE on the sample store's 2025 spend.
CREATE SCHEMA tier_store;
SELECT customers_created FROM customer_segment.create_sample_store('tier_store', 1000, 8);
SELECT count(*) AS customers,
       count(*) FILTER (WHERE customer_segment.tier_for('club', spend) IS DISTINCT FROM
                        CASE WHEN spend >= 5000 THEN 'Platinum' WHEN spend >= 1500 THEN 'Gold'
                             WHEN spend >= 500 THEN 'Silver' WHEN spend >= 0 THEN 'Regular' END) AS mismatches,
       count(DISTINCT customer_segment.tier_for('club', spend)) AS tiers_used
  FROM (SELECT customer_id, sum(amount) AS spend FROM tier_store.orders
         WHERE ordered_at >= '2025-01-01' GROUP BY 1) s;

-- Invalid ladders are refused (checked at commit of the writing transaction).
INSERT INTO customer_segment.tier_ladders VALUES ('club', 'Diamond', 5, 4000, NULL);
INSERT INTO customer_segment.tier_ladders VALUES ('club', 'Copper', 0, 0, NULL);
INSERT INTO customer_segment.tier_ladders VALUES ('club', 'Bronze', 6, 'NaN', NULL);
INSERT INTO customer_segment.tier_ladders VALUES ('club', 'Silver2', 2, 700, NULL);
-- Rewriting a ladder in one transaction is fine even when it is invalid midway.
BEGIN;
UPDATE customer_segment.tier_ladders SET lower_bound = 2000 WHERE ladder = 'club' AND tier = 'Silver';
UPDATE customer_segment.tier_ladders SET lower_bound = 3000 WHERE ladder = 'club' AND tier = 'Gold';
COMMIT;
SELECT tier, lower_bound FROM customer_segment.tier_ladders WHERE ladder = 'club' ORDER BY rank;
-- Bad input.
SELECT customer_segment.tier_for('nope', 10);
SELECT customer_segment.tier_for('club', 'NaN'::numeric);
SELECT customer_segment.tier_for('club', 'Infinity'::float8);
SELECT customer_segment.tier_next('club', 'Wood', 10);
SELECT customer_segment.tier_next('club', 'Gold', 10, 0, 1.5);
SELECT customer_segment.tier_next('club', 'Gold', 10, 0, 0, 0);

-- Quadrants: on the cut is High.
SELECT customer_segment.quadrant(10, 5, 10, 5), customer_segment.quadrant(9.99, 4.99, 10, 5),
       customer_segment.quadrant(100, 1, 50, 2, 'CLV', 'engagement');
-- Cuts from the population: the median is score_breakpoints(x, 2)[1] (= percentile_disc(0.5)).
WITH c AS (SELECT customer_id, sum(amount) AS value, count(*) AS need FROM tier_store.orders GROUP BY 1),
cuts AS (SELECT (customer_segment.score_breakpoints(value, 2))[1] AS vc, (customer_segment.score_breakpoints(need, 2))[1] AS nc,
                percentile_disc(0.5) WITHIN GROUP (ORDER BY value) AS vc_ref FROM c)
SELECT vc = vc_ref AS median_cut, customer_segment.quadrant(value, need, vc, nc) AS quadrant, count(*) > 0 AS populated
  FROM c, cuts GROUP BY 1, 2 ORDER BY 2;
-- The 8-cell grid with names from the editable table.
SELECT customer_segment.value_grid_cell(100, 1, 5, 50, 2, 1) AS cell, g.name, g.action
  FROM customer_segment.value_grid_cells g
 WHERE g.rule_set = 'standard' AND g.cell = customer_segment.value_grid_cell(100, 1, 5, 50, 2, 1);
SELECT count(*) AS cells, count(DISTINCT name) AS names FROM customer_segment.value_grid_cells WHERE rule_set = 'standard';
UPDATE customer_segment.value_grid_cells SET name = 'x' WHERE rule_set = 'standard';
SELECT customer_segment.quadrant('NaN', 1, 1, 1);
SELECT customer_segment.value_grid_cell(1, 1, 1, 'Infinity', 1, 1);

-- Lifecycle stages, as of 2025-12-31, defaults: new 90 days, lapsed after 365, at risk at 2x own gap.
SELECT label, customer_segment.lifecycle_stage(f, l, n, DATE '2025-12-31', reactivated_on => r, p_alive => p) AS stage
  FROM (VALUES
    ('no orders',                         NULL::date, NULL::date, 0::bigint, NULL::date, NULL::float8),
    ('LEFT JOIN without orders',          NULL, NULL, NULL, NULL, NULL),
    ('first order 90 days ago',           DATE '2025-10-02', DATE '2025-10-02', 1, NULL, NULL),
    ('first order 91 days ago',           DATE '2025-10-01', DATE '2025-10-01', 1, NULL, NULL),
    ('monthly buyer, last 20 days ago',   DATE '2025-01-01', DATE '2025-12-11', 12, NULL, NULL),
    ('monthly buyer, last 61 days ago',   DATE '2024-12-01', DATE '2025-10-31', 12, NULL, NULL),
    ('last order exactly 365 days ago',   DATE '2023-01-01', DATE '2024-12-31', 5, NULL, NULL),
    ('last order 366 days ago',           DATE '2023-01-01', DATE '2024-12-30', 5, NULL, NULL),
    ('back after a lapse, 30 days ago',   DATE '2022-01-01', DATE '2025-12-01', 6, DATE '2025-12-01', NULL),
    ('back after a lapse, 200 days ago',  DATE '2022-01-01', DATE '2025-12-01', 6, DATE '2025-06-14', NULL),
    ('one order 150 days ago',            DATE '2025-08-03', DATE '2025-08-03', 1, NULL, NULL),
    ('one order 200 days ago',            DATE '2025-06-14', DATE '2025-06-14', 1, NULL, NULL),
    ('P(alive) 0.3',                      DATE '2024-01-01', DATE '2025-12-20', 9, NULL, 0.3),
    ('P(alive) 0.5',                      DATE '2024-01-01', DATE '2025-06-20', 9, NULL, 0.5)) v(label, f, l, n, r, p);

-- Reactivation from the daily activity string: purchases on days 0, 2, 400, 401; churn 365 -> day 400.
SELECT customer_segment.last_reactivation(B'101' || repeat('0', 397)::varbit || B'11', DATE '2024-01-01', 365) AS back_on,
       customer_segment.last_reactivation(B'1011', DATE '2024-01-01', 365) IS NULL AS never_lapsed;

-- Against a plain-SQL CASE on the sample store (typical gap = span / (orders - 1), 90 days for one order).
CREATE TEMP TABLE lc AS
SELECT customer_id, (s).first_purchase AS f, (s).last_purchase AS l, (s).orders AS n,
       customer_segment.last_reactivation(a, (s).first_purchase, 365) AS r
  FROM (SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-12-31') AS s,
               customer_segment.purchase_activity(ordered_at, amount, DATE '2025-12-31', 'day') AS a
          FROM tier_store.orders GROUP BY 1) x
 WHERE (s).orders > 0;
SELECT count(*) AS customers, count(*) FILTER (WHERE r IS NOT NULL) AS with_reactivation,
       count(*) FILTER (WHERE customer_segment.lifecycle_stage(f, l, n, DATE '2025-12-31', reactivated_on => r) <> CASE
            WHEN DATE '2025-12-31' - l > 365 THEN 'lapsed'
            WHEN DATE '2025-12-31' - f <= 90 THEN 'new'
            WHEN r IS NOT NULL AND DATE '2025-12-31' - r <= 90 THEN 'reactivated'
            WHEN DATE '2025-12-31' - l > 2.0 * CASE WHEN n > 1 AND l > f THEN (l - f)::float8 / (n - 1) ELSE 90 END THEN 'at risk'
            ELSE 'active' END) AS mismatches
  FROM lc;
-- Reactivation days agree with a plain-SQL gap search.
SELECT count(*) AS mismatches FROM lc FULL JOIN (
    SELECT customer_id, max(d) AS r FROM (
        SELECT customer_id, d, d - lag(d) OVER (PARTITION BY customer_id ORDER BY d) AS gap
          FROM (SELECT DISTINCT customer_id, ordered_at::date AS d FROM tier_store.orders
                 WHERE amount >= 0 AND ordered_at::date <= DATE '2025-12-31') x) y
     WHERE gap > 365 GROUP BY 1) p USING (customer_id)
 WHERE lc.r IS DISTINCT FROM p.r;
-- Bad input.
SELECT customer_segment.lifecycle_stage(DATE '2025-01-01', DATE '2025-02-01', 2, DATE '2024-12-31');
SELECT customer_segment.lifecycle_stage(DATE '2025-03-01', DATE '2025-02-01', 2, DATE '2025-12-31');
SELECT customer_segment.lifecycle_stage(NULL, NULL, 2, DATE '2025-12-31');
SELECT customer_segment.lifecycle_stage(DATE '2025-01-01', DATE '2025-02-01', 2, NULL);
SELECT customer_segment.lifecycle_stage(DATE '2025-01-01', DATE '2025-02-01', 2, DATE '2025-12-31', churn_days => 0);
SELECT customer_segment.lifecycle_stage(DATE '2025-01-01', DATE '2025-02-01', 2, DATE '2025-12-31', p_alive => 'NaN');
SELECT customer_segment.lifecycle_stage(DATE '2025-01-01', DATE '2025-02-01', 2, DATE '2025-12-31', p_alive => 1.2);

-- Migration matrix between two snapshots.
CREATE TABLE tier_store.snap_jan (customer_id int, segment text, clv numeric);
CREATE TABLE tier_store.snap_feb (customer_id int, segment text, clv numeric);
INSERT INTO tier_store.snap_jan VALUES (1, 'Loyal', 10), (2, 'Loyal', 20), (3, 'At Risk', 5), (4, 'Lost', 1);
INSERT INTO tier_store.snap_feb VALUES (1, 'Loyal', 11), (2, 'At Risk', 15), (3, 'At Risk', 4), (5, 'New', 2);
SELECT * FROM customer_segment.migration_matrix('tier_store.snap_jan', 'tier_store.snap_feb', value_column => 'clv');
SELECT * FROM customer_segment.migration_matrix('tier_store.snap_jan', 'tier_store.snap_feb', state_column => 'tier');

DELETE FROM customer_segment.tier_ladders WHERE ladder = 'club';
DROP SCHEMA tier_store CASCADE;

\set SHOW_CONTEXT never
-- Named segments from the editable rules table.

-- The standard map: 11 named segments and a catch-all, each reachable.
SELECT segment, priority, r_min, r_max, f_min, f_max, m_min, m_max
  FROM customer_segment.rfm_segment_rules WHERE rule_set = 'standard' ORDER BY priority;
SELECT segment, count(*) AS cells FROM customer_segment.rfm_segment_map() GROUP BY 1 ORDER BY 2 DESC, 1;
SELECT problem, count(*) FROM customer_segment.check_segment_rules('standard') GROUP BY 1 ORDER BY 1;

-- Every cell maps to exactly one segment, the rule of lowest priority that contains it
-- (checked against an independent plain-SQL lookup).
SELECT count(*) AS cells, count(*) FILTER (WHERE m.segment IS NULL) AS unmapped,
       count(*) FILTER (WHERE m.segment IS DISTINCT FROM (
           SELECT x.segment FROM customer_segment.rfm_segment_rules x
            WHERE x.rule_set = 'standard' AND x.enabled AND m.r BETWEEN x.r_min AND x.r_max
              AND m.f BETWEEN x.f_min AND x.f_max AND m.m BETWEEN x.m_min AND x.m_max
            ORDER BY x.priority LIMIT 1)) AS mismatches
  FROM customer_segment.rfm_segment_map() m;

SELECT customer_segment.rfm_segment(5, 5, 5), customer_segment.rfm_segment(1, 5, 5),
       customer_segment.rfm_segment(5, 1, 1), customer_segment.rfm_segment(1, 1, 1),
       customer_segment.rfm_segment(5, 1, 5);
-- Other bins are rescaled to 1..5: 10 -> 5, 1 -> 1; 3 bins: 2 -> 3.
SELECT s, customer_segment.rescale_score(s, 10) AS from_10 FROM generate_series(1, 10) s;
SELECT s, customer_segment.rescale_score(s, 3) AS from_3 FROM generate_series(1, 3) s;
SELECT customer_segment.rfm_segment(10, 10, 10, 10), customer_segment.rfm_segment(1, 3, 3, 3);

-- The shipped rule set is read-only; copies are editable.
UPDATE customer_segment.rfm_segment_rules SET priority = 99 WHERE rule_set = 'standard' AND segment = 'Lost';
DELETE FROM customer_segment.rfm_segment_rules WHERE rule_set = 'standard';
TRUNCATE customer_segment.rfm_segment_rules;
INSERT INTO customer_segment.rfm_segment_rules (rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max)
VALUES ('standard', 'VIP', 0, 5, 5, 5, 5, 5, 5);
SELECT customer_segment.copy_segment_rules('standard', 'mine');
UPDATE customer_segment.rfm_segment_rules SET segment = 'Stars' WHERE rule_set = 'mine' AND segment = 'Champions';
DELETE FROM customer_segment.rfm_segment_rules WHERE rule_set = 'mine' AND segment = 'Others';
SELECT customer_segment.rfm_segment(5, 5, 5, 5, 'mine'), customer_segment.rfm_segment(5, 1, 5, 5, 'mine');
-- Without its catch-all the copy has gaps, and check_segment_rules lists them.
SELECT * FROM customer_segment.check_segment_rules('mine') WHERE problem = 'gap' ORDER BY r, f, m LIMIT 5;
SELECT problem, count(*) FROM customer_segment.check_segment_rules('mine') GROUP BY 1 ORDER BY 1;
-- A rule hidden behind a higher-priority one is unreachable.
INSERT INTO customer_segment.rfm_segment_rules (rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max)
VALUES ('mine', 'Shadow', 500, 5, 5, 5, 5, 5, 5);
SELECT * FROM customer_segment.check_segment_rules('mine') WHERE problem = 'unreachable';

-- The map of any cube agrees with rfm_segment cell by cell (every cell of 7 bins; 3,000 cells of 100 bins,
-- whose million-cell map is built from the rules' 125 decisions).
SELECT count(*) AS cells, count(*) FILTER (WHERE g.segment IS DISTINCT FROM customer_segment.rfm_segment(g.r, g.f, g.m, 7, 'mine')) AS disagreements
  FROM customer_segment.rfm_segment_map(7, 'mine') g;
SELECT count(*) AS cells, count(*) FILTER (WHERE g.segment IS DISTINCT FROM customer_segment.rfm_segment(g.r, g.f, g.m, 100)) AS disagreements
  FROM customer_segment.rfm_segment_map(100) g WHERE (g.r * 7919 + g.f * 104729 + g.m * 15485863) % 333 = 0;
SELECT count(*) AS cells, count(DISTINCT cell) AS distinct_cells FROM customer_segment.rfm_segment_map(100);

-- Bad input.
SELECT customer_segment.copy_segment_rules('nope', 'x');
SELECT customer_segment.rfm_segment(1, 1, 1, 5, 'nope');
SELECT customer_segment.rfm_segment(6, 1, 1);
SELECT customer_segment.rfm_segment(1, 1, 1, 1);
INSERT INTO customer_segment.rfm_segment_rules (rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max)
VALUES ('mine', 'Bad', 600, 3, 2, 1, 5, 1, 5);
INSERT INTO customer_segment.rfm_segment_rules (rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max)
VALUES ('mine', 'Twin', 500, 1, 5, 1, 5, 1, 5);
DELETE FROM customer_segment.rfm_segment_rules WHERE rule_set = 'mine';

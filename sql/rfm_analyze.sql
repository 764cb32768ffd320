\set SHOW_CONTEXT never
-- rfm_analyze: one call from an orders table to scores and segments.
SET TimeZone = 'UTC';
CREATE SCHEMA analyze_store;
SELECT customers_created FROM customer_segment.create_sample_store('analyze_store', 3000, 5);

CREATE TEMP TABLE result AS
SELECT * FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'ordered_at', 'amount',
                                           as_of => DATE '2025-12-31');
SELECT count(*) AS customers, count(DISTINCT customer_id) AS distinct_ids,
       count(*) FILTER (WHERE segment IS NULL) AS without_segment,
       min(r_score) AS min_r, max(r_score) AS max_r
  FROM result;

-- Any number of bins: each customer's segment is the one rfm_segment gives its cell (the rules' 1..5 scale
-- reached by rescale_score); 100 bins take as long as 5.
SELECT b AS bins, count(*) AS customers, count(DISTINCT r_score) AS r_levels,
       count(*) FILTER (WHERE segment IS DISTINCT FROM customer_segment.rfm_segment(r_score, f_score, m_score, b)) AS disagreements
  FROM unnest(ARRAY[3, 7, 100]) b,
       LATERAL customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', b) a
 GROUP BY b ORDER BY b;

-- Independent plain SQL: summary by GROUP BY, breakpoints by percentile_disc,
-- tie-aware scores by counting breakpoints below, segment by priority lookup.
CREATE TEMP TABLE plain AS
WITH c AS (
    SELECT customer_id::text AS customer_id,
           max(ordered_at::date) FILTER (WHERE amount >= 0) AS last_purchase,
           count(*) FILTER (WHERE amount >= 0) AS orders,
           sum(amount) AS monetary_total
      FROM analyze_store.orders WHERE ordered_at::date <= DATE '2025-12-31' GROUP BY 1
), m AS (
    SELECT customer_id, DATE '2025-12-31' - last_purchase AS recency_days, orders, monetary_total
      FROM c WHERE orders > 0
), b AS (
    SELECT percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY recency_days) AS rb,
           percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY orders) AS fb,
           percentile_disc(ARRAY[0.2, 0.4, 0.6, 0.8]) WITHIN GROUP (ORDER BY monetary_total) AS mb
      FROM m
), s AS (
    SELECT m.*,
           5 - (SELECT count(*) FROM unnest(b.rb) q WHERE q < m.recency_days)::int AS r_score,
           1 + (SELECT count(*) FROM unnest(b.fb) q WHERE q < m.orders)::int AS f_score,
           1 + (SELECT count(*) FROM unnest(b.mb) q WHERE q < m.monetary_total)::int AS m_score
      FROM m, b
)
SELECT s.*, (SELECT x.segment FROM customer_segment.rfm_segment_rules x
              WHERE x.rule_set = 'standard' AND s.r_score BETWEEN x.r_min AND x.r_max
                AND s.f_score BETWEEN x.f_min AND x.f_max AND s.m_score BETWEEN x.m_min AND x.m_max
              ORDER BY x.priority LIMIT 1) AS segment
  FROM s;
SELECT count(*) AS compared,
       count(*) FILTER (WHERE r.r_score <> p.r_score OR r.f_score <> p.f_score OR r.m_score <> p.m_score
                           OR r.segment <> p.segment OR r.recency_days <> p.recency_days
                           OR abs(r.monetary_total - p.monetary_total) > 1e-6) AS mismatches
  FROM result r JOIN plain p USING (customer_id);
SELECT count(*) AS only_one_side FROM result r FULL JOIN plain p USING (customer_id)
 WHERE (r.customer_id IS NULL OR p.customer_id IS NULL) AND r.orders IS DISTINCT FROM 0;

-- Cells, FM and combined scores are consistent with the scores.
SELECT count(*) AS inconsistent FROM result
 WHERE rfm_cell <> r_score::text || f_score::text || m_score::text
    OR fm_score <> (f_score + m_score) / 2.0 OR rfm_score <> (r_score + f_score + m_score) / 3.0;

-- The same rows when the C pass's two tuplestores spill to disk (64kB of work_mem) as in memory.
CREATE TEMP TABLE in_memory AS
    SELECT * FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31');
SET work_mem = '64kB';
SELECT count(*) AS customers,
       (SELECT count(*) FROM (SELECT * FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'ordered_at',
                                                                          'amount', DATE '2025-12-31')
                              EXCEPT ALL SELECT * FROM in_memory) x) AS differing
  FROM in_memory;
RESET work_mem;

-- Other column types and names, quoted identifiers, a custom rule set, 4 bins.
CREATE TABLE analyze_store."Odd Orders" ("Client" text, "When" date, "Paid €" integer);
INSERT INTO analyze_store."Odd Orders" VALUES ('a', '2025-01-01', 10), ('a', '2025-03-01', 30), ('b', '2025-02-01', 5),
    ('c', '2025-02-15', 100), (NULL, '2025-02-15', 100), ('d', '2025-02-20', -5);
SELECT customer_segment.copy_segment_rules('standard', 'mine');
SELECT customer_id, orders, recency_days, monetary_total, r_score, f_score, m_score, rfm_cell, segment
  FROM customer_segment.rfm_analyze('analyze_store."Odd Orders"', 'Client', 'When', 'Paid €', DATE '2025-03-31', 4, 'mine')
 ORDER BY 1;

-- Identifiers cannot inject SQL: they are quoted, so this is just a column that does not exist.
SELECT * FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id; DROP TABLE analyze_store.orders; --',
                                           'ordered_at', 'amount');
SELECT count(*) > 0 AS orders_still_there FROM analyze_store.orders;
SELECT * FROM customer_segment.rfm_analyze('analyze_store.no_such_table', 'customer_id', 'ordered_at', 'amount');
SELECT * FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'customer_id', 'amount');
SELECT * FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'ordered_at', 'ordered_at');
SELECT * FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'ordered_at', 'amount', NULL);
-- 11 bins work (segments rescale the scores to 1..5); 1 bin does not.
SELECT count(*) AS customers, max(r_score) AS max_r, count(*) FILTER (WHERE segment IS NULL) AS without_segment
  FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', bins => 11);
SELECT * FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'ordered_at', 'amount', bins => 1);
SELECT * FROM customer_segment.rfm_analyze('analyze_store.orders', 'customer_id', 'ordered_at', 'amount', granularity => 'year');

DELETE FROM customer_segment.rfm_segment_rules WHERE rule_set = 'mine';
DROP SCHEMA analyze_store CASCADE;

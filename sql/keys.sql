\set SHOW_CONTEXT never
-- Key columns: built-in types (domains resolved) are used as they are; any other type goes through its
-- output function, so no user-defined cast, operator or operator class ever runs on it.  NULL stays NULL.
CREATE DOMAIN pg_temp.cust_id AS int CHECK (VALUE > 0);
CREATE TYPE pg_temp.pair AS (shop int, id int);
CREATE TYPE pg_temp.level AS ENUM ('low', 'high');
CREATE TEMP TABLE k (i int, t text, dom pg_temp.cust_id, p pg_temp.pair, e pg_temp.level, d date, a numeric, r real, s text);
INSERT INTO k VALUES (1, 'a', 1, ROW(1, 1), 'low', DATE '2025-01-10', 10, 1.5, 'x'),
                     (1, 'a', 1, ROW(1, 1), 'low', DATE '2025-03-10', 20, 2.5, 'x'),
                     (2, 'b', 2, ROW(1, NULL), 'high', DATE '2025-02-10', 5, 0.5, 'y'),
                     (NULL, NULL, NULL, NULL, NULL, DATE '2025-02-11', 7, 0.5, 'z');
SELECT c AS col, customer_segment.safe_key_sql('k', c) AS sql
  FROM unnest(ARRAY['i', 't', 'dom', 'p', 'e']::name[]) c;
SELECT c AS col, customer_segment.number_sql('k', c, 'x') AS sql FROM unnest(ARRAY['a', 'r', 'i']::name[]) c;
-- The same customers, whatever the key's type; composite and enum ids read as their text.
SELECT 'p' AS key, customer_id, orders, monetary_total
  FROM customer_segment.rfm_analyze('k', 'p', 'd', 'a', DATE '2025-12-31')
UNION ALL
SELECT 'e', customer_id, orders, monetary_total
  FROM customer_segment.rfm_analyze('k', 'e', 'd', 'a', DATE '2025-12-31')
UNION ALL
SELECT 'dom', customer_id, orders, monetary_total
  FROM customer_segment.rfm_analyze('k', 'dom', 'd', 'a', DATE '2025-12-31')
ORDER BY 1, 2;
-- States of a non-built-in type are labelled by their text too.
SELECT * FROM customer_segment.migration_matrix('k', 'k', 'i', 'e', 'r');
-- Not a number: refused.
SELECT * FROM customer_segment.migration_matrix('k', 'k', 'i', 'e', 's');

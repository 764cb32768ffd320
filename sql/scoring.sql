\set SHOW_CONTEXT never
-- score_breakpoints and score: exact quantiles, ties never split.

-- Quintile breakpoints of 1..10 are 2, 4, 6, 8; NULLs are ignored.
SELECT customer_segment.score_breakpoints(v, 5) FROM (SELECT generate_series(1, 10) UNION ALL SELECT NULL) s(v);
SELECT v, customer_segment.score(v, ARRAY[2, 4, 6, 8]) AS higher_better,
       customer_segment.score(v, ARRAY[2, 4, 6, 8], false) AS lower_better
  FROM generate_series(1, 10) v;

-- Equal to percentile_disc(i / bins) for every bins from 2 to 10.
CREATE TEMP TABLE metric AS
SELECT i, (i * 7919 % 1009) % 37 AS v FROM generate_series(1, 4321) i;   -- heavy ties
SELECT bins, customer_segment.score_breakpoints(v, bins) =
       (SELECT percentile_disc(ARRAY(SELECT g::float8 / bins FROM generate_series(1, bins - 1) g))
                WITHIN GROUP (ORDER BY v) FROM metric)::float8[] AS same_as_percentile_disc
  FROM metric, generate_series(2, 10) bins GROUP BY bins ORDER BY bins;

-- Ties never split: every value has exactly one score, unlike NTILE.
WITH b AS (SELECT customer_segment.score_breakpoints(v, 5) AS br FROM metric)
SELECT count(*) AS values_with_several_scores FROM (
    SELECT v FROM metric, b GROUP BY v HAVING count(DISTINCT customer_segment.score(v, br)) > 1) x;
SELECT count(*) AS values_split_by_ntile FROM (
    SELECT v FROM (SELECT v, ntile(5) OVER (ORDER BY v) n FROM metric) x GROUP BY v HAVING count(DISTINCT n) > 1) y;

-- Independent tie-aware score in plain SQL: 1 + number of breakpoints strictly below the value.
WITH b AS (SELECT customer_segment.score_breakpoints(v, 5) AS br FROM metric)
SELECT count(*) AS mismatches
  FROM metric, b
 WHERE customer_segment.score(v, br) <> 1 + (SELECT count(*) FROM unnest(br) q WHERE q < v)
    OR customer_segment.score(v, br, false) <> 5 - (SELECT count(*) FROM unnest(br) q WHERE q < v);

-- Fewer distinct values than bins: scores keep their population meaning and skip numbers.
-- Two values, half each: the lower gets 1, the upper 3 (it is above two of the four quintile cuts).
SELECT customer_segment.score_breakpoints(v, 5) FROM (VALUES (1), (1), (2), (2)) s(v);
SELECT v, customer_segment.score(v, customer_segment.score_breakpoints(v, 5) OVER ()) FROM (VALUES (1), (1), (2), (2)) s(v);
-- One value only: everyone scores 1 (higher is better) or 5 (lower is better).
SELECT customer_segment.score(7, customer_segment.score_breakpoints(v, 5)),
       customer_segment.score(7, customer_segment.score_breakpoints(v, 5), false)
  FROM (VALUES (7), (7), (7)) s(v);

-- Deterministic whatever the input order.
SELECT (SELECT customer_segment.score_breakpoints(v, 7) FROM (SELECT v FROM metric ORDER BY i) s)
     = (SELECT customer_segment.score_breakpoints(v, 7) FROM (SELECT v FROM metric ORDER BY i DESC) s) AS same;

-- Fixed, user-supplied breakpoints: spend thresholds 100, 500, 1000, 5000.
SELECT spend, customer_segment.score(spend, ARRAY[100, 500, 1000, 5000]) AS score
  FROM unnest(ARRAY[0, 100, 100.01, 999.99, 1000, 1e6]) spend;

-- Empty input gives NULL; NULL value gives NULL.
SELECT customer_segment.score_breakpoints(v, 5) IS NULL AS empty FROM metric WHERE false;
SELECT customer_segment.score(NULL, ARRAY[1, 2]) IS NULL AS null_score;

-- Combined scores.
SELECT customer_segment.rfm_cell(5, 4, 5), customer_segment.rfm_cell(10, 5, 4),
       customer_segment.fm_score(4, 5), customer_segment.rfm_weighted_score(5, 4, 3),
       customer_segment.rfm_weighted_score(5, 4, 3, 2, 1, 1);

-- Bad input.
SELECT customer_segment.score_breakpoints(v, 1) FROM metric;
SELECT customer_segment.score_breakpoints(v, 101) FROM metric;
SELECT customer_segment.score_breakpoints(v, NULL) FROM metric;
SELECT customer_segment.score_breakpoints(v, 5) FROM (VALUES (1.0::float8), ('NaN')) s(v);
SELECT customer_segment.score('NaN', ARRAY[1, 2]);
SELECT customer_segment.score(1, ARRAY[2, 1]);
SELECT customer_segment.score(1, ARRAY[1, 'Infinity'::float8]);
SELECT customer_segment.score(1, ARRAY[1, NULL]);
SELECT customer_segment.score(1, ARRAY[]::float8[]);
SELECT customer_segment.score(1, ARRAY[[1, 2], [3, 4]]);
SELECT customer_segment.rfm_cell(0, 1, 1);
SELECT customer_segment.rfm_weighted_score(1, 2, 3, -1, 1, 1);
SELECT customer_segment.rfm_weighted_score(1, 2, 3, 0, 0, 0);
SELECT customer_segment.rfm_weighted_score(1, 2, 3, 'NaN', 1, 1);

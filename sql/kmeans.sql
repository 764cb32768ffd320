\set SHOW_CONTEXT never
-- k-means: a known answer, the checks on bad input, parallel == serial.
CREATE TABLE km_pts AS
SELECT g, ARRAY[(g % 3) * 10 + customer_segment.sample_normal(g, 1),
                (g % 3) * -5 + customer_segment.sample_normal(g, 2)]::float8[] AS f
  FROM generate_series(1, 3000) g;

-- Three blobs of 1,000 points around (0, 0), (10, -5), (20, -10) with unit variance: found exactly.
WITH m AS (SELECT customer_segment.kmeans_fit(f, 3, 42) AS m FROM km_pts)
SELECT (m).k, (m).dims, (m).converged, (m).sizes, (m).rows, (m).points, (m).transform,
       (SELECT array_agg(round(c::numeric) ORDER BY i) FROM unnest((m).centroids) WITH ORDINALITY u(c, i)) AS centroids_rounded
  FROM m;
-- Every point of a blob in one cluster, and the distance is to the nearest centroid.
WITH m AS (SELECT customer_segment.kmeans_fit(f, 3, 42) AS m FROM km_pts)
SELECT count(DISTINCT (g % 3, customer_segment.kmeans_assign(m, f))) AS blob_cluster_pairs,
       max(abs(customer_segment.kmeans_distance(m, f)
               - sqrt((SELECT min((f[1] - (m).centroids[c][1])^2 + (f[2] - (m).centroids[c][2])^2) FROM generate_series(1, 3) c)))) < 1e-12 AS distance_ok
  FROM km_pts, m;
-- The inertia is the weighted sum of squared distances; a weight of 2 on every row doubles it.
WITH m1 AS (SELECT customer_segment.kmeans_fit(f, 3, 42) AS m FROM km_pts),
     m2 AS (SELECT customer_segment.kmeans_fit(f, 3, 42, 'none', 2) AS m FROM km_pts)
SELECT abs((SELECT sum(customer_segment.kmeans_distance(m, f)^2) FROM km_pts, m1) - (m1.m).inertia) < 1e-6 * (m1.m).inertia AS inertia_ok,
       abs((m2.m).inertia - 2 * (m1.m).inertia) < 1e-9 * (m1.m).inertia AS weight_ok
  FROM m1, m2;
-- Transforms: zscore centres and scales every dimension (population standard deviation).
WITH m AS (SELECT customer_segment.kmeans_fit(f, 3, 42, 'zscore') AS m FROM km_pts)
SELECT abs((m).shift[1] - (SELECT avg(f[1]) FROM km_pts)) < 1e-9 AS mean_ok,
       abs((m).scale[2] - (SELECT stddev_pop(f[2]) FROM km_pts)) < 1e-9 AS sd_ok FROM m;
-- Choosing k: the silhouette is best at the true k.
SELECT k, silhouette_points, round(silhouette::numeric, 3) AS silhouette
  FROM unnest((SELECT customer_segment.kmeans_scan(f, 2, 5, 42) FROM km_pts)) ORDER BY k;
-- NULL rows and zero weights are skipped; no row gives NULL.
SELECT (customer_segment.kmeans_fit(CASE WHEN g <= 10 THEN NULL ELSE f END, 3, 42)).rows FROM km_pts;
SELECT customer_segment.kmeans_fit(f, 3) IS NULL AS empty_is_null FROM km_pts WHERE false;

-- Bad input is an error with its SQLSTATE.
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT pg_temp.sqlstate_of(q) FROM (VALUES
    ('SELECT customer_segment.kmeans_fit(f, 0) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(f, 1001) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(f, NULL) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(f, 3, 1, ''logit'') FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(f, 2 + g % 2) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(f, 3, g) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(CASE WHEN g = 5 THEN ARRAY[1.0] ELSE f END, 3) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(CASE WHEN g = 5 THEN ARRAY[1, ''NaN'']::float8[] ELSE f END, 3) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(CASE WHEN g = 5 THEN ARRAY[1, NULL]::float8[] ELSE f END, 3) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(ARRAY[[1, 2], [3, 4]]::float8[], 1) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(''{}''::float8[], 1) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(f, 3, 1, ''log1p'') FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(f, 3, 1, ''none'', -1) FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(f, 3, 1, ''none'', ''Infinity'') FROM km_pts'),
    ('SELECT customer_segment.kmeans_fit(f, 5) FROM km_pts WHERE g <= 4'),
    ('SELECT customer_segment.kmeans_scan(f, 4, 3) FROM km_pts'),
    ('SELECT customer_segment.kmeans_assign(m, ARRAY[1.0]) FROM (SELECT customer_segment.kmeans_fit(f, 3) m FROM km_pts) x'),
    -- features whose squares overflow: an error, not garbage centroids or an infinite inertia
    ('SELECT customer_segment.kmeans_fit(ARRAY[1e308, 1e308]::float8[], 3, 0, ''zscore'') FROM km_pts WHERE g <= 40'),
    ('SELECT customer_segment.kmeans_fit(ARRAY[g * 1e200, 1]::float8[], 3, 0, ''none'') FROM km_pts WHERE g <= 40'),
    ('SELECT customer_segment.kmeans_scan(ARRAY[g * 1e200, 1]::float8[], 2, 3) FROM km_pts WHERE g <= 40')
) v(q);

-- Parallel plans (partial states in workers, combined in the leader) give the serial model exactly.
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE km_serial AS
SELECT customer_segment.kmeans_fit(f, 4, 7, 'minmax')::text AS m,
       customer_segment.kmeans_scan(f, 2, 3, 7)::text AS s FROM km_pts;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
EXPLAIN (COSTS OFF) SELECT customer_segment.kmeans_fit(f, 4, 7, 'minmax') FROM km_pts;
SELECT (SELECT m FROM km_serial) = customer_segment.kmeans_fit(f, 4, 7, 'minmax')::text AS fit_same,
       (SELECT s FROM km_serial) = customer_segment.kmeans_scan(f, 2, 3, 7)::text AS scan_same
  FROM km_pts;
-- A seed that differs between partial states is caught in combine too.
SELECT pg_temp.sqlstate_of('SELECT customer_segment.kmeans_fit(f, 3, (g > 1500)::int) FROM km_pts');
RESET ALL;
DROP TABLE km_pts;

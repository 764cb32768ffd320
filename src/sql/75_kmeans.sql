-- Behavioural clusters: k-means on feature vectors (doc/clusters.md).

CREATE TYPE customer_segment.kmeans_model AS (
    k integer, dims integer, centroids float8[], inertia float8, iterations integer, converged boolean,
    sizes float8[], transform text, shift float8[], scale float8[], rows bigint, points bigint, seed bigint);
COMMENT ON TYPE customer_segment.kmeans_model IS
    'Fitted k-means model: centroids (k x dims) in the transformed space, where a feature vector x becomes '
    '(f(x) - shift) / scale, f = log1p for the log1p transforms; inertia and sizes by weight; rows fitted and points kept';
CREATE TYPE customer_segment.kmeans_k_score AS (k integer, inertia float8, silhouette float8, silhouette_points bigint);
COMMENT ON TYPE customer_segment.kmeans_k_score IS
    'One k of kmeans_scan: the best inertia of the restarts and the mean silhouette on silhouette_points points';

CREATE TYPE customer_segment.kmeans_state;
CREATE FUNCTION customer_segment.kmeans_state_in(cstring) RETURNS customer_segment.kmeans_state
    AS 'MODULE_PATHNAME', 'kmeans_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_state_out(customer_segment.kmeans_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'kmeans_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_state_recv(internal) RETURNS customer_segment.kmeans_state
    AS 'MODULE_PATHNAME', 'kmeans_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_state_send(customer_segment.kmeans_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'kmeans_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE customer_segment.kmeans_state (INPUT = customer_segment.kmeans_state_in,
    OUTPUT = customer_segment.kmeans_state_out, RECEIVE = customer_segment.kmeans_state_recv, SEND = customer_segment.kmeans_state_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended);
COMMENT ON TYPE customer_segment.kmeans_state IS
    'State of kmeans_fit and kmeans_scan: k, seed, transform, and the weighted points kept (a priority sample beyond 1M)';
CREATE FUNCTION customer_segment.kmeans_combine(customer_segment.kmeans_state, customer_segment.kmeans_state)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_fit_final(customer_segment.kmeans_state)
RETURNS customer_segment.kmeans_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_scan_final(customer_segment.kmeans_state)
RETURNS customer_segment.kmeans_k_score[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION customer_segment.kmeans_fit_trans(customer_segment.kmeans_state, features float8[], k integer)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME', 'kmeans_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.kmeans_fit(features float8[], k integer) (
    SFUNC = customer_segment.kmeans_fit_trans, STYPE = customer_segment.kmeans_state,
    FINALFUNC = customer_segment.kmeans_fit_final, COMBINEFUNC = customer_segment.kmeans_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.kmeans_fit(features float8[], k integer) IS
    'k-means of the feature vectors: k-means++ seeding from seed (default 0), best of 10 restarts, Lloyd to tol 1e-4; transform none (default), zscore, minmax, log1p, log1p+zscore or log1p+minmax; optional weight; NULL rows skipped';
CREATE FUNCTION customer_segment.kmeans_fit_trans(customer_segment.kmeans_state, features float8[], k integer, seed bigint)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME', 'kmeans_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.kmeans_fit(features float8[], k integer, seed bigint) (
    SFUNC = customer_segment.kmeans_fit_trans, STYPE = customer_segment.kmeans_state,
    FINALFUNC = customer_segment.kmeans_fit_final, COMBINEFUNC = customer_segment.kmeans_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.kmeans_fit(features float8[], k integer, seed bigint) IS
    'k-means of the feature vectors: k-means++ seeding from seed (default 0), best of 10 restarts, Lloyd to tol 1e-4; transform none (default), zscore, minmax, log1p, log1p+zscore or log1p+minmax; optional weight; NULL rows skipped';
CREATE FUNCTION customer_segment.kmeans_fit_trans(customer_segment.kmeans_state, features float8[], k integer, seed bigint, transform text)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME', 'kmeans_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.kmeans_fit(features float8[], k integer, seed bigint, transform text) (
    SFUNC = customer_segment.kmeans_fit_trans, STYPE = customer_segment.kmeans_state,
    FINALFUNC = customer_segment.kmeans_fit_final, COMBINEFUNC = customer_segment.kmeans_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.kmeans_fit(features float8[], k integer, seed bigint, transform text) IS
    'k-means of the feature vectors: k-means++ seeding from seed (default 0), best of 10 restarts, Lloyd to tol 1e-4; transform none (default), zscore, minmax, log1p, log1p+zscore or log1p+minmax; optional weight; NULL rows skipped';
CREATE FUNCTION customer_segment.kmeans_fit_trans(customer_segment.kmeans_state, features float8[], k integer, seed bigint, transform text, weight float8)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME', 'kmeans_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.kmeans_fit(features float8[], k integer, seed bigint, transform text, weight float8) (
    SFUNC = customer_segment.kmeans_fit_trans, STYPE = customer_segment.kmeans_state,
    FINALFUNC = customer_segment.kmeans_fit_final, COMBINEFUNC = customer_segment.kmeans_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.kmeans_fit(features float8[], k integer, seed bigint, transform text, weight float8) IS
    'k-means of the feature vectors: k-means++ seeding from seed (default 0), best of 10 restarts, Lloyd to tol 1e-4; transform none (default), zscore, minmax, log1p, log1p+zscore or log1p+minmax; optional weight; NULL rows skipped';
CREATE FUNCTION customer_segment.kmeans_scan_trans(customer_segment.kmeans_state, features float8[], k_min integer, k_max integer)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME', 'kmeans_scan_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.kmeans_scan(features float8[], k_min integer, k_max integer) (
    SFUNC = customer_segment.kmeans_scan_trans, STYPE = customer_segment.kmeans_state,
    FINALFUNC = customer_segment.kmeans_scan_final, COMBINEFUNC = customer_segment.kmeans_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.kmeans_scan(features float8[], k_min integer, k_max integer) IS
    'For every k from k_min to k_max: the inertia of kmeans_fit and the mean silhouette (exact up to 4,000 points, else on a seeded sample of 4,000), to choose k by the elbow or the best silhouette';
CREATE FUNCTION customer_segment.kmeans_scan_trans(customer_segment.kmeans_state, features float8[], k_min integer, k_max integer, seed bigint)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME', 'kmeans_scan_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.kmeans_scan(features float8[], k_min integer, k_max integer, seed bigint) (
    SFUNC = customer_segment.kmeans_scan_trans, STYPE = customer_segment.kmeans_state,
    FINALFUNC = customer_segment.kmeans_scan_final, COMBINEFUNC = customer_segment.kmeans_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.kmeans_scan(features float8[], k_min integer, k_max integer, seed bigint) IS
    'For every k from k_min to k_max: the inertia of kmeans_fit and the mean silhouette (exact up to 4,000 points, else on a seeded sample of 4,000), to choose k by the elbow or the best silhouette';
CREATE FUNCTION customer_segment.kmeans_scan_trans(customer_segment.kmeans_state, features float8[], k_min integer, k_max integer, seed bigint, transform text)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME', 'kmeans_scan_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.kmeans_scan(features float8[], k_min integer, k_max integer, seed bigint, transform text) (
    SFUNC = customer_segment.kmeans_scan_trans, STYPE = customer_segment.kmeans_state,
    FINALFUNC = customer_segment.kmeans_scan_final, COMBINEFUNC = customer_segment.kmeans_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.kmeans_scan(features float8[], k_min integer, k_max integer, seed bigint, transform text) IS
    'For every k from k_min to k_max: the inertia of kmeans_fit and the mean silhouette (exact up to 4,000 points, else on a seeded sample of 4,000), to choose k by the elbow or the best silhouette';
CREATE FUNCTION customer_segment.kmeans_scan_trans(customer_segment.kmeans_state, features float8[], k_min integer, k_max integer, seed bigint, transform text, weight float8)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME', 'kmeans_scan_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.kmeans_scan(features float8[], k_min integer, k_max integer, seed bigint, transform text, weight float8) (
    SFUNC = customer_segment.kmeans_scan_trans, STYPE = customer_segment.kmeans_state,
    FINALFUNC = customer_segment.kmeans_scan_final, COMBINEFUNC = customer_segment.kmeans_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.kmeans_scan(features float8[], k_min integer, k_max integer, seed bigint, transform text, weight float8) IS
    'For every k from k_min to k_max: the inertia of kmeans_fit and the mean silhouette (exact up to 4,000 points, else on a seeded sample of 4,000), to choose k by the elbow or the best silhouette';

CREATE FUNCTION customer_segment.kmeans_assign(model customer_segment.kmeans_model, features float8[])
RETURNS integer AS 'MODULE_PATHNAME', 'kmeans_assign_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.kmeans_assign(customer_segment.kmeans_model, float8[]) IS
    'Cluster 1..k of a feature vector: the nearest centroid after the model''s transform (the lowest on ties)';
CREATE FUNCTION customer_segment.kmeans_distance(model customer_segment.kmeans_model, features float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'kmeans_distance_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.kmeans_distance(customer_segment.kmeans_model, float8[]) IS
    'Euclidean distance, in the transformed space, from a feature vector to its nearest centroid';

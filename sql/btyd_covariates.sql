\set SHOW_CONTEXT never
-- Covariate fits: what is skipped, what is refused, and the state as a value (test/t/covariates.t checks the numbers).
CREATE SCHEMA cov_shop;
SELECT customers_created FROM customer_segment.create_sample_store('cov_shop', 600, 3);
CREATE TEMP TABLE h AS
SELECT customer_id AS id, (s).frequency::float8 AS x, (s).recency AS tx, (s).t, (customer_id % 2)::float8 AS z1,
       ((customer_id % 5) - 2)::float8 / 2 AS z2, (s).monetary_value AS spend
  FROM (SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'week', 'UTC') AS s
          FROM cov_shop.orders GROUP BY 1) q
 WHERE (s).orders > 0;
-- rows with a NULL (field or whole array) are skipped
SELECT round((m).r::numeric, 6) AS r, round((m).purchase_coefficients[1]::numeric, 6) AS g1, (m).customers
  FROM (SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, CASE WHEN id > 500 THEN NULL ELSE ARRAY[z1] END, ARRAY[z2]) AS m FROM h) s;
SELECT (m).customers FROM (SELECT customer_segment.pareto_nbd_covariate_fit(x, CASE WHEN id > 520 THEN NULL ELSE tx END, t, ARRAY[z1], '{}') AS m FROM h) s;
-- no rows, only NULL rows: NULL
SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[z1], ARRAY[z2]) IS NULL AS no_rows FROM h WHERE false;
SELECT customer_segment.gamma_gamma_covariate_fit(x, spend, NULL) IS NULL AS only_null_rows FROM h;
-- a covariate constant over all customers: coefficient 0 and a NOTICE
SELECT (m).dropout_coefficients FROM (SELECT customer_segment.pareto_nbd_covariate_fit(x, tx, t, ARRAY[z1], ARRAY[3.5]) AS m FROM h) s;
-- refused
SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[z1, NULL], ARRAY[z2]) FROM h;
SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[[z1]], ARRAY[z2]) FROM h;
SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[z1, 1, 2, 3, 4, 5, 6, 7, 8], ARRAY[z2]) FROM h;
SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY['NaN'::float8], ARRAY[z2]) FROM h;
SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, CASE WHEN id % 97 = 5 THEN ARRAY[z1, z1] ELSE ARRAY[z1] END, ARRAY[z2]) FROM h;
SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[z1], ARRAY[z2], CASE WHEN id % 97 = 5 THEN 0.1 ELSE 0 END) FROM h;
SELECT customer_segment.bgnbd_covariate_fit(x, tx + 100, t, ARRAY[z1], ARRAY[z2]) FROM h;
SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[z1], ARRAY[z2], -1) FROM h;
SELECT customer_segment.gamma_gamma_covariate_fit(x, -spend, ARRAY[z1]) FROM h WHERE x > 0;
SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[z1], ARRAY[z2]) FROM h WHERE id < 8;
SELECT customer_segment.covariate_scale(ARRAY[0.5, 1], ARRAY[1.0]);
SELECT customer_segment.covariate_scale(ARRAY[1000.0], ARRAY[1000.0]);
SELECT customer_segment.covariate_scale(ARRAY[0.5, -1], ARRAY[2.0, 0.5]) AS one;
-- btyd_analyze: covariates for BG/NBD and Pareto/NBD only, from a relation with the four columns
CREATE TEMP TABLE feats AS SELECT id AS customer_id, ARRAY[z1] AS purchase_covariates, ARRAY[z2] AS dropout_covariates FROM h;
SELECT count(*) FROM customer_segment.btyd_analyze('cov_shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30',
                                                   model => 'mbgnbd', covariates => 'feats');
SELECT count(*) FROM customer_segment.btyd_analyze('cov_shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30',
                                                   covariates => 'feats');
-- the state as a value: stored through its text form, combined, and finalised, it gives the same fit
CREATE AGGREGATE pg_temp.cov_state(float8, float8, float8, float8[], float8[]) (
    SFUNC = customer_segment.bgnbd_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    COMBINEFUNC = customer_segment.btyd_covariate_fit_combine);
CREATE TEMP TABLE stored AS
SELECT id % 3 AS part, pg_temp.cov_state(x, tx, t, ARRAY[z1], ARRAY[z2])::text AS state FROM h GROUP BY 1;
CREATE AGGREGATE pg_temp.cov_merge(customer_segment.btyd_covariate_fit_state) (
    SFUNC = customer_segment.btyd_covariate_fit_combine, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.bgnbd_cov_fit_final);
SELECT (SELECT pg_temp.cov_merge(state::customer_segment.btyd_covariate_fit_state) FROM stored)
     = (SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[z1], ARRAY[z2]) FROM h) AS same_fit;
SELECT 'AAAA'::customer_segment.btyd_covariate_fit_state;
SELECT 'not base64!'::customer_segment.btyd_covariate_fit_state;
DROP SCHEMA cov_shop CASCADE;

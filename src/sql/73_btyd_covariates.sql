-- BG/NBD, Pareto/NBD and Gamma-Gamma with time-invariant customer covariates (doc/btyd.md, "Covariates"): a
-- customer's covariates scale the plain model's parameters by exp(coefficients . covariates),
--   BG/NBD      alpha_i = alpha exp(-g_p . z_p), a_i = a exp(g_a . z_d), b_i = b exp(g_b . z_d)
--   Pareto/NBD  alpha_i = alpha exp(-g_p . z_p), beta_i = beta exp(-g_d . z_d)
--   Gamma-Gamma gamma_i = gamma exp(g . z)
-- and every prediction of the plain model holds for the customer with those parameters: *_customer_model gives
-- them as the plain model type.

CREATE TYPE customer_segment.bgnbd_covariate_model AS (
    r float8, alpha float8, a float8, b float8,
    purchase_coefficients float8[], dropout_coefficients_a float8[], dropout_coefficients_b float8[],
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.bgnbd_covariate_model IS
    'Fitted BG/NBD model with covariates: a customer''s purchase rate ~ Gamma(r, alpha exp(-purchase_coefficients . purchase_covariates)), '
    'dropout probability ~ Beta(a exp(dropout_coefficients_a . dropout_covariates), b exp(dropout_coefficients_b . dropout_covariates)); '
    'bgnbd_customer_model gives a customer''s bgnbd_model';
CREATE TYPE customer_segment.pareto_nbd_covariate_model AS (
    r float8, alpha float8, s float8, beta float8,
    purchase_coefficients float8[], dropout_coefficients float8[],
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.pareto_nbd_covariate_model IS
    'Fitted Pareto/NBD model with covariates: a customer''s purchase rate ~ Gamma(r, alpha exp(-purchase_coefficients . purchase_covariates)), '
    'dropout rate ~ Gamma(s, beta exp(-dropout_coefficients . dropout_covariates)); pareto_nbd_customer_model gives a customer''s pareto_nbd_model';
CREATE TYPE customer_segment.gamma_gamma_covariate_model AS (
    p float8, q float8, gamma float8, spend_coefficients float8[],
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.gamma_gamma_covariate_model IS
    'Fitted Gamma-Gamma spend model with covariates: a customer''s scale gamma exp(spend_coefficients . covariates), so the mean spend '
    'p gamma / (q - 1) is multiplied by exp(spend_coefficients . covariates); gamma_gamma_customer_model gives a customer''s gamma_gamma_model';

CREATE TYPE customer_segment.btyd_covariate_fit_state;
CREATE FUNCTION customer_segment.btyd_covariate_fit_state_in(cstring) RETURNS customer_segment.btyd_covariate_fit_state
    AS 'MODULE_PATHNAME', 'btyd_covariate_fit_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.btyd_covariate_fit_state_out(customer_segment.btyd_covariate_fit_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'btyd_covariate_fit_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.btyd_covariate_fit_state_recv(internal) RETURNS customer_segment.btyd_covariate_fit_state
    AS 'MODULE_PATHNAME', 'btyd_covariate_fit_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.btyd_covariate_fit_state_send(customer_segment.btyd_covariate_fit_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'btyd_covariate_fit_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE customer_segment.btyd_covariate_fit_state (INPUT = customer_segment.btyd_covariate_fit_state_in,
    OUTPUT = customer_segment.btyd_covariate_fit_state_out, RECEIVE = customer_segment.btyd_covariate_fit_state_recv, SEND = customer_segment.btyd_covariate_fit_state_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended);
COMMENT ON TYPE customer_segment.btyd_covariate_fit_state IS
    'State of the BTYD covariate fits: the penalizer, the rows skipped, the number of covariates per block and the weighted distinct rows (covariates, frequency, recency or monetary_value, T)';
CREATE FUNCTION customer_segment.btyd_covariate_fit_combine(customer_segment.btyd_covariate_fit_state,
    customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_covariate_fit_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_cov_fit_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.bgnbd_covariate_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_cov_fit_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.pareto_nbd_covariate_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_cov_fit_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.gamma_gamma_covariate_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_cov_uncertainty_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_cov_uncertainty_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_cov_uncertainty_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION customer_segment.bgnbd_cov_fit_trans(customer_segment.btyd_covariate_fit_state, frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[])
RETURNS customer_segment.btyd_covariate_fit_state AS 'MODULE_PATHNAME', 'bgnbd_cov_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.bgnbd_covariate_fit(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]) (
    SFUNC = customer_segment.bgnbd_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.bgnbd_cov_fit_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgnbd_covariate_fit(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]) IS
    'Maximum-likelihood BG/NBD fit with time-invariant covariates (up to 8 per array) on the purchase rate and on the dropout probability; rows with a NULL are skipped; state holds weighted distinct (covariates, history) rows';
CREATE FUNCTION customer_segment.bgnbd_cov_fit_trans(customer_segment.btyd_covariate_fit_state, frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8)
RETURNS customer_segment.btyd_covariate_fit_state AS 'MODULE_PATHNAME', 'bgnbd_cov_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.bgnbd_covariate_fit(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8) (
    SFUNC = customer_segment.bgnbd_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.bgnbd_cov_fit_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgnbd_covariate_fit(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8) IS
    'Maximum-likelihood BG/NBD fit with time-invariant covariates (up to 8 per array) on the purchase rate and on the dropout probability; rows with a NULL are skipped; state holds weighted distinct (covariates, history) rows';
CREATE AGGREGATE customer_segment.pareto_nbd_covariate_fit(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]) (
    SFUNC = customer_segment.bgnbd_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.pnbd_cov_fit_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.pareto_nbd_covariate_fit(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]) IS
    'Maximum-likelihood Pareto/NBD fit with time-invariant covariates (up to 8 per array) on the purchase and dropout rates; rows with a NULL are skipped; state holds weighted distinct (covariates, history) rows';
CREATE AGGREGATE customer_segment.pareto_nbd_covariate_fit(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8) (
    SFUNC = customer_segment.bgnbd_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.pnbd_cov_fit_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.pareto_nbd_covariate_fit(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8) IS
    'Maximum-likelihood Pareto/NBD fit with time-invariant covariates (up to 8 per array) on the purchase and dropout rates; rows with a NULL are skipped; state holds weighted distinct (covariates, history) rows';
CREATE FUNCTION customer_segment.gg_cov_fit_trans(customer_segment.btyd_covariate_fit_state, frequency float8, monetary_value float8, covariates float8[])
RETURNS customer_segment.btyd_covariate_fit_state AS 'MODULE_PATHNAME', 'gg_cov_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.gamma_gamma_covariate_fit(frequency float8, monetary_value float8, covariates float8[]) (
    SFUNC = customer_segment.gg_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.gg_cov_fit_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.gamma_gamma_covariate_fit(frequency float8, monetary_value float8, covariates float8[]) IS
    'Maximum-likelihood Gamma-Gamma fit with time-invariant covariates (up to 8) on the scale of spend, over customers with frequency > 0 (others and rows with a NULL are skipped)';
CREATE FUNCTION customer_segment.gg_cov_fit_trans(customer_segment.btyd_covariate_fit_state, frequency float8, monetary_value float8, covariates float8[], penalizer float8)
RETURNS customer_segment.btyd_covariate_fit_state AS 'MODULE_PATHNAME', 'gg_cov_fit_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.gamma_gamma_covariate_fit(frequency float8, monetary_value float8, covariates float8[], penalizer float8) (
    SFUNC = customer_segment.gg_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.gg_cov_fit_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.gamma_gamma_covariate_fit(frequency float8, monetary_value float8, covariates float8[], penalizer float8) IS
    'Maximum-likelihood Gamma-Gamma fit with time-invariant covariates (up to 8) on the scale of spend, over customers with frequency > 0 (others and rows with a NULL are skipped)';
CREATE AGGREGATE customer_segment.bgnbd_covariate_fit_uncertainty(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]) (
    SFUNC = customer_segment.bgnbd_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.bgnbd_cov_uncertainty_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgnbd_covariate_fit_uncertainty(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]) IS
    'bgnbd_covariate_fit with standard errors and 95% intervals of r, alpha, a, b (log scale) and of every coefficient (linear scale)';
CREATE AGGREGATE customer_segment.bgnbd_covariate_fit_uncertainty(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8) (
    SFUNC = customer_segment.bgnbd_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.bgnbd_cov_uncertainty_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.bgnbd_covariate_fit_uncertainty(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8) IS
    'bgnbd_covariate_fit with standard errors and 95% intervals of r, alpha, a, b (log scale) and of every coefficient (linear scale)';
CREATE AGGREGATE customer_segment.pareto_nbd_covariate_fit_uncertainty(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]) (
    SFUNC = customer_segment.bgnbd_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.pnbd_cov_uncertainty_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.pareto_nbd_covariate_fit_uncertainty(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]) IS
    'pareto_nbd_covariate_fit with standard errors and 95% intervals of r, alpha, s, beta (log scale) and of every coefficient (linear scale)';
CREATE AGGREGATE customer_segment.pareto_nbd_covariate_fit_uncertainty(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8) (
    SFUNC = customer_segment.bgnbd_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.pnbd_cov_uncertainty_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.pareto_nbd_covariate_fit_uncertainty(frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8) IS
    'pareto_nbd_covariate_fit with standard errors and 95% intervals of r, alpha, s, beta (log scale) and of every coefficient (linear scale)';
CREATE AGGREGATE customer_segment.gamma_gamma_covariate_fit_uncertainty(frequency float8, monetary_value float8, covariates float8[]) (
    SFUNC = customer_segment.gg_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.gg_cov_uncertainty_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.gamma_gamma_covariate_fit_uncertainty(frequency float8, monetary_value float8, covariates float8[]) IS
    'gamma_gamma_covariate_fit with standard errors and 95% intervals of p, q, gamma (log scale) and of every coefficient (linear scale)';
CREATE AGGREGATE customer_segment.gamma_gamma_covariate_fit_uncertainty(frequency float8, monetary_value float8, covariates float8[], penalizer float8) (
    SFUNC = customer_segment.gg_cov_fit_trans, STYPE = customer_segment.btyd_covariate_fit_state,
    FINALFUNC = customer_segment.gg_cov_uncertainty_final, COMBINEFUNC = customer_segment.btyd_covariate_fit_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.gamma_gamma_covariate_fit_uncertainty(frequency float8, monetary_value float8, covariates float8[], penalizer float8) IS
    'gamma_gamma_covariate_fit with standard errors and 95% intervals of p, q, gamma (log scale) and of every coefficient (linear scale)';

CREATE FUNCTION customer_segment.covariate_scale(coefficients float8[], covariates float8[])
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.covariate_scale(float8[], float8[]) IS
    'exp(sum_j coefficients[j] * covariates[j]): the factor a customer''s covariates scale a base parameter by; both arrays of one length';

CREATE FUNCTION customer_segment.bgnbd_customer_model(model customer_segment.bgnbd_covariate_model,
    purchase_covariates float8[], dropout_covariates float8[])
RETURNS customer_segment.bgnbd_model LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ROW(model.r, model.alpha / customer_segment.covariate_scale(model.purchase_coefficients, purchase_covariates),
           model.a * customer_segment.covariate_scale(model.dropout_coefficients_a, dropout_covariates),
           model.b * customer_segment.covariate_scale(model.dropout_coefficients_b, dropout_covariates),
           model.log_likelihood, model.customers, model.distinct_rows, model.iterations, model.converged)::customer_segment.bgnbd_model;
COMMENT ON FUNCTION customer_segment.bgnbd_customer_model(customer_segment.bgnbd_covariate_model, float8[], float8[]) IS
    'The BG/NBD model of a customer with these covariates (r, alpha exp(-g_p . z_p), a exp(g_a . z_d), b exp(g_b . z_d)): '
    'pass it to bgnbd_p_alive, bgnbd_expected_purchases, bgnbd_clv and the other BG/NBD predictions';
CREATE FUNCTION customer_segment.pareto_nbd_customer_model(model customer_segment.pareto_nbd_covariate_model,
    purchase_covariates float8[], dropout_covariates float8[])
RETURNS customer_segment.pareto_nbd_model LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ROW(model.r, model.alpha / customer_segment.covariate_scale(model.purchase_coefficients, purchase_covariates),
           model.s, model.beta / customer_segment.covariate_scale(model.dropout_coefficients, dropout_covariates),
           model.log_likelihood, model.customers, model.distinct_rows, model.iterations, model.converged)::customer_segment.pareto_nbd_model;
COMMENT ON FUNCTION customer_segment.pareto_nbd_customer_model(customer_segment.pareto_nbd_covariate_model, float8[], float8[]) IS
    'The Pareto/NBD model of a customer with these covariates (r, alpha exp(-g_p . z_p), s, beta exp(-g_d . z_d)): '
    'pass it to pareto_nbd_p_alive, pareto_nbd_expected_purchases and the other Pareto/NBD predictions';
CREATE FUNCTION customer_segment.gamma_gamma_customer_model(model customer_segment.gamma_gamma_covariate_model,
    covariates float8[])
RETURNS customer_segment.gamma_gamma_model LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ROW(model.p, model.q, model.gamma * customer_segment.covariate_scale(model.spend_coefficients, covariates),
           model.log_likelihood, model.customers, model.distinct_rows, model.iterations, model.converged)::customer_segment.gamma_gamma_model;
COMMENT ON FUNCTION customer_segment.gamma_gamma_customer_model(customer_segment.gamma_gamma_covariate_model, float8[]) IS
    'The Gamma-Gamma model of a customer with these covariates (p, q, gamma exp(g . z)): pass it to gamma_gamma_expected_spend';

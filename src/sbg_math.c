/*
 * sbg_math.c: the shifted-beta-geometric (sBG) model of contractual retention (Fader & Hardie, "How to
 * project customer retention", 2007) and its discounted expected residual lifetime (Fader & Hardie,
 * "Customer-base valuation in a contractual setting", 2010), free of fmgr.
 *
 * A customer pays at the start of each period of her contract.  At the end of every period she cancels with
 * probability theta, the same for her each period, theta ~ Beta(alpha, beta) across customers.  T, the last
 * period she pays for, is shifted-geometric:
 *   P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)   (t = 1, 2, ...)
 *   S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta)      (S(0) = 1),
 * and the retention rate of period t is r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1).
 * A history is (renewals k, churned): she renewed k times, then cancelled (T = k + 1) or is still active
 * (T > k).  As fit rows (fit_math.h): x = k, tx = 1 when she cancelled, 0 when active, T = 0.
 */
#include "btyd_math.h"

#include <math.h>

static double
lbeta(double a, double b)
{
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/*
 * log P(T = k + 1) (churned) or log S(k) (active), and their derivatives in (alpha, beta):
 *   churned  lB(alpha + 1, beta + k) - lB(alpha, beta)
 *   active   lB(alpha, beta + k) - lB(alpha, beta)
 */
double
sbg_loglik_grad(const double *p, double k, bool churned, double *grad)
{
	double		alpha = p[0],
				beta = p[1],
				a = churned ? alpha + 1 : alpha;

	if (grad != NULL)
	{
		double		common = digamma(alpha + beta) - digamma(a + beta + k);

		grad[0] = digamma(a) - digamma(alpha) + common;
		grad[1] = digamma(beta + k) - digamma(beta) + common;
	}
	return lbeta(a, beta + k) - lbeta(alpha, beta);
}

static double
sbg_objective(const double *theta, double *grad, const void *vctx)
{
	FitCtx	   *ctx = (FitCtx *) vctx;
	double		params[2] = {exp(theta[0]), exp(theta[1])};
	double		ll = 0,
				g[2] = {0, 0};

	for (int64_t i = 0; i < ctx->rows->n; i++)
	{
		const BtydRow *row = &ctx->rows->rows[i];
		double		gi[2];

		if ((i & 0xFFFF) == 0)
			cs_check_interrupts();
		ll += row->w * sbg_loglik_grad(params, row->x, row->tx != 0, gi);
		g[0] += row->w * gi[0];
		g[1] += row->w * gi[1];
	}
	return penalised_objective(ctx, ll, g, params, 2, grad);
}

const BtydModelSpec sbg_spec = {sbg_objective, 2, {"alpha", "beta"}, 0x3, NULL};	/* both are Beta shapes */

double
sbg_survival(const double *p, double t)
{
	return exp(lbeta(p[0], p[1] + t) - lbeta(p[0], p[1]));
}

double
sbg_churn_probability(const double *p, double t)
{
	return exp(lbeta(p[0] + 1, p[1] + t - 1) - lbeta(p[0], p[1]));
}

double
sbg_retention(const double *p, double t)
{
	return (p[1] + t - 1) / (p[0] + p[1] + t - 1);
}

/*
 * DERL of an active customer who has renewed k times: the renewals still to come, the next one (due at the
 * end of her current period, k + 1) counted in full and each later one discounted by one more factor
 * 1 / (1 + d):
 *   DERL = sum_{j >= 0} S(k + 1 + j) / S(k) / (1 + d)^j
 *        = (beta + k) / (alpha + beta + k) 2F1(1, beta + k + 1; alpha + beta + k + 1; 1 / (1 + d))
 * (Fader & Hardie 2010, with n - 1 = k renewals).  d = 0 gives the expected number of renewals still to
 * come, (beta + k) / (alpha - 1), infinite when alpha <= 1 (the heavy tail of loyal customers).  NaN when
 * the series does not converge.
 */
double
sbg_derl(const double *p, double d, double k)
{
	double		alpha = p[0],
				beta = p[1];

	if (d == 0)
		return alpha > 1 ? (beta + k) / (alpha - 1) : INFINITY;
	return (beta + k) / (alpha + beta + k) * hyp2f1(1, beta + k + 1, alpha + beta + k + 1, 1 / (1 + d));
}

/*
 * The discounted expected number of payments of a customer just acquired, her first (now) included:
 * sum_{t >= 0} S(t) / (1 + d)^t = 1 + DERL(d, k = 0) / (1 + d).
 */
double
sbg_expected_payments_new(const double *p, double d)
{
	return 1 + sbg_derl(p, d, 0) / (1 + d);
}

/*
 * bgbb_math.c: the BG/BB model (Fader, Hardie & Shang 2010) of discrete
 * transaction opportunities: likelihood with its gradient, fit and
 * predictions (see btyd_math.h), free of fmgr.
 *
 * A customer alive in a period transacts in it with probability p ~ Beta(alpha,
 * beta) and, at the start of each period, dies with probability theta ~
 * Beta(gamma, delta).  A history is (x, t_x, n): x transactions in the n
 * opportunities after the first one, the last in opportunity t_x (0 when x = 0).
 */
#include "btyd_math.h"

#include <math.h>

#include "cs_math.h"

static double
lbeta(double a, double b)
{
	return lgamma(a) + lgamma(b) - lgamma(a + b);
}

/*
 * log E[p^i (1-p)^j theta^k (1-theta)^l] under the Beta(alpha, beta) and
 * Beta(gamma, delta) priors: the probability of one path (i transactions
 * and j misses while alive, k deaths, l survivals) that every formula here
 * sums.
 */
static double
log_path(const double *p, double i, double j, double k, double l)
{
	return lbeta(p[0] + i, p[1] + j) - lbeta(p[0], p[1]) + lbeta(p[2] + k, p[3] + l) - lbeta(p[2], p[3]);
}

/*
 * log L = log(e^T_alive + sum_{i=0}^{n-t_x-1} e^T_i) with
 *   T_alive = lB(alpha+x, beta+n-x) - lB(alpha, beta) + lB(gamma, delta+n) - lB(gamma, delta)
 *   T_i     = lB(alpha+x, beta+t_x-x+i) - lB(alpha, beta) + lB(gamma+1, delta+t_x+i) - lB(gamma, delta)
 * (alive through n, or dead at the start of opportunity t_x+i+1), and with
 * grad its derivatives in (alpha, beta, gamma, delta) through digamma.  T_i
 * and its digammas follow from T_{i-1} by lgamma(z+1) = lgamma(z) + log z and
 * digamma(z+1) = digamma(z) + 1/z; the sum is kept relative to its largest
 * term so far.
 */
double
bgbb_loglik_grad(const double *p, double x, double tx, double n, double *grad)
{
	double		alpha = p[0],
				beta = p[1],
				gamma = p[2],
				delta = p[3];
	double		m = log_path(p, x, n - x, 0, n);	/* alive through n */
	double		sum = 1,
				g[4] = {0, 0, 0, 0};
	int64_t		dead = (int64_t) (n - tx);
	/* T_0 and, with grad, the digammas of its arguments */
	double		ti = log_path(p, x, tx - x, 1, tx);
	double		u = beta + tx - x,	/* beta + t_x - x + i */
				v = alpha + beta + tx,	/* alpha + beta + t_x + i */
				y = delta + tx,		/* delta + t_x + i */
				z = gamma + delta + 1 + tx;	/* gamma + delta + 1 + t_x + i */
	double		dg_ax = 0,
				dg_u = 0,
				dg_v = 0,
				dg_g1 = 0,
				dg_y = 0,
				dg_z = 0;

	if (grad != NULL)
	{
		g[0] = digamma(alpha + x) - digamma(alpha + beta + n);
		g[1] = digamma(beta + n - x) - digamma(alpha + beta + n);
		g[2] = digamma(gamma) - digamma(gamma + delta + n);
		g[3] = digamma(delta + n) - digamma(gamma + delta + n);
		if (dead > 0)
		{
			dg_ax = digamma(alpha + x);
			dg_u = digamma(u);
			dg_v = digamma(v);
			dg_g1 = digamma(gamma + 1);
			dg_y = digamma(y);
			dg_z = digamma(z);
		}
	}
	for (int64_t i = 0; i < dead; i++)
	{
		double		w;

		if ((i & 4095) == 4095)
			cs_check_interrupts();
		if (ti > m)
		{
			double		scale = exp(m - ti);

			sum *= scale;
			for (int k = 0; k < 4; k++)
				g[k] *= scale;
			m = ti;
		}
		w = exp(ti - m);
		sum += w;
		if (grad != NULL)
		{
			g[0] += w * (dg_ax - dg_v);
			g[1] += w * (dg_u - dg_v);
			g[2] += w * (dg_g1 - dg_z);
			g[3] += w * (dg_y - dg_z);
			dg_u += 1 / u;
			dg_v += 1 / v;
			dg_y += 1 / y;
			dg_z += 1 / z;
		}
		ti += log(u) - log(v) + log(y) - log(z);
		u += 1;
		v += 1;
		y += 1;
		z += 1;
	}
	if (grad != NULL)
	{
		/* each term's derivative over their sum, plus that of the common -lB(alpha, beta) - lB(gamma, delta) */
		grad[0] = g[0] / sum - (digamma(alpha) - digamma(alpha + beta));
		grad[1] = g[1] / sum - (digamma(beta) - digamma(alpha + beta));
		grad[2] = g[2] / sum - (digamma(gamma) - digamma(gamma + delta));
		grad[3] = g[3] / sum - (digamma(delta) - digamma(gamma + delta));
	}
	return m + log(sum);
}

double
bgbb_loglik(const double *p, double x, double tx, double n)
{
	return bgbb_loglik_grad(p, x, tx, n, NULL);
}

static double
bgbb_objective(const double *theta, double *grad, const void *vctx)
{
	FitCtx	   *ctx = (FitCtx *) vctx;
	double		params[4];
	double		ll = 0,
				g[4] = {0, 0, 0, 0};

	for (int k = 0; k < 4; k++)
		params[k] = exp(theta[k]);
	for (int64_t i = 0; i < ctx->rows->n; i++)
	{
		const BtydRow *row = &ctx->rows->rows[i];
		double		gi[4];

		if ((i & 0xFFFF) == 0)
			cs_check_interrupts();
		ll += row->w * bgbb_loglik_grad(params, row->x, row->tx, row->T, gi);
		for (int k = 0; k < 4; k++)
			g[k] += row->w * gi[k];
	}
	return penalised_objective(ctx, ll, g, params, 4, grad);
}

const BtydModelSpec bgbb_spec = {bgbb_objective, 4, {"alpha", "beta", "gamma", "delta"}, 0xF, NULL};	/* all four are Beta shapes */

/* P(alive in opportunity n + 1 | x, t_x, n) = B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n+1)/B(gamma, delta) / L. */
double
bgbb_p_alive(const double *p, double x, double tx, double n)
{
	return exp(log_path(p, x, n - x, 0, n + 1) - bgbb_loglik(p, x, tx, n));
}

/*
 * Expected transactions in the next m opportunities: transacting in
 * opportunity n + k needs p and survival through n + k, so
 * E = B(alpha+x+1, beta+n-x)/B(alpha, beta) / L * sum_{k=1..m} B(gamma, delta+n+k)/B(gamma, delta),
 * the sum written out (no 1/(gamma-1) of the closed form, so gamma = 1 is no
 * special case).  m need not be whole: the last opportunity counts by its
 * fraction.  A new customer is x = t_x = n = 0 (L = 1).
 */
double
bgbb_expected(const double *p, double m, double x, double tx, double n)
{
	double		ll = bgbb_loglik(p, x, tx, n);
	double		sum = 0;
	int64_t		whole = (int64_t) floor(m);

	for (int64_t k = 1; k <= whole; k++)
	{
		if ((k & 4095) == 4095)
			cs_check_interrupts();
		sum += exp(log_path(p, x + 1, n - x, 0, n + k) - ll);
	}
	if (m > whole)
		sum += (m - whole) * exp(log_path(p, x + 1, n - x, 0, n + whole + 1) - ll);
	return sum;
}

double
bgbb_expected_new(const double *p, double m)
{
	return bgbb_expected(p, m, 0, 0, 0);
}

/* P(X(n) = x) for a new customer (FHS 2010 eq. 7): the history (0, 0, 0). */
double
bgbb_pmf_new(const double *p, int64_t n, int64_t x)
{
	return bgbb_pmf(p, n, x, 0, 0, 0);
}

/*
 * P(x* transactions in the next m opportunities | x, t_x, n): either gone
 * before opportunity n + 1 (x* = 0; the likelihood's terms other than
 * alive-through-n), or alive through n + m with x* of m, or gone at the start
 * of opportunity n + i + 1 after x* of i (i = x* .. m - 1):
 *   ([x* = 0] (L - A_n) + C(m, x*) B(a+x+x*, b+n-x+m-x*)/B(a, b) B(g, d+n+m)/B(g, d)
 *    + sum_i C(i, x*) B(a+x+x*, b+n-x+i-x*)/B(a, b) B(g+1, d+n+i)/B(g, d)) / L,
 * A_n = B(a+x, b+n-x)/B(a, b) B(g, d+n)/B(g, d).  A new customer (0, 0, 0)
 * gives FHS eq. 7.
 */
double
bgbb_pmf(const double *p, int64_t m, int64_t xs, double x, double tx, double n)
{
	double		ll = bgbb_loglik(p, x, tx, n);
	double		prob;

	if (xs > m)
		return 0;
	prob = exp(lgamma(m + 1.0) - lgamma(xs + 1.0) - lgamma(m - xs + 1.0) + log_path(p, x + xs, n - x + m - xs, 0, n + m) - ll);
	for (int64_t i = xs; i < m; i++)
	{
		if ((i & 4095) == 4095)
			cs_check_interrupts();
		prob += exp(lgamma(i + 1.0) - lgamma(xs + 1.0) - lgamma(i - xs + 1.0) + log_path(p, x + xs, n - x + i - xs, 1, n + i) - ll);
	}
	if (xs == 0)
		prob += -expm1(log_path(p, x, n - x, 0, n) - ll);
	return prob;
}

/*
 * Discounted expected residual transactions at a discount rate d > 0 per
 * opportunity (FHS 2010 eq. 14): transactions from opportunity n + 1 on, the
 * k-th discounted by (1 + d)^-k:
 *   B(alpha+x+1, beta+n-x)/B(alpha, beta) B(gamma, delta+n+1)/(B(gamma, delta) (1+d))
 *   2F1(1, delta+n+1; gamma+delta+n+1; 1/(1+d)) / L.
 */
double
bgbb_dert(const double *p, double d, double x, double tx, double n)
{
	return exp(log_path(p, x + 1, n - x, 0, n + 1) - log1p(d) + log_hyp2f1(1, p[3] + n + 1, p[2] + p[3] + n + 1, 1 / (1 + d))
			   - bgbb_loglik(p, x, tx, n));
}

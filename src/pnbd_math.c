/*
 * pnbd_math.c: the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987):
 * likelihood with its gradient, fit and predictions (see btyd_math.h), free
 * of fmgr.
 */
#include "btyd_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cs_math.h"

/*
 * log A0 of Fader & Hardie's Pareto/NBD likelihood note, in log space:
 * A0 = 2F1(r+s+x, k; r+s+x+1; |alpha-beta| / (m + t_x)) / (m + t_x)^(r+s+x)
 *    - 2F1(r+s+x, k; r+s+x+1; |alpha-beta| / (m + T)) / (m + T)^(r+s+x),
 * m = max(alpha, beta), k = s + 1 when alpha >= beta, r + x otherwise.  With
 * grad, also its derivatives in (r, alpha, s, beta), through those of log 2F1.
 */
static double
pnbd_log_a0(const double *p, double x, double tx, double T, double *grad)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	bool		alpha_hi = alpha >= beta;
	double		hi = alpha_hi ? alpha : beta;
	double		k = alpha_hi ? s + 1 : r + x;
	double		diff = fabs(alpha - beta);
	double		rsx = r + s + x;
	double		q[2] = {hi + tx, hi + T};
	Log2F1		f[2] = {log_hyp2f1_c_a1_grad(rsx, k, diff / q[0]), log_hyp2f1_c_a1_grad(rsx, k, diff / q[1])};
	double		L[2] = {f[0].v - rsx * log(q[0]), f[1].v - rsx * log(q[1])};
	double		la0 = logsubexp(L[0], L[1]);

	if (grad != NULL)
	{
		/* d log(e^L0 - e^L1) = w0 dL0 + w1 dL1 */
		double		rho = exp(L[1] - L[0]);
		double		w[2] = {1 / (1 - rho), -rho / (1 - rho)};
		/* per parameter (r, alpha, s, beta): d(r+s+x), dk, d max(alpha, beta), d |alpha - beta| */
		const double dm[4] = {1, 0, 1, 0};
		const double dk[4] = {alpha_hi ? 0 : 1, 0, alpha_hi ? 1 : 0, 0};
		const double dh[4] = {0, alpha_hi ? 1 : 0, 0, alpha_hi ? 0 : 1};
		const double dd[4] = {0, alpha_hi ? 1 : -1, 0, alpha_hi ? -1 : 1};

		for (int j = 0; j < 4; j++)
		{
			grad[j] = 0;
			if (la0 == -INFINITY)
				continue;		/* A0 = 0 (t_x = T): it carries no weight in the likelihood */
			for (int i = 0; i < 2; i++)
			{
				double		dz = dd[j] / q[i] - diff * dh[j] / (q[i] * q[i]);

				grad[j] += w[i] * (f[i].da * dm[j] + f[i].db * dk[j] + f[i].dz * dz
								   - dm[j] * log(q[i]) - rsx * dh[j] / q[i]);
			}
		}
	}
	return la0;
}

/* The log-likelihood of one history and, with grad, its derivatives in (r, alpha, s, beta). */
double
pnbd_loglik_grad(const double *p, double x, double tx, double T, double *grad)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		A1 = lgamma(r + x) - lgamma(r) + r * log(alpha) + s * log(beta);
	double		da0[4];
	double		la0 = pnbd_log_a0(p, x, tx, T, grad != NULL ? da0 : NULL);
	double		B = -(r + x) * log(alpha + T) - s * log(beta + T);
	double		C = log(s) + la0 - log(r + s + x);
	double		lse = logaddexp(B, C);

	if (grad != NULL)
	{
		double		wb = exp(B - lse),
					wc = exp(C - lse),
					m = r + s + x;

		grad[0] = digamma(r + x) - digamma(r) + log(alpha) - wb * log(alpha + T) + wc * (da0[0] - 1 / m);
		grad[1] = r / alpha - wb * (r + x) / (alpha + T) + wc * da0[1];
		grad[2] = log(beta) - wb * log(beta + T) + wc * (1 / s + da0[2] - 1 / m);
		grad[3] = s / beta - wb * s / (beta + T) + wc * da0[3];
	}
	return A1 + lse;
}

double
pnbd_loglik(const double *p, double x, double tx, double T)
{
	return pnbd_loglik_grad(p, x, tx, T, NULL);
}

static double
pnbd_objective(const double *theta, double *grad, const void *vctx)
{
	FitCtx	   *ctx = (FitCtx *) vctx;
	double		params[4];
	double		ll = 0,
				g[4] = {0, 0, 0, 0};

	for (int k = 0; k < 4; k++)
		params[k] = exp(theta[k]);
	cs_check_interrupts();
	for (int64_t i = 0; i < ctx->rows->n; i++)
	{
		const BtydRow *row = &ctx->rows->rows[i];
		double		gi[4];

		ll += row->w * pnbd_loglik_grad(params, row->x, row->tx, row->T, gi);
		for (int k = 0; k < 4; k++)
			g[k] += row->w * gi[k];
	}
	return penalised_objective(ctx, ll, g, params, 4, grad);
}

bool
pnbd_covariance(const BtydRows *rows, const double *params, double *cov)
{
	return btyd_covariance(pnbd_objective, rows, 4, params, cov);
}

BtydFit
pnbd_fit(const BtydRows *rows, double penalizer)
{
	const double start[4] = {1, 1, 1, 1};

	return btyd_fit(pnbd_objective, rows, penalizer, 4, 0x5, start);	/* shapes: r, s */
}

double
pnbd_p_alive(const double *p, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];

	return 1.0 / (1.0 + exp(log(s) - log(r + s + x) + (r + x) * log(alpha + T) + s * log(beta + T)
							+ pnbd_log_a0(p, x, tx, T, NULL)));
}

/*
 * (1 - (B / (B + t))^(s - 1)) / (s - 1), the horizon factor of the Pareto/NBD
 * expectations, written with expm1 so s close to 1 keeps its precision and
 * s = 1 takes the limit log(1 + t / B).
 */
static double
pnbd_horizon_factor(double s, double B, double t)
{
	double		L = log1p(t / B);

	if (s == 1)
		return L;
	return -expm1(-(s - 1) * L) / (s - 1);
}

double
pnbd_expected(const double *p, double t, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];

	return (r + x) * (beta + T) / (alpha + T) * pnbd_horizon_factor(s, beta + T, t)
		* pnbd_p_alive(p, x, tx, T);
}

double
pnbd_expected_new(const double *p, double t)
{
	return p[0] * p[3] / p[1] * pnbd_horizon_factor(p[2], p[3], t);
}

/*
 * log E[lambda^(x+n) mu (lambda+mu)^(i-n-1) exp(-(lambda+mu) S)] under the
 * Gamma(r, alpha) x Gamma(s, beta) prior: with lambda = rho u, mu = rho (1-u)
 * the rho integral is a Gamma function and the u integral Euler's integral
 * of 2F1(r+s+x+i, k; r+s+x+n+1; |alpha-beta| / (max(alpha, beta) + S)).
 */
static double
pnbd_log_mixed_moment(const double *p, double x, int64_t n, int64_t i, double S)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		hi = alpha >= beta ? alpha : beta;
	double		k = alpha >= beta ? s + 1 : r + x + n;
	double		m = r + s + x + i;
	double		lh = log_hyp2f1(m, k, r + s + x + n + 1, fabs(alpha - beta) / (hi + S));

	return r * log(alpha) + s * log(beta) - lgamma(r) - lgamma(s)
		+ lgamma(m) + lgamma(r + x + n) + lgamma(s + 1) - lgamma(r + s + x + n + 1)
		+ lh - m * log(hi + S);
}

double
pnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T)
{
	/*
	 * Only customers alive at T buy again.  Given (lambda, mu) and alive at T,
	 * n purchases in (T, T+t] happen either with the customer still alive at
	 * T+t (Poisson) or dying at T+y, y <= t, after exactly n purchases.  Both
	 * are averaged over the prior times the alive part of the likelihood,
	 * lambda^x exp(-(lambda+mu) T), and divided by the full likelihood.
	 */
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		loglik = pnbd_loglik(p, x, tx, T);
	double		log_prior = r * log(alpha) + s * log(beta) - lgamma(r);
	/* the alive part of the likelihood over the whole likelihood is P(alive) */
	double		alive = exp(log_prior + lgamma(r + x) - (r + x) * log(alpha + T) - s * log(beta + T) - loglik);
	double		log_t = log(t);
	double		survive = log_prior + n * log_t - lgamma(n + 1.0) + lgamma(r + x + n)
		- (r + x + n) * log(alpha + T + t) - s * log(beta + T + t);
	/* dying in (T, T+t] after n purchases = P(Gamma(n+1, lambda+mu) <= t) mu lambda^n / (lambda+mu)^(n+1) */
	double		die_any = pnbd_log_mixed_moment(p, x, n, 0, T);
	double		die_late = -INFINITY;

	for (int64_t i = 0; i <= n; i++)
	{
		cs_check_interrupts();
		die_late = logaddexp(die_late, i * log_t - lgamma(i + 1.0) + pnbd_log_mixed_moment(p, x, n, i, T + t));
	}
	return (n == 0 ? 1 - alive : 0) + exp(survive - loglik) + exp(logsubexp(die_any, die_late) - loglik);
}

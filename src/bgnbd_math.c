/*
 * bgnbd_math.c: the BG/NBD model (Fader, Hardie & Lee 2005) and the MBG/NBD
 * (Batislam, Denizel & Filiztekin 2007): likelihood, fit and predictions (see
 * btyd_math.h), free of fmgr.
 */
#include "btyd_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cs_math.h"

/*
 * BG/NBD and MBG/NBD differ in the dropout chances a customer with x repeat
 * purchases has had: x (BG/NBD: after each repeat purchase) or x + 1
 * (MBG/NBD, Batislam, Denizel & Filiztekin 2007: also right after the first
 * purchase).  So every formula here takes k = x + shift dropout chances,
 * shift 0 or 1, where the BG/NBD paper has x in its Beta(a, b) parts.
 */
static double
bg_loglik(const double *p, double x, double tx, double T, int shift)
{
	double		r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];
	double		k = x + shift;
	double		A1 = lgamma(r + x) - lgamma(r) + r * log(alpha);
	double		A2 = lgamma(a + b) + lgamma(b + k) - lgamma(b) - lgamma(a + b + k);
	double		A3 = -(r + x) * log(alpha + T);

	if (k > 0)
	{
		double		A4 = log(a) - log(b + k - 1) - (r + x) * log(alpha + tx);

		return A1 + A2 + logaddexp(A3, A4);
	}
	return A1 + A2 + A3;
}

double
bgnbd_loglik(const double *p, double x, double tx, double T)
{
	return bg_loglik(p, x, tx, T, 0);
}

double
mbgnbd_loglik(const double *p, double x, double tx, double T)
{
	return bg_loglik(p, x, tx, T, 1);
}

static double
bg_objective(const double *theta, double *grad, const void *vctx, int shift)
{
	FitCtx	   *ctx = (FitCtx *) vctx;
	double		r = exp(theta[0]),
				alpha = exp(theta[1]),
				a = exp(theta[2]),
				b = exp(theta[3]);
	double		ll = 0,
				g[4] = {0, 0, 0, 0};
	double		lg_ab = lgamma(a + b),
				lg_r = lgamma(r),
				lg_b = lgamma(b),
				dg_r = digamma(r),
				dg_ab = digamma(a + b),
				dg_b = digamma(b),
				log_alpha = log(alpha);
	double		cur_x = -1,
				x_terms = 0,
				dx_r = 0,
				dx_a = 0,
				dx_b = 0,
				log_odds = 0,	/* log a - log(b + k - 1) */
				cur_tx = NAN,
				latx = 0;		/* log(alpha + t_x) */

	cs_check_interrupts();
	for (int64_t i = 0; i < ctx->rows->n; i++)
	{
		const BtydRow *row = &ctx->rows->rows[i];
		double		x = row->x,
					k = x + shift,
					w = row->w;
		double		A3,
					L,
					lat = log(alpha + row->T);

		if (x != cur_x)
		{
			/* Terms that depend on x only: the rows are sorted by x. */
			cur_x = x;
			x_terms = lgamma(r + x) - lg_r + r * log_alpha + lg_ab + lgamma(b + k) - lg_b - lgamma(a + b + k);
			dx_r = digamma(r + x) - dg_r + log_alpha;
			dx_a = dg_ab - digamma(a + b + k);
			dx_b = dg_ab + digamma(b + k) - dg_b - digamma(a + b + k);
			log_odds = k > 0 ? log(a) - log(b + k - 1) : 0;
			cur_tx = NAN;
		}
		A3 = -(r + x) * lat;
		if (k > 0)
		{
			double		A4,
						lse,
						w3,
						w4;

			if (row->tx != cur_tx)
			{
				/* rows sharing x and t_x are adjacent: the rows are sorted by (x, t_x, T) */
				cur_tx = row->tx;
				latx = log(alpha + cur_tx);
			}
			A4 = log_odds - (r + x) * latx;
			lse = logaddexp_shares(A3, A4, &w3, &w4);

			L = x_terms + lse;
			g[0] += w * (dx_r - w3 * lat - w4 * latx);
			g[1] += w * (r / alpha - w3 * (r + x) / (alpha + row->T) - w4 * (r + x) / (alpha + row->tx));
			g[2] += w * (dx_a + w4 / a);
			g[3] += w * (dx_b - w4 / (b + k - 1));
		}
		else
		{
			L = x_terms + A3;
			g[0] += w * (dx_r - lat);
			g[1] += w * (r / alpha - (r + x) / (alpha + row->T));
			g[2] += w * dx_a;
			g[3] += w * dx_b;
		}
		ll += w * L;
	}
	{
		double		params[4] = {r, alpha, a, b};

		return penalised_objective(ctx, ll, g, params, 4, grad);
	}
}

static double
bgnbd_objective(const double *theta, double *grad, const void *vctx)
{
	return bg_objective(theta, grad, vctx, 0);
}

static double
mbgnbd_objective(const double *theta, double *grad, const void *vctx)
{
	return bg_objective(theta, grad, vctx, 1);
}

const BtydModelSpec bgnbd_spec = {bgnbd_objective, 4, {"r", "alpha", "a", "b"}, 0xD, NULL};	/* shapes: r, a, b */
const BtydModelSpec mbgnbd_spec = {mbgnbd_objective, 4, {"r", "alpha", "a", "b"}, 0xD, NULL};

/* a / (b + k - 1) ((alpha + T) / (alpha + t_x))^(r + x): the odds of having dropped out; 0 without a chance. */
static double
bg_dropout_odds(const double *p, double x, double tx, double T, int shift)
{
	double		r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];
	double		k = x + shift;

	if (k == 0)
		return 0;
	return a / (b + k - 1) * exp((r + x) * (log(alpha + T) - log(alpha + tx)));
}

double
bgnbd_p_alive(const double *p, double x, double tx, double T)
{
	return 1.0 / (1.0 + bg_dropout_odds(p, x, tx, T, 0));
}

double
mbgnbd_p_alive(const double *p, double x, double tx, double T)
{
	return 1.0 / (1.0 + bg_dropout_odds(p, x, tx, T, 1));
}

/*
 * (c / (a - 1)) (1 - (A / (A + t))^R 2F1(R, B; c; z)), c = a + B - 1,
 * z = t / (A + t): the horizon term of the BG/NBD expectations (R = r + x,
 * B = b + x, A = alpha + T).  At a = 1 the bracket vanishes, since
 * (A / (A + t))^R = (1 - z)^R and 2F1(R, B; B; z) = (1 - z)^-R, and near it
 * the difference cancels (5e-5 relative error at a = 1 + 1e-10).  There it is
 * summed term by term, with t_k = (R)_k z^k / k! and Q (1 - z)^-R = 1:
 *   1 - Q 2F1(R, B; c; z) = -Q sum_k t_k ((B)_k / (c)_k - 1),
 *   ((B)_k / (c)_k - 1) / (a - 1) = -(expm1(S_k) / S_k) sum_{j<k} h(u_j) / (c + j),
 *   S_k = sum_{j<k} log1p(u_j), u_j = (1 - a) / (c + j), h(u) = log1p(u) / u,
 * which has no cancellation and is the limit itself at a = 1.
 */
#define BGNBD_NEAR_A1 1e-3

static double
bgnbd_horizon_term(double R, double A, double a, double B, double t)
{
	double		c = a + B - 1,
				z = t / (A + t),
				term = 1,
				S = 0,
				H = 0,
				sum = 0;

	if (fabs(a - 1) > BGNBD_NEAR_A1)	/* the cancellation costs at most 3 digits */
		return c / (a - 1) * (1 - exp(R * (log(A) - log(A + t))) * hyp2f1(R, B, c, z));
	for (int k = 0; k < HYP2F1_MAX_TERMS; k++)
	{
		double		contrib = term * -(S == 0 ? 1 : expm1(S) / S) * H,
					u = (1 - a) / (c + k),
					ratio = (R + k) / (k + 1) * z;

		if ((k & 4095) == 4095)
			cs_check_interrupts();
		sum += contrib;
		S += log1p(u);
		H += (u == 0 ? 1 : log1p(u) / u) / (c + k);
		term *= ratio;
		if (!isfinite(sum))
			return NAN;
		/* the rest is below term H / (1 - ratio) once the ratios fall below 1 (H grows like log k) */
		if (k > 2 && ratio < 1 && fabs(term * H) <= 1e-17 * (1 - ratio) * fabs(sum))
			return c * -exp(R * (log(A) - log(A + t))) * sum;
	}
	return NAN;
}

double
bgnbd_horizon(const double *p, double t, double x, double T, int shift)
{
	return bgnbd_horizon_term(p[0] + x, p[1] + T, p[2], p[3] + x + shift, t);
}

double
bgnbd_alive_divisor(const double *p, double x, double tx, double T, int shift)
{
	return 1 + bg_dropout_odds(p, x, tx, T, shift);
}

static double
bg_expected(const double *p, double t, double x, double tx, double T, int shift)
{
	return bgnbd_horizon(p, t, x, T, shift) / bgnbd_alive_divisor(p, x, tx, T, shift);
}

double
bgnbd_expected(const double *p, double t, double x, double tx, double T)
{
	return bg_expected(p, t, x, tx, T, 0);
}

double
mbgnbd_expected(const double *p, double t, double x, double tx, double T)
{
	return bg_expected(p, t, x, tx, T, 1);
}

double
bgnbd_expected_new(const double *p, double t)
{
	return bgnbd_horizon_term(p[0], p[1], p[2], p[3], t);
}

/* A new MBG/NBD customer: the history of one purchase at time 0 (it may drop out right after it). */
double
mbgnbd_expected_new(const double *p, double t)
{
	return bg_expected(p, t, 0, 0, 0, 1);
}

double
bgnbd_pmf_new(const double *p, double t, int64_t n)
{
	double		r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];
	double		lbeta_ab = lgamma(a) + lgamma(b) - lgamma(a + b);
	double		log_q = log(alpha) - log(alpha + t);	/* log(alpha / (alpha + t)) */
	double		log_u = log(t) - log(alpha + t);	/* log(t / (alpha + t)) */
	double		first = exp(lgamma(a) + lgamma(b + n) - lgamma(a + b + n) - lbeta_ab
							+ lgamma(r + n) - lgamma(r) - lgamma(n + 1.0) + r * log_q + (n > 0 ? n * log_u : 0));
	double		partial = 0;

	if (n == 0)
		return first;
	for (int64_t j = 0; j < n; j++)
	{
		if ((j & 4095) == 4095)
			cs_check_interrupts();
		partial += exp(lgamma(r + j) - lgamma(r) - lgamma(j + 1.0) + r * log_q + (j > 0 ? j * log_u : 0));
	}
	return first + exp(lgamma(a + 1) + lgamma(b + n - 1) - lgamma(a + b + n) - lbeta_ab) * (1 - partial);
}

/*
 * Alive at T, (rate, dropout) have posterior Gamma(r + x, alpha + T) and
 * Beta(a, b + k), and the future is a fresh BG/NBD process with them (its
 * next dropout chance comes after its next purchase, in both models).
 */
static double
bg_pmf(const double *p, double t, int64_t n, double x, double tx, double T, int shift)
{
	double		post[4] = {p[0] + x, p[1] + T, p[2], p[3] + x + shift};
	double		alive = 1.0 / (1.0 + bg_dropout_odds(p, x, tx, T, shift));

	return alive * bgnbd_pmf_new(post, t, n) + (n == 0 ? 1 - alive : 0);
}

double
bgnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T)
{
	return bg_pmf(p, t, n, x, tx, T, 0);
}

/* x = t_x = T = 0 is a new customer, who may drop out right after the first purchase. */
double
mbgnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T)
{
	return bg_pmf(p, t, n, x, tx, T, 1);
}

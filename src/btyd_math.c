/*
 * btyd_math.c: BG/NBD and Gamma-Gamma likelihoods, fits and predictions
 * (see btyd_math.h).
 */
#include "btyd_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- rows */

static int
cmp_row(const void *pa, const void *pb)
{
	const BtydRow *a = pa;
	const BtydRow *b = pb;

	if (a->x != b->x)
		return a->x < b->x ? -1 : 1;
	if (a->tx != b->tx)
		return a->tx < b->tx ? -1 : 1;
	if (a->T != b->T)
		return a->T < b->T ? -1 : 1;
	return 0;
}

void
btyd_rows_compact(BtydRows *set)
{
	int64_t		out = 0;

	if (set->n < 2)
		return;
	qsort(set->rows, (size_t) set->n, sizeof(BtydRow), cmp_row);
	for (int64_t i = 1; i < set->n; i++)
	{
		if (cmp_row(&set->rows[out], &set->rows[i]) == 0)
			set->rows[out].w += set->rows[i].w;
		else
			set->rows[++out] = set->rows[i];
	}
	set->n = out + 1;
}

void
btyd_rows_add(BtydRows *set, double x, double tx, double T, double w, const CsAllocator *a)
{
	if (set->n == set->cap)
	{
		btyd_rows_compact(set);
		/* Grow only when compaction freed less than half: the set tracks distinct rows. */
		if (set->n * 2 >= set->cap)
		{
			int64_t		cap = set->cap < 1024 ? 1024 : set->cap * 2;
			BtydRow    *rows = a->alloc(a->ctx, sizeof(BtydRow) * (size_t) cap);

			if (set->n > 0)
				memcpy(rows, set->rows, sizeof(BtydRow) * (size_t) set->n);
			if (set->rows != NULL)
				a->free(a->ctx, set->rows);
			set->rows = rows;
			set->cap = cap;
		}
	}
	set->rows[set->n].x = x;
	set->rows[set->n].tx = tx;
	set->rows[set->n].T = T;
	set->rows[set->n].w = w;
	set->n++;
}

double
btyd_rows_weight(const BtydRows *set)
{
	double		w = 0;

	for (int64_t i = 0; i < set->n; i++)
		w += set->rows[i].w;
	return w;
}

/* ---------------------------------------------------------------- special functions */

double
digamma(double x)
{
	double		result = 0,
				inv,
				inv2;

	if (x <= 0 && floor(x) == x)
		return NAN;
	if (x < 0)					/* reflection */
		return digamma(1 - x) - M_PI / tan(M_PI * x);
	while (x < 10)
	{
		result -= 1 / x;
		x += 1;
	}
	inv = 1 / x;
	inv2 = inv * inv;
	/* Asymptotic series; the first omitted term is below 1e-16 for x >= 10. */
	return result + log(x) - 0.5 * inv
		- inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240
				  - inv2 * (1.0 / 132 - inv2 * (691.0 / 32760 - inv2 / 12.0))))));
}

double
hyp2f1(double a, double b, double c, double z)
{
	double		term = 1,
				sum = 1;

	if (z < 0 || z >= 1 || !isfinite(z))
		return NAN;
	for (int k = 0; k < 2000000; k++)
	{
		double		denom = (c + k) * (k + 1);

		if (denom == 0)
			return NAN;
		term *= (a + k) * (b + k) / denom * z;
		sum += term;
		if (!isfinite(sum))
			return NAN;
		if (fabs(term) <= 1e-17 * fabs(sum) && k > 2)
			return sum;
	}
	return NAN;
}

static double
logaddexp(double u, double v)
{
	double		m = u > v ? u : v;

	if (m == -INFINITY)
		return m;
	return m + log(exp(u - m) + exp(v - m));
}

/* ---------------------------------------------------------------- BG/NBD */

double
bgnbd_loglik(const double *p, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];
	double		A1 = lgamma(r + x) - lgamma(r) + r * log(alpha);
	double		A2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
	double		A3 = -(r + x) * log(alpha + T);

	if (x > 0)
	{
		double		A4 = log(a) - log(b + x - 1) - (r + x) * log(alpha + tx);

		return A1 + A2 + logaddexp(A3, A4);
	}
	return A1 + A2 + A3;
}

/* Objective: mean negative log-likelihood + penalty, gradient with respect to log-parameters. */
typedef double (*Objective) (const double *theta, double *grad, const void *ctx);

typedef struct FitCtx
{
	const BtydRows *rows;
	double		weight;
	double		penalizer;
	double		loglik;			/* of the last evaluation */
} FitCtx;

/*
 * Mean negative log-likelihood plus penalizer * sum(params^2), and its
 * gradient with respect to the log-parameters from the likelihood gradient
 * dll (with respect to the parameters).
 */
static double
penalised_objective(FitCtx *ctx, double ll, const double *dll, const double *params, int n, double *grad)
{
	double		pen = 0;

	ctx->loglik = ll;
	for (int k = 0; k < n; k++)
	{
		pen += params[k] * params[k];
		grad[k] = params[k] * (-dll[k] / ctx->weight + 2 * ctx->penalizer * params[k]);
	}
	return -ll / ctx->weight + ctx->penalizer * pen;
}

static double
bgnbd_objective(const double *theta, double *grad, const void *vctx)
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
				dx_b = 0;

	for (int64_t i = 0; i < ctx->rows->n; i++)
	{
		const BtydRow *row = &ctx->rows->rows[i];
		double		x = row->x,
					w = row->w;
		double		A3,
					L,
					lat = log(alpha + row->T);

		if (x != cur_x)
		{
			/* Terms that depend on x only: the rows are sorted by x. */
			cur_x = x;
			x_terms = lgamma(r + x) - lg_r + r * log_alpha + lg_ab + lgamma(b + x) - lg_b - lgamma(a + b + x);
			dx_r = digamma(r + x) - dg_r + log_alpha;
			dx_a = dg_ab - digamma(a + b + x);
			dx_b = dg_ab + digamma(b + x) - dg_b - digamma(a + b + x);
		}
		A3 = -(r + x) * lat;
		if (x > 0)
		{
			double		latx = log(alpha + row->tx);
			double		A4 = log(a) - log(b + x - 1) - (r + x) * latx;
			double		lse = logaddexp(A3, A4);
			double		w3 = exp(A3 - lse),
						w4 = exp(A4 - lse);

			L = x_terms + lse;
			g[0] += w * (dx_r - w3 * lat - w4 * latx);
			g[1] += w * (r / alpha - w3 * (r + x) / (alpha + row->T) - w4 * (r + x) / (alpha + row->tx));
			g[2] += w * (dx_a + w4 / a);
			g[3] += w * (dx_b - w4 / (b + x - 1));
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

/* ---------------------------------------------------------------- Gamma-Gamma */

double
gg_loglik(const double *prm, double x, double m)
{
	double		p = prm[0],
				q = prm[1],
				g = prm[2];

	return lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * log(g) + (p * x - 1) * log(m)
		+ p * x * log(x) - (p * x + q) * log(g + m * x);
}

static double
gg_objective(const double *theta, double *grad, const void *vctx)
{
	FitCtx	   *ctx = (FitCtx *) vctx;
	double		p = exp(theta[0]),
				q = exp(theta[1]),
				gm = exp(theta[2]);
	double		ll = 0,
				g[3] = {0, 0, 0};
	double		lg_q = lgamma(q),
				dg_q = digamma(q),
				log_g = log(gm);

	for (int64_t i = 0; i < ctx->rows->n; i++)
	{
		const BtydRow *row = &ctx->rows->rows[i];
		double		x = row->x,
					m = row->tx,
					w = row->w;
		double		px = p * x,
					lgm = log(gm + m * x),
					lm = log(m),
					lx = log(x),
					dg_pxq = digamma(px + q);

		ll += w * (lgamma(px + q) - lgamma(px) - lg_q + q * log_g + (px - 1) * lm + px * lx - (px + q) * lgm);
		g[0] += w * x * (dg_pxq - digamma(px) + lm + lx - lgm);
		g[1] += w * (dg_pxq - dg_q + log_g - lgm);
		g[2] += w * (q / gm - (px + q) / (gm + m * x));
	}
	{
		double		params[3] = {p, q, gm};

		return penalised_objective(ctx, ll, g, params, 3, grad);
	}
}

/* ---------------------------------------------------------------- BFGS */

#define BFGS_MAX_ITER 1000
#define BFGS_GTOL 1e-9
#define BFGS_MAX_STEP 4.0		/* at most a factor e^4 per parameter per step */

static double
max_abs(const double *v, int n)
{
	double		m = 0;

	for (int i = 0; i < n; i++)
		if (fabs(v[i]) > m)
			m = fabs(v[i]);
	return m;
}

/* Minimises f from theta (in place); returns iterations, sets *converged. */
static int
bfgs(Objective f, const void *ctx, double *theta, int n, bool *converged)
{
	double		H[16],
				g[4],
				gn[4],
				d[4],
				s[4],
				y[4],
				tn[4],
				fx,
				fn = 0;
	int			iter;

	*converged = false;
	for (int i = 0; i < n * n; i++)
		H[i] = (i % (n + 1) == 0) ? 1 : 0;
	fx = f(theta, g, ctx);
	if (!isfinite(fx))
		return 0;
	for (iter = 1; iter <= BFGS_MAX_ITER; iter++)
	{
		double		slope = 0,
					step = 1,
					dmax,
					sy = 0;
		bool		accepted = false;

		if (max_abs(g, n) < BFGS_GTOL)
		{
			*converged = true;
			break;
		}
		for (int i = 0; i < n; i++)
		{
			d[i] = 0;
			for (int j = 0; j < n; j++)
				d[i] -= H[i * n + j] * g[j];
			slope += d[i] * g[i];
		}
		if (slope >= 0)
		{
			/* Not a descent direction: restart from steepest descent. */
			for (int i = 0; i < n * n; i++)
				H[i] = (i % (n + 1) == 0) ? 1 : 0;
			for (int i = 0; i < n; i++)
				d[i] = -g[i];
			slope = -(g[0] * g[0] + (n > 1 ? g[1] * g[1] : 0) + (n > 2 ? g[2] * g[2] : 0) + (n > 3 ? g[3] * g[3] : 0));
		}
		dmax = max_abs(d, n);
		if (dmax > BFGS_MAX_STEP)
			step = BFGS_MAX_STEP / dmax;
		for (int tries = 0; tries < 60; tries++)
		{
			for (int i = 0; i < n; i++)
				tn[i] = theta[i] + step * d[i];
			fn = f(tn, gn, ctx);
			if (isfinite(fn) && fn <= fx + 1e-4 * step * slope)
			{
				accepted = true;
				break;
			}
			step *= 0.5;
		}
		if (!accepted)
		{
			/* No progress along d: converged when the gradient is small relative to f. */
			*converged = max_abs(g, n) < 1e-6;
			break;
		}
		for (int i = 0; i < n; i++)
		{
			s[i] = tn[i] - theta[i];
			y[i] = gn[i] - g[i];
			sy += s[i] * y[i];
			theta[i] = tn[i];
			g[i] = gn[i];
		}
		if (fabs(fx - fn) <= 1e-15 * (1 + fabs(fx)) && max_abs(g, n) < 1e-6)
		{
			fx = fn;
			*converged = true;
			break;
		}
		fx = fn;
		if (sy > 1e-18)
		{
			/* H <- (I - rho s y') H (I - rho y s') + rho s s' */
			double		rho = 1 / sy,
						Hy[4],
						yHy = 0;

			for (int i = 0; i < n; i++)
			{
				Hy[i] = 0;
				for (int j = 0; j < n; j++)
					Hy[i] += H[i * n + j] * y[j];
				yHy += y[i] * Hy[i];
			}
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++)
					H[i * n + j] += rho * ((1 + rho * yHy) * s[i] * s[j] - Hy[i] * s[j] - s[i] * Hy[j]);
		}
	}
	(void) fn;
	return iter > BFGS_MAX_ITER ? BFGS_MAX_ITER : iter;
}

static BtydFit
fit(Objective f, const BtydRows *rows, double penalizer, int n)
{
	FitCtx		ctx = {rows, btyd_rows_weight(rows), penalizer, 0};
	double		theta[4] = {0, 0, 0, 0};	/* all parameters start at 1, as lifetimes does */
	double		g[4];
	BtydFit		result;
	int			total = 0;

	memset(&result, 0, sizeof(result));
	/* Up to three restarts from the last point: BFGS's curvature estimate is rebuilt each time. */
	for (int attempt = 0; attempt < 4 && !result.converged; attempt++)
		total += bfgs(f, &ctx, theta, n, &result.converged);
	f(theta, g, &ctx);
	for (int k = 0; k < n; k++)
		result.params[k] = exp(theta[k]);
	result.loglik = ctx.loglik;
	result.iterations = total;
	return result;
}

BtydFit
bgnbd_fit(const BtydRows *rows, double penalizer)
{
	return fit(bgnbd_objective, rows, penalizer, 4);
}

BtydFit
gg_fit(const BtydRows *rows, double penalizer)
{
	return fit(gg_objective, rows, penalizer, 3);
}

/* ---------------------------------------------------------------- predictions */

double
bgnbd_p_alive(const double *p, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];

	if (x == 0)
		return 1.0;
	return 1.0 / (1.0 + a / (b + x - 1) * exp((r + x) * (log(alpha + T) - log(alpha + tx))));
}

double
bgnbd_expected(const double *p, double t, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];
	double		hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t));
	double		num = (a + b + x - 1) / (a - 1)
		* (1 - exp((r + x) * (log(alpha + T) - log(alpha + T + t))) * hyp);
	double		den = 1 + (x > 0 ? a / (b + x - 1) * exp((r + x) * (log(alpha + T) - log(alpha + tx))) : 0);

	return num / den;
}

double
bgnbd_expected_new(const double *p, double t)
{
	double		r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];
	double		hyp = hyp2f1(r, b, a + b - 1, t / (alpha + t));

	return (a + b - 1) / (a - 1) * (1 - exp(r * (log(alpha) - log(alpha + t))) * hyp);
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
		partial += exp(lgamma(r + j) - lgamma(r) - lgamma(j + 1.0) + r * log_q + (j > 0 ? j * log_u : 0));
	return first + exp(lgamma(a + 1) + lgamma(b + n - 1) - lgamma(a + b + n) - lbeta_ab) * (1 - partial);
}

double
bgnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T)
{
	/*
	 * Alive at T, (rate, dropout) have posterior Gamma(r + x, alpha + T) and
	 * Beta(a, b + x), and the future is a fresh BG/NBD process with them.
	 */
	double		post[4] = {p[0] + x, p[1] + T, p[2], p[3] + x};
	double		alive = bgnbd_p_alive(p, x, tx, T);

	return alive * bgnbd_pmf_new(post, t, n) + (n == 0 ? 1 - alive : 0);
}

double
gg_expected_spend(const double *prm, double x, double m)
{
	double		p = prm[0],
				q = prm[1],
				g = prm[2];

	if (q <= 1)
		return NAN;
	return p * (g + x * m) / (p * x + q - 1);
}

/* ---------------------------------------------------------------- Pareto/NBD */

/* log(exp(u) - exp(v)) for u >= v; -Inf when equal. */
static double
logsubexp(double u, double v)
{
	if (v == -INFINITY)
		return u;
	if (v >= u)
		return -INFINITY;
	return u + log1p(-exp(v - u));
}

/*
 * log A0 of Fader & Hardie's Pareto/NBD likelihood note, in log space:
 * A0 = 2F1(r+s+x, k; r+s+x+1; |alpha-beta| / (m + t_x)) / (m + t_x)^(r+s+x)
 *    - 2F1(r+s+x, k; r+s+x+1; |alpha-beta| / (m + T)) / (m + T)^(r+s+x),
 * m = max(alpha, beta), k = s + 1 when alpha >= beta, r + x otherwise.
 */
static double
pnbd_log_a0(const double *p, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		hi = alpha >= beta ? alpha : beta;
	double		k = alpha >= beta ? s + 1 : r + x;
	double		diff = fabs(alpha - beta);
	double		rsx = r + s + x;
	double		q1 = hi + tx,
				q2 = hi + T;
	double		h1 = hyp2f1(rsx, k, rsx + 1, diff / q1);
	double		h2 = hyp2f1(rsx, k, rsx + 1, diff / q2);

	return logsubexp(log(h1) + rsx * log(q2), log(h2) + rsx * log(q1)) - rsx * (log(q1) + log(q2));
}

double
pnbd_loglik(const double *p, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		A1 = lgamma(r + x) - lgamma(r) + r * log(alpha) + s * log(beta);
	double		la0 = pnbd_log_a0(p, x, tx, T);

	return A1 + logaddexp(-(r + x) * log(alpha + T) - s * log(beta + T), log(s) + la0 - log(r + s + x));
}

static double
pnbd_mean_nll(const double *theta, FitCtx *ctx)
{
	double		p[4];
	double		ll = 0,
				pen = 0;

	for (int k = 0; k < 4; k++)
	{
		p[k] = exp(theta[k]);
		pen += p[k] * p[k];
	}
	for (int64_t i = 0; i < ctx->rows->n; i++)
	{
		const BtydRow *row = &ctx->rows->rows[i];

		ll += row->w * pnbd_loglik(p, row->x, row->tx, row->T);
	}
	ctx->loglik = ll;
	return -ll / ctx->weight + ctx->penalizer * pen;
}

/* No closed-form gradient through 2F1: central differences in log-parameter space. */
static double
pnbd_objective(const double *theta, double *grad, const void *vctx)
{
	FitCtx	   *ctx = (FitCtx *) vctx;
	double		f = pnbd_mean_nll(theta, ctx);
	double		ll = ctx->loglik;

	for (int k = 0; k < 4; k++)
	{
		double		t[4];
		double		h = 1e-6;
		double		up,
					down;

		memcpy(t, theta, sizeof(t));
		t[k] = theta[k] + h;
		up = pnbd_mean_nll(t, ctx);
		t[k] = theta[k] - h;
		down = pnbd_mean_nll(t, ctx);
		grad[k] = (up - down) / (2 * h);
	}
	ctx->loglik = ll;
	return f;
}

BtydFit
pnbd_fit(const BtydRows *rows, double penalizer)
{
	return fit(pnbd_objective, rows, penalizer, 4);
}

double
pnbd_p_alive(const double *p, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];

	return 1.0 / (1.0 + exp(log(s) - log(r + s + x) + (r + x) * log(alpha + T) + s * log(beta + T)
							+ pnbd_log_a0(p, x, tx, T)));
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
	double		h = hyp2f1(m, k, r + s + x + n + 1, fabs(alpha - beta) / (hi + S));

	return r * log(alpha) + s * log(beta) - lgamma(r) - lgamma(s)
		+ lgamma(m) + lgamma(r + x + n) + lgamma(s + 1) - lgamma(r + s + x + n + 1)
		+ log(h) - m * log(hi + S);
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
		die_late = logaddexp(die_late, i * log_t - lgamma(i + 1.0) + pnbd_log_mixed_moment(p, x, n, i, T + t));
	return (n == 0 ? 1 - alive : 0) + exp(survive - loglik) + exp(logsubexp(die_any, die_late) - loglik);
}

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

#define HYP2F1_MAX_TERMS 2000000

/* The sum of the 2F1 series, or NaN when it has not converged within HYP2F1_MAX_TERMS terms. */
static double
hyp2f1_series(double a, double b, double c, double z)
{
	double		term = 1,
				sum = 1;

	for (int k = 0; k < HYP2F1_MAX_TERMS; k++)
	{
		double		denom = (c + k) * (k + 1);
		double		ratio;

		if ((k & 4095) == 4095)
			cs_check_interrupts();
		if (denom == 0)
			return NAN;
		ratio = (a + k) * (b + k) / denom * z;
		term *= ratio;
		sum += term;
		if (!isfinite(sum))
			return NAN;
		/* the tail after this term is below term * ratio / (1 - ratio) once the ratios fall below 1 */
		if (k > 2 && fabs(ratio) < 1 && fabs(term) <= 1e-17 * (1 - fabs(ratio)) * fabs(sum))
			return sum;
	}
	return NAN;
}

/* log((1 - z)^(c-a-b) 2F1(c-a, c-b; c; z)), Euler's transformation of 2F1(a, b; c; z). */
static double
hyp2f1_euler_log(double a, double b, double c, double z)
{
	return (c - a - b) * log1p(-z) + log(hyp2f1_series(c - a, c - b, c, z));
}

/*
 * log 2F1(a, b; c; z) for 0 <= z < 1.  The series' terms grow for about
 * (a + b - c - 1) z / (1 - z) terms before they fall, which near z = 1 with a
 * large a or b (the Pareto/NBD likelihood at large s or beta) takes millions
 * of terms.  Euler's transformation turns that growth into decay; its terms
 * are positive when c > a > 0 and c > b > 0, so it loses no precision.  The
 * series expected to be shorter goes first, the other if it does not converge.
 */
double
log_hyp2f1(double a, double b, double c, double z)
{
	bool		euler_ok = c > a && c > b && a > 0 && b > 0;
	double		v;

	if (z < 0 || z >= 1 || !isfinite(z))
		return NAN;
	if (euler_ok && a + b - c - 1 > 0)
	{
		v = hyp2f1_euler_log(a, b, c, z);
		return isnan(v) ? log(hyp2f1_series(a, b, c, z)) : v;
	}
	v = log(hyp2f1_series(a, b, c, z));
	return isnan(v) && euler_ok ? hyp2f1_euler_log(a, b, c, z) : v;
}

/*
 * Gauss-Legendre nodes and weights on [-1, 1] (GL_POINTS of them), computed
 * once by Newton's method on the Legendre polynomial.
 */
#define GL_POINTS 12
static double gl_node[GL_POINTS],
			gl_weight[GL_POINTS];

static void
gauss_legendre_init(void)
{
	if (gl_weight[0] != 0)
		return;
	for (int i = 0; i < (GL_POINTS + 1) / 2; i++)
	{
		double		x = cos(M_PI * (i + 0.75) / (GL_POINTS + 0.5)),
					dp = 1;

		for (int iter = 0; iter < 100; iter++)
		{
			double		p0 = 1,
						p1 = x,
						dx;

			for (int k = 2; k <= GL_POINTS; k++)
			{
				double		p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;

				p0 = p1;
				p1 = p2;
			}
			dp = GL_POINTS * (x * p1 - p0) / (x * x - 1);
			dx = p1 / dp;
			x -= dx;
			if (fabs(dx) < 1e-16)
				break;
		}
		gl_node[i] = -x;
		gl_node[GL_POINTS - 1 - i] = x;
		gl_weight[i] = gl_weight[GL_POINTS - 1 - i] = 2 / ((1 - x * x) * dp * dp);
	}
}

/*
 * log 2F1(a, b; a + 1; z) for 0 < z < 1, a > 0, b > 0, by quadrature, for
 * where the series are long: z near 1 with a large a (the Pareto/NBD
 * likelihood when s and beta grow together), where they need millions of
 * terms.  With t = exp(-w / a),
 *   2F1(a, b; a+1; z) = a int_0^1 t^(a-1) (1 - z t)^(-b) dt
 *                     = int_0^inf exp(-w) (1 - z exp(-w/a))^(-b) dw.
 * The integrand decreases, falls like exp(-w) and near w = 0 like
 * (1 + w/h)^(-b), h = a (1 - z) / z, so on the scale h / b: 12-point
 * Gauss-Legendre on [0, min(h / (8 max(b, 1)), 1)] and on intervals doubling
 * from there up to w = 45 (the rest is below 1e-19 of the integral) resolves
 * it; sums are taken in log space.
 */
static Log2F1
log_hyp2f1_c_a1_quadrature(double a, double b, double z)
{
	double		lo = 0,
				hi,
				logs[64 * GL_POINTS],
				d_a[64 * GL_POINTS],
				d_b[64 * GL_POINTS],
				d_z[64 * GL_POINTS],
				m = -INFINITY,
				sum = 0;
	Log2F1		f = {0, 0, 0, 0};
	int			n = 0;

	gauss_legendre_init();
	hi = fmin(a * (1 - z) / z / (8 * fmax(b, 1)), 1);
	while (lo < 45 && n + GL_POINTS <= 64 * GL_POINTS)
	{
		double		mid = (lo + hi) / 2,
					half = (hi - lo) / 2;

		for (int i = 0; i < GL_POINTS; i++)
		{
			double		w = mid + half * gl_node[i];
			double		em1 = expm1(-w / a);
			/* q = 1 - z exp(-w/a) = (1 - z) - z expm1(-w/a), without cancellation */
			double		q = (1 - z) - z * em1;
			double		l = log(half * gl_weight[i]) - w - b * log(q);

			logs[n] = l;
			/* derivatives of the log integrand -w - b log q */
			d_a[n] = b * z * (1 + em1) * w / (a * a * q);
			d_b[n] = -log(q);
			d_z[n] = b * (1 + em1) / q;
			n++;
			m = fmax(m, l);
		}
		lo = hi;
		hi = fmin(2 * hi, 45);
	}
	for (int i = 0; i < n; i++)
	{
		double		e = exp(logs[i] - m);

		sum += e;
		f.da += e * d_a[i];
		f.db += e * d_b[i];
		f.dz += e * d_z[i];
	}
	f.v = m + log(sum);
	f.da /= sum;
	f.db /= sum;
	f.dz /= sum;
	return f;
}

/*
 * The series of 2F1(a, b; a+1; z) with the derivatives of its log: term k is
 * prod_{j<k} (a+j)(b+j) z / ((a+1+j)(j+1)), so d log(term k) is
 * sum_{j<k} (1/(a+j) - 1/(a+1+j)) in a, sum_{j<k} 1/(b+j) in b and k/z in z.
 */
static Log2F1
log_hyp2f1_c_a1_series(double a, double b, double z)
{
	double		term = 1,
				sum = 1,
				la = 0,
				lb = 0,
				sa = 0,
				sb = 0,
				sz = 0;
	Log2F1		f;

	for (int k = 0; k < HYP2F1_MAX_TERMS; k++)
	{
		double		ratio = (a + k) * (b + k) / ((a + 1 + k) * (k + 1.0)) * z;

		if ((k & 4095) == 4095)
			cs_check_interrupts();
		la += 1 / (a + k) - 1 / (a + 1 + k);
		lb += 1 / (b + k);
		term *= ratio;
		sum += term;
		sa += term * la;
		sb += term * lb;
		sz += term * (k + 1);
		if (!isfinite(sum))
			break;
		if (k > 2 && ratio < 1 && term <= 1e-17 * (1 - ratio) * sum)
		{
			f.v = log(sum);
			f.da = sa / sum;
			f.db = sb / sum;
			f.dz = z > 0 ? sz / (z * sum) : a * b / (a + 1);
			return f;
		}
	}
	f.v = f.da = f.db = f.dz = NAN;
	return f;
}

/*
 * log 2F1(a, b; a + 1; z) and its partial derivatives, for 0 <= z < 1, a > 0,
 * b > 0: the series where it is short (z <= 0.95 and b z / (1 - z) < 2000),
 * quadrature elsewhere.
 */
Log2F1
log_hyp2f1_c_a1_grad(double a, double b, double z)
{
	if (z < 0 || z >= 1 || !isfinite(z) || !(a > 0) || !(b > 0))
	{
		Log2F1		nan = {NAN, NAN, NAN, NAN};

		return nan;
	}
	if (z == 0)
	{
		Log2F1		one = {0, 0, 0, a * b / (a + 1)};

		return one;
	}
	/* the series' terms grow for about b z / (1 - z) terms first: short only for z and b not too large */
	return z <= 0.95 && (b + 1) * z / (1 - z) < 2000 ? log_hyp2f1_c_a1_series(a, b, z)
		: log_hyp2f1_c_a1_quadrature(a, b, z);
}

double
log_hyp2f1_c_a1(double a, double b, double z)
{
	return log_hyp2f1_c_a1_grad(a, b, z).v;
}

/* 2F1(a, b; c; z) by its series, or through Euler's transformation when the series does not converge. */
double
hyp2f1(double a, double b, double c, double z)
{
	double		v;

	if (z < 0 || z >= 1 || !isfinite(z))
		return NAN;
	v = hyp2f1_series(a, b, c, z);
	if (isnan(v) && c > a && c > b && a > 0 && b > 0)
		v = exp(hyp2f1_euler_log(a, b, c, z));
	return v;
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

	cs_check_interrupts();
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

	cs_check_interrupts();
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

/*
 * Stopping.  converged means one thing: at the returned point every component
 * of the gradient of the objective (mean negative log-likelihood per customer
 * plus the penalty) with respect to the log-parameters is at most
 * BFGS_GTOL_CONVERGED.  The optimiser goes on towards BFGS_GTOL_TARGET for
 * accuracy while it makes progress.  Work is bounded: at most BFGS_MAX_ITER
 * iterations and BFGS_MAX_EVALS objective evaluations over all restarts, and
 * a fit stops at the edge of the parameter space: any parameter more than a
 * factor e^BFGS_EDGE from where it started, or a shape parameter (r, a, b, s, p, q) above
 * e^BFGS_SHAPE_EDGE, where the coefficient of variation of the rate it shapes
 * is below 0.7%.  There the likelihood keeps rising towards a limit the model
 * cannot reach: no heterogeneity (the Pareto/NBD with s, beta growing
 * together tends to one dropout rate for everyone).
 */
#define BFGS_MAX_ITER 300
#define BFGS_MAX_EVALS 3000
#define BFGS_GTOL_TARGET 1e-9
#define BFGS_GTOL_CONVERGED 1e-6
#define BFGS_EDGE 20.0			/* e^20 = 4.9e8 */
#define BFGS_SHAPE_EDGE 10.0	/* e^10 = 22026 */
#define BFGS_MAX_STEP 4.0		/* at most a factor e^4 per parameter per step */

typedef struct BfgsBudget
{
	int			iterations;
	int			evaluations;
	unsigned	shapes;			/* bit k: parameter k is a shape parameter */
	double		start[4];		/* log-parameters the fit started from */
	BtydStop	stop;
} BfgsBudget;

static bool
at_edge(const double *theta, int n, const BfgsBudget *budget)
{
	for (int k = 0; k < n; k++)
		if (fabs(theta[k] - budget->start[k]) > BFGS_EDGE
			|| ((budget->shapes >> k) & 1 && theta[k] > BFGS_SHAPE_EDGE))
			return true;
	return false;
}

static double
max_abs(const double *v, int n)
{
	double		m = 0;

	for (int i = 0; i < n; i++)
		if (fabs(v[i]) > m)
			m = fabs(v[i]);
	return m;
}

static double
evaluate(Objective f, const void *ctx, const double *theta, double *grad, BfgsBudget *budget)
{
	budget->evaluations++;
	return f(theta, grad, ctx);
}

/* Minimises f from theta (in place) within the budget; sets budget->stop. */
static void
bfgs(Objective f, const void *ctx, double *theta, int n, BfgsBudget *budget)
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

	for (int i = 0; i < n * n; i++)
		H[i] = (i % (n + 1) == 0) ? 1 : 0;
	fx = evaluate(f, ctx, theta, g, budget);
	if (!isfinite(fx))
	{
		budget->stop = BTYD_STOP_NO_PROGRESS;
		return;
	}
	for (;;)
	{
		double		slope = 0,
					step = 1,
					dmax,
					sy = 0;
		bool		accepted = false;

		if (max_abs(g, n) <= BFGS_GTOL_TARGET)
		{
			budget->stop = BTYD_STOP_CONVERGED;
			return;
		}
		if (budget->iterations >= BFGS_MAX_ITER || budget->evaluations >= BFGS_MAX_EVALS)
		{
			budget->stop = BTYD_STOP_BUDGET;
			return;
		}
		budget->iterations++;
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
			slope = 0;
			for (int i = 0; i < n; i++)
			{
				d[i] = -g[i];
				slope -= g[i] * g[i];
			}
		}
		dmax = max_abs(d, n);
		if (dmax > BFGS_MAX_STEP)
			step = BFGS_MAX_STEP / dmax;
		for (int tries = 0; tries < 60 && budget->evaluations < BFGS_MAX_EVALS; tries++)
		{
			for (int i = 0; i < n; i++)
				tn[i] = theta[i] + step * d[i];
			fn = evaluate(f, ctx, tn, gn, budget);
			if (isfinite(fn) && fn <= fx + 1e-4 * step * slope)
			{
				accepted = true;
				break;
			}
			step *= 0.5;
		}
		if (!accepted)
		{
			budget->stop = BTYD_STOP_NO_PROGRESS;
			return;
		}
		for (int i = 0; i < n; i++)
		{
			s[i] = tn[i] - theta[i];
			y[i] = gn[i] - g[i];
			sy += s[i] * y[i];
			theta[i] = tn[i];
			g[i] = gn[i];
		}
		if (at_edge(theta, n, budget))
		{
			budget->stop = BTYD_STOP_EDGE;
			return;
		}
		if (fabs(fx - fn) <= 1e-15 * (1 + fabs(fx)))
		{
			/* No change left in double precision: as close as this problem can get. */
			budget->stop = BTYD_STOP_NO_PROGRESS;
			return;
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
}

static BtydFit
fit(Objective f, const BtydRows *rows, double penalizer, int n, unsigned shapes, const double *start)
{
	FitCtx		ctx = {rows, btyd_rows_weight(rows), penalizer, 0};
	double		theta[4];
	double		g[4];
	BtydFit		result;
	BfgsBudget	budget = {0, 0, shapes, {0, 0, 0, 0}, BTYD_STOP_NO_PROGRESS};

	memset(&result, 0, sizeof(result));
	for (int k = 0; k < n; k++)
		budget.start[k] = theta[k] = log(start[k]);
	/*
	 * Restarts from the last point rebuild BFGS's curvature estimate, after a
	 * failed line search only: the budget and the edge end the fit.
	 */
	for (int attempt = 0; attempt < 4; attempt++)
	{
		bfgs(f, &ctx, theta, n, &budget);
		if (budget.stop != BTYD_STOP_NO_PROGRESS)
			break;
	}
	f(theta, g, &ctx);
	for (int k = 0; k < n; k++)
		result.params[k] = exp(theta[k]);
	result.loglik = ctx.loglik;
	result.iterations = budget.iterations;
	result.gradient = max_abs(g, n);
	result.converged = result.gradient <= BFGS_GTOL_CONVERGED && isfinite(result.loglik);
	result.stop = result.converged ? BTYD_STOP_CONVERGED : budget.stop;
	return result;
}

/*
 * Where fits start: every parameter at 1, as lifetimes does, except the
 * Gamma-Gamma spend scale gamma at the mean spend, so a fit in cents or in a
 * currency of large units starts as near its optimum as one in dollars (the
 * edge of the parameter space is measured from the start).
 */
static double
mean_tx(const BtydRows *rows)
{
	double		w = 0,
				s = 0;

	for (int64_t i = 0; i < rows->n; i++)
	{
		w += rows->rows[i].w;
		s += rows->rows[i].w * rows->rows[i].tx;
	}
	return w > 0 ? s / w : 1;
}

static double
positive_or_one(double v)
{
	return isfinite(v) && v > 0 ? v : 1;
}

BtydFit
bgnbd_fit(const BtydRows *rows, double penalizer)
{
	const double start[4] = {1, 1, 1, 1};

	return fit(bgnbd_objective, rows, penalizer, 4, 0xD, start);	/* shapes: r, a, b */
}

BtydFit
gg_fit(const BtydRows *rows, double penalizer)
{
	const double start[4] = {1, 1, positive_or_one(mean_tx(rows)), 1};

	return fit(gg_objective, rows, penalizer, 3, 0x3, start);	/* shapes: p, q */
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
bgnbd_expected(const double *p, double t, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				a = p[2],
				b = p[3];
	double		num = bgnbd_horizon_term(r + x, alpha + T, a, b + x, t);
	double		den = 1 + (x > 0 ? a / (b + x - 1) * exp((r + x) * (log(alpha + T) - log(alpha + tx))) : 0);

	return num / den;
}

double
bgnbd_expected_new(const double *p, double t)
{
	return bgnbd_horizon_term(p[0], p[1], p[2], p[3], t);
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

BtydFit
pnbd_fit(const BtydRows *rows, double penalizer)
{
	const double start[4] = {1, 1, 1, 1};

	return fit(pnbd_objective, rows, penalizer, 4, 0x5, start);	/* shapes: r, s */
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

/*
 * fit_math.c: weighted distinct rows and the BFGS maximum-likelihood fit
 * shared by every BTYD model (see fit_math.h), free of fmgr.
 */
#include "fit_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- rows */

/* qsort has no context: the width of the records being sorted (a process sorts one set at a time). */
static int	records_width;

static int
cmp_record(const void *pa, const void *pb)
{
	const double *a = pa;
	const double *b = pb;

	for (int i = 0; i < records_width - 1; i++)	/* the weight last: not part of the key */
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

/* Merges equal neighbours of sorted records in place (adding weights); returns how many are left. */
static int64_t
merge_equal(double *data, int64_t n, int width)
{
	int64_t		out = 0;

	for (int64_t i = 1; i < n; i++)
	{
		double	   *kept = data + out * width;
		double	   *row = data + i * width;

		if ((i & 0xFFFF) == 0)
			cs_check_interrupts();
		if (cmp_record(kept, row) == 0)
			kept[width - 1] += row[width - 1];
		else if (++out != i)
			memcpy(data + out * width, row, sizeof(double) * width);
	}
	return n > 0 ? out + 1 : 0;
}

/*
 * Only the records added since the last compaction are sorted; they are then
 * merged with the sorted ones before them (from the back, the new ones
 * copied aside), so a record is sorted once, not at every compaction of a
 * growing set.
 */
int64_t
weighted_records_compact(double *data, int64_t n, int64_t sorted, int width, const CsAllocator *a)
{
	size_t		size = sizeof(double) * width;
	int64_t		fresh_n;
	double	   *fresh;

	if (n == sorted)
		return n;
	records_width = width;
	qsort(data + sorted * width, (size_t) (n - sorted), size, cmp_record);
	fresh_n = merge_equal(data + sorted * width, n - sorted, width);
	if (sorted == 0)
		return fresh_n;
	fresh = a->alloc(a->ctx, size * (size_t) fresh_n);
	memcpy(fresh, data + sorted * width, size * (size_t) fresh_n);
	for (int64_t i = sorted - 1, j = fresh_n - 1, k = sorted + fresh_n - 1; j >= 0; k--)
	{
		bool		old_first = i >= 0 && cmp_record(data + i * width, fresh + j * width) > 0;

		if ((k & 0xFFFF) == 0)
			cs_check_interrupts();
		memmove(data + k * width, old_first ? data + i-- * width : fresh + j-- * width, size);
	}
	a->free(a->ctx, fresh);
	/* a new record equal to an old one now follows it */
	return merge_equal(data, sorted + fresh_n, width);
}

void
btyd_rows_compact(BtydRows *set, const CsAllocator *a)
{
	set->n = weighted_records_compact((double *) set->rows, set->n, set->sorted, BTYD_ROW_WIDTH, a);
	set->sorted = set->n;
}

double *
weighted_records_reserve(double *data, int64_t *n, int64_t *cap, int64_t *sorted, int width, const CsAllocator *a)
{
	size_t		size = sizeof(double) * width;

	if (*n < *cap)
		return data;
	*n = *sorted = weighted_records_compact(data, *n, *sorted, width, a);
	/* Grow only when compaction freed less than half: the set tracks distinct records. */
	if (*n * 2 < *cap)
		return data;
	*cap = *cap < 1024 ? 1024 : *cap * 2;
	return cs_grow(a, data, size * (size_t) *n, size * (size_t) *cap);
}

void
btyd_rows_add(BtydRows *set, double x, double tx, double T, double w, const CsAllocator *a)
{
	set->rows = (BtydRow *) weighted_records_reserve((double *) set->rows, &set->n, &set->cap, &set->sorted,
													 BTYD_ROW_WIDTH, a);
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

/*
 * Mean negative log-likelihood plus penalizer * sum(params^2), and its
 * gradient with respect to the log-parameters from the likelihood gradient
 * dll (with respect to the parameters).
 */
double
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
	double		start[BTYD_MAX_PARAMS];	/* (log-)parameters the fit started from */
	int			longest_run;	/* iterations of the longest BFGS run (restarts are runs) */
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

/*
 * Minimises f from theta (in place) within the budget, from the inverse
 * Hessian approximation H (n x n, updated in place); sets budget->stop.
 */
static void
bfgs_run(Objective f, const void *ctx, double *theta, int n, BfgsBudget *budget, double *H)
{
	double		g[BTYD_MAX_PARAMS],
				gn[BTYD_MAX_PARAMS],
				d[BTYD_MAX_PARAMS],
				s[BTYD_MAX_PARAMS],
				y[BTYD_MAX_PARAMS],
				tn[BTYD_MAX_PARAMS],
				fx,
				fn = 0;

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
			/* A decrease this small is below the objective's rounding: halving further cannot show one. */
			if (-step * slope < 1e-15 * (1 + fabs(fx)))
				break;
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
						Hy[BTYD_MAX_PARAMS],
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

/*
 * bfgs_run from the identity, or from h0 when given.  Into h_out, when given,
 * the approximation of the longest run so far: a restart near the optimum
 * stops after a step or two, having learnt little of the curvature.
 */
static void
bfgs(Objective f, const void *ctx, double *theta, int n, BfgsBudget *budget, const double *h0, double *h_out)
{
	double		H[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	int			before = budget->iterations;

	for (int i = 0; i < n * n; i++)
		H[i] = h0 != NULL ? h0[i] : (i % (n + 1) == 0) ? 1 : 0;
	bfgs_run(f, ctx, theta, n, budget, H);
	if (h_out != NULL && (before == 0 || budget->iterations - before > budget->longest_run))
		memcpy(h_out, H, sizeof(double) * n * n);
	if (budget->iterations - before > budget->longest_run)
		budget->longest_run = budget->iterations - before;
}

BtydFit
btyd_fit_model(const BtydModelSpec *model, const BtydRows *rows, double penalizer, double *h_out)
{
	FitCtx		ctx = {rows, btyd_rows_weight(rows), penalizer, 0};
	double		start[BTYD_MAX_PARAMS];

	for (int k = 0; k < model->n_params; k++)
		start[k] = 1;
	if (model->start != NULL)
		model->start(rows, start);
	return btyd_fit_warm(model->objective, &ctx, model->n_params, model->n_params, model->shapes, start, NULL, h_out);
}

BtydFit
btyd_fit_warm(Objective f, FitCtx *ctx, int n, int n_log, unsigned shapes, const double *start, const double *h0,
			  double *h_out)
{
	double		theta[BTYD_MAX_PARAMS];
	double		g[BTYD_MAX_PARAMS];
	BtydFit		result;
	BfgsBudget	budget;

	memset(&result, 0, sizeof(result));
	memset(&budget, 0, sizeof(budget));
	budget.shapes = shapes;
	budget.stop = BTYD_STOP_NO_PROGRESS;
	for (int k = 0; k < n; k++)
		budget.start[k] = theta[k] = k < n_log ? log(start[k]) : start[k];
	/*
	 * Restarts from the last point rebuild BFGS's curvature estimate, after a
	 * failed line search only: the budget and the edge end the fit.
	 */
	for (int attempt = 0; attempt < 4; attempt++)
	{
		bfgs(f, ctx, theta, n, &budget, attempt == 0 ? h0 : NULL, h_out);
		if (budget.stop != BTYD_STOP_NO_PROGRESS)
			break;
	}
	f(theta, g, ctx);
	for (int k = 0; k < n; k++)
		result.params[k] = k < n_log ? exp(theta[k]) : theta[k];
	result.loglik = ctx->loglik;
	result.iterations = budget.iterations;
	result.gradient = max_abs(g, n);
	result.converged = result.gradient <= BFGS_GTOL_CONVERGED && isfinite(result.loglik);
	result.stop = result.converged ? BTYD_STOP_CONVERGED : budget.stop;
	return result;
}

/*
 * The covariance of the n parameters at params from the observed information: the Hessian of the total
 * negative log-likelihood (no penalty) in the search coordinates (log-parameters, then coefficients), by
 * central differences of f's analytic gradient (step 1e-5), symmetrised and inverted by Cholesky; then
 * cov(p_i, p_j) = J_i J_j cov(theta_i, theta_j), J = p for a log-parameter and 1 for a coefficient (the
 * delta method).  False when the Hessian is not positive definite (no interior maximum).
 */
bool
btyd_model_covariance(const BtydModelSpec *model, const BtydRows *rows, const double *params, double *cov)
{
	FitCtx		ctx = {rows, btyd_rows_weight(rows), 0, 0};

	return btyd_covariance_ctx(model->objective, &ctx, model->n_params, model->n_params, params, cov);
}

bool
btyd_covariance_ctx(Objective f, FitCtx *ctx, int n, int n_log, const double *params, double *cov)
{
	const double h = 1e-5;
	double		theta[BTYD_MAX_PARAMS],
				jac[BTYD_MAX_PARAMS],
				hess[BTYD_MAX_PARAMS][BTYD_MAX_PARAMS],
				chol[BTYD_MAX_PARAMS][BTYD_MAX_PARAMS],
				inv[BTYD_MAX_PARAMS][BTYD_MAX_PARAMS];

	ctx->penalizer = 0;
	for (int k = 0; k < n; k++)
	{
		theta[k] = k < n_log ? log(params[k]) : params[k];
		jac[k] = k < n_log ? params[k] : 1;
	}
	for (int j = 0; j < n; j++)
	{
		double		up[BTYD_MAX_PARAMS],
					down[BTYD_MAX_PARAMS],
					gp[BTYD_MAX_PARAMS],
					gm[BTYD_MAX_PARAMS];

		memcpy(up, theta, sizeof(up));
		memcpy(down, theta, sizeof(down));
		up[j] += h;
		down[j] -= h;
		f(up, gp, ctx);
		f(down, gm, ctx);
		for (int i = 0; i < n; i++)
			hess[i][j] = (gp[i] - gm[i]) / (2 * h) * ctx->weight;	/* the objective is a mean */
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < i; j++)
			hess[i][j] = hess[j][i] = (hess[i][j] + hess[j][i]) / 2;
	/* Cholesky: hess = L L' */
	memset(chol, 0, sizeof(chol));
	for (int i = 0; i < n; i++)
		for (int j = 0; j <= i; j++)
		{
			double		s = hess[i][j];

			for (int k = 0; k < j; k++)
				s -= chol[i][k] * chol[j][k];
			if (i == j)
			{
				if (!(s > 0) || !isfinite(s))
					return false;
				chol[i][i] = sqrt(s);
			}
			else
				chol[i][j] = s / chol[j][j];
		}
	/* inverse column by column: L y = e_c, L' x = y */
	for (int c = 0; c < n; c++)
	{
		double		y[BTYD_MAX_PARAMS],
					x[BTYD_MAX_PARAMS];

		for (int i = 0; i < n; i++)
		{
			double		s = i == c ? 1 : 0;

			for (int k = 0; k < i; k++)
				s -= chol[i][k] * y[k];
			y[i] = s / chol[i][i];
		}
		for (int i = n - 1; i >= 0; i--)
		{
			double		s = y[i];

			for (int k = i + 1; k < n; k++)
				s -= chol[k][i] * x[k];
			x[i] = s / chol[i][i];
		}
		for (int i = 0; i < n; i++)
			inv[i][c] = x[i];
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			cov[i * n + j] = jac[i] * jac[j] * inv[i][j];
	return true;
}

/*
 * Where fits start: every parameter at 1, as lifetimes does, except the
 * Gamma-Gamma spend scale gamma at the mean spend, so a fit in cents or in a
 * currency of large units starts as near its optimum as one in dollars (the
 * edge of the parameter space is measured from the start).
 */
double
btyd_rows_mean_tx(const BtydRows *rows)
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

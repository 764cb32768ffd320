/*
 * covariate_math.c: BTYD fits with time-invariant covariates (see
 * covariate_math.h), free of fmgr.
 *
 * The rows are grouped by covariate vector; the log-likelihood of a group is
 * the plain model's, at the group's own parameters, so the plain objectives
 * (with their caches over histories) do the work, once per group and
 * evaluation, and the chain rule gives the coefficients' gradient.  The
 * search runs on standardised covariates (weighted mean 0, SD 1 over the
 * customers), where a step and the edge of the parameter space mean the same
 * for every covariate; the estimates are mapped back to the covariates as
 * given.  A covariate constant over all customers cannot be told from the
 * base parameter: its coefficient stays 0 and is marked fixed.
 */
#include "covariate_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- rows */

void
cov_rows_compact(CovRows *set)
{
	/* no allocator yet (a set never added to, or read from a value): sort everything, no merge buffer needed */
	set->n = weighted_records_compact(set->data, set->n, set->alloc.alloc == NULL ? 0 : set->sorted,
									  cov_rows_width(set), &set->alloc);
	set->sorted = set->n;
}

void
cov_rows_add(CovRows *set, const double *z, double x, double tx, double T, double w, const CsAllocator *a)
{
	int			width = cov_rows_width(set);
	int			k = set->kp + set->kd;
	double	   *row;

	if (set->alloc.alloc == NULL)
		set->alloc = *a;
	set->data = weighted_records_reserve(set->data, &set->n, &set->cap, &set->sorted, width, a);
	row = set->data + set->n * width;
	for (int j = 0; j < k; j++)
		row[j] = z[j] + 0.0;	/* -0 as 0: one vector, one group */
	row[k] = x;
	row[k + 1] = tx;
	row[k + 2] = T;
	row[k + 3] = w;
	set->n++;
}

/* ---------------------------------------------------------------- models */

/* Which base parameter a coefficient block scales, with which sign, from which covariate block. */
typedef struct CovLink
{
	int			param;
	int			block;			/* 0: purchase (spend) covariates, 1: dropout covariates */
	double		sign;
} CovLink;

typedef struct CovModelSpec
{
	const BtydModelSpec *base;	/* the plain model */
	int			n_links;
	CovLink		links[3];
} CovModelSpec;

static const CovModelSpec cov_specs[] = {
	[COV_BGNBD] = {&bgnbd_spec, 3, {{1, 0, -1}, {2, 1, 1}, {3, 1, 1}}},
	[COV_PNBD] = {&pnbd_spec, 2, {{1, 0, -1}, {3, 1, -1}}},
	[COV_GG] = {&gg_spec, 1, {{2, 0, 1}}},
};

const BtydModelSpec *
cov_base_model(CovModelKind kind)
{
	return cov_specs[kind].base;
}

static int
block_size(int block, int kp, int kd)
{
	return block == 0 ? kp : kd;
}

int
cov_coefficients(CovModelKind kind, int kp, int kd)
{
	int			n = 0;

	for (int l = 0; l < cov_specs[kind].n_links; l++)
		n += block_size(cov_specs[kind].links[l].block, kp, kd);
	return n;
}

/* A free coefficient: search index, the base parameter it scales (and sign), its covariate column. */
typedef struct CovTerm
{
	int			index;			/* in the search vector */
	int			param;
	double		sign;
	int			column;			/* in the record's covariates */
	int			out;			/* in the result's params */
} CovTerm;

typedef struct CovFitCtx
{
	FitCtx		fit;			/* first: btyd_fit_warm reads its loglik */
	const CovModelSpec *spec;
	int			n_terms;
	CovTerm		terms[BTYD_MAX_PARAMS];
	int64_t		groups;
	const int64_t *start;		/* group g's rows are rows[start[g] .. start[g + 1]) */
	const double *weight;		/* per group */
	const double *z;			/* per group, standardised, k columns */
	int			k;
	BtydRow    *rows;
} CovFitCtx;

static double
cov_objective(const double *theta, double *grad, const void *vctx)
{
	const CovFitCtx *c = vctx;
	FitCtx	   *fit = (FitCtx *) &c->fit;
	int			n_base = c->spec->base->n_params;
	int			n = n_base + c->n_terms;
	double		nll = 0,
				pen = 0,
				g[BTYD_MAX_PARAMS] = {0};

	for (int64_t gi = 0; gi < c->groups; gi++)
	{
		const double *z = c->z + gi * c->k;
		double		w = c->weight[gi];
		BtydRows	rows = {c->start[gi + 1] - c->start[gi], c->start[gi + 1] - c->start[gi], c->rows + c->start[gi]};
		FitCtx		gctx = {&rows, w, 0, 0};
		double		tg[4],
					gg[4];

		memcpy(tg, theta, sizeof(double) * n_base);
		for (int t = 0; t < c->n_terms; t++)
			tg[c->terms[t].param] += c->terms[t].sign * theta[c->terms[t].index] * z[c->terms[t].column];
		nll += w * c->spec->base->objective(tg, gg, &gctx);
		for (int p = 0; p < n_base; p++)
			g[p] += w * gg[p];
		for (int t = 0; t < c->n_terms; t++)
			g[c->terms[t].index] += w * gg[c->terms[t].param] * c->terms[t].sign * z[c->terms[t].column];
	}
	fit->loglik = -nll;
	for (int k = 0; k < n; k++)
	{
		/* the penalty is on the base parameters (not their logarithms) and on the coefficients */
		double		v = k < n_base ? exp(theta[k]) : theta[k];
		double		dv = k < n_base ? v : 1;

		pen += v * v;
		grad[k] = g[k] / fit->weight + 2 * fit->penalizer * v * dv;
	}
	return nll / fit->weight + fit->penalizer * pen;
}

/*
 * The plain model's fit of all rows, covariates ignored: where the covariate
 * fit starts, with the plain fit's last inverse Hessian approximation in
 * h_out (n_base x n_base).
 */
static BtydFit
plain_fit(const CovModelSpec *spec, const CovRows *set, double penalizer, const CsAllocator *a, double *h_out)
{
	int			width = cov_rows_width(set);
	int			k = set->kp + set->kd;
	BtydRows	rows = {0, 0, NULL};
	BtydFit		fit;

	for (int64_t i = 0; i < set->n; i++)
	{
		const double *r = set->data + i * width;

		btyd_rows_add(&rows, r[k], r[k + 1], r[k + 2], r[k + 3], a);
	}
	btyd_rows_compact(&rows, a);
	fit = btyd_fit_model(spec->base, &rows, penalizer, h_out);
	a->free(a->ctx, rows.rows);
	return fit;
}

/* The covariates' weighted means and SDs over customers, their total weight and the groups of equal covariates
 * (the rows are sorted by them). */
typedef struct CovMoments
{
	double		mean[2 * COV_MAX_COVARIATES];
	double		sd[2 * COV_MAX_COVARIATES];
	double		total;
	int64_t		groups;
} CovMoments;

static void
covariate_moments(const CovRows *set, CovMoments *m)
{
	int			width = cov_rows_width(set);
	int			k = set->kp + set->kd;

	memset(m, 0, sizeof(*m));
	for (int64_t i = 0; i < set->n; i++)
	{
		const double *r = set->data + i * width;

		if (i == 0 || memcmp(r, r - width, sizeof(double) * k) != 0)
			m->groups++;
		m->total += r[k + 3];
		for (int j = 0; j < k; j++)
			m->mean[j] += r[k + 3] * r[j];
	}
	for (int j = 0; j < k; j++)
		m->mean[j] /= m->total;
	for (int64_t i = 0; i < set->n; i++)
	{
		const double *r = set->data + i * width;

		for (int j = 0; j < k; j++)
			m->sd[j] += r[k + 3] * (r[j] - m->mean[j]) * (r[j] - m->mean[j]);
	}
	for (int j = 0; j < k; j++)
		m->sd[j] = sqrt(m->sd[j] / m->total);
}

/* The free coefficients, those of covariates that vary (beyond rounding), as search terms of c; the others
 * are marked fixed in out. */
static void
free_coefficients(const CovModelSpec *spec, const CovRows *set, const CovMoments *m, CovFitCtx *c, CovFit *out)
{
	int			out_index = spec->base->n_params;

	for (int l = 0; l < spec->n_links; l++)
	{
		int			first = spec->links[l].block == 0 ? 0 : set->kp;

		for (int j = 0; j < block_size(spec->links[l].block, set->kp, set->kd); j++, out_index++)
		{
			int			col = first + j;

			if (!(m->sd[col] > 1e-12 * fmax(1, fabs(m->mean[col]))))
			{
				out->fixed[out_index] = true;
				continue;
			}
			c->terms[c->n_terms].index = spec->base->n_params + c->n_terms;
			c->terms[c->n_terms].param = spec->links[l].param;
			c->terms[c->n_terms].sign = spec->links[l].sign;
			c->terms[c->n_terms].column = col;
			c->terms[c->n_terms].out = out_index;
			c->n_terms++;
		}
	}
}

/* The groups the objective runs over: their rows as BtydRows, weights and standardised covariates. */
static void
build_groups(const CovRows *set, const CovMoments *m, CovFitCtx *c, const CsAllocator *a)
{
	int			width = cov_rows_width(set);
	int			k = set->kp + set->kd;
	int64_t    *gstart;
	double	   *gweight;
	double	   *gz;
	int64_t		g = -1;

	c->k = k;
	c->groups = m->groups;
	c->rows = a->alloc(a->ctx, sizeof(BtydRow) * (size_t) set->n);
	c->start = gstart = a->alloc(a->ctx, sizeof(int64_t) * (size_t) (m->groups + 1));
	c->weight = gweight = a->alloc(a->ctx, sizeof(double) * (size_t) m->groups);
	c->z = gz = a->alloc(a->ctx, sizeof(double) * (size_t) (m->groups * (k > 0 ? k : 1)));
	for (int64_t i = 0; i < set->n; i++)
	{
		const double *r = set->data + i * width;

		if (i == 0 || memcmp(r, r - width, sizeof(double) * k) != 0)
		{
			g++;
			gstart[g] = i;
			gweight[g] = 0;
			for (int j = 0; j < k; j++)
				gz[g * k + j] = m->sd[j] > 0 ? (r[j] - m->mean[j]) / m->sd[j] : 0;
		}
		gweight[g] += r[k + 3];
		c->rows[i].x = r[k];
		c->rows[i].tx = r[k + 1];
		c->rows[i].T = r[k + 2];
		c->rows[i].w = r[k + 3];
	}
	gstart[m->groups] = set->n;
}

/*
 * BFGS starts with the plain fit's curvature for the base parameters and,
 * for a coefficient of a standardised covariate, that of the parameter it
 * scales (the covariates are centred: no cross terms at the start).
 */
static void
starting_curvature(const CovFitCtx *c, int n_base, const double *h_plain, double *h0)
{
	int			n = n_base + c->n_terms;

	memset(h0, 0, sizeof(double) * n * n);
	for (int i = 0; i < n_base; i++)
		for (int j = 0; j < n_base; j++)
			h0[i * n + j] = h_plain[i * n_base + j];
	for (int t = 0; t < c->n_terms; t++)
		h0[(n_base + t) * n + n_base + t] = h_plain[c->terms[t].param * n_base + c->terms[t].param];
}

/*
 * Back to the covariates as given: gamma = gamma' / sd, and the centring
 * moves into the base parameter, log p = log p' - sign gamma' mean / sd.
 */
static void
unstandardise(const BtydFit *fit, const CovFitCtx *c, const CovMoments *m, int n_base, CovFit *out)
{
	out->fit = *fit;
	memset(out->fit.params, 0, sizeof(out->fit.params));
	for (int p = 0; p < n_base; p++)
	{
		double		lp = log(fit->params[p]);

		for (int t = 0; t < c->n_terms; t++)
			if (c->terms[t].param == p)
				lp -= c->terms[t].sign * fit->params[c->terms[t].index] * m->mean[c->terms[t].column] / m->sd[c->terms[t].column];
		out->fit.params[p] = exp(lp);
	}
	for (int t = 0; t < c->n_terms; t++)
		out->fit.params[c->terms[t].out] = fit->params[c->terms[t].index] / m->sd[c->terms[t].column];
}

/* The covariance of the parameters as given: the same linear map A takes that of the search coordinates to it. */
static void
unstandardised_covariance(const BtydFit *fit, CovFitCtx *c, const CovMoments *m, int n_base, int n_out, CovFit *out)
{
	int			n = n_base + c->n_terms;
	double		cov_s[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	double		A[BTYD_MAX_PARAMS][BTYD_MAX_PARAMS];
	int			row_of[BTYD_MAX_PARAMS];	/* search index -> result index */

	/* the search coordinates as they are (no log-scale Jacobian: n_log 0) */
	double		theta[BTYD_MAX_PARAMS];

	for (int p = 0; p < n; p++)
		theta[p] = p < n_base ? log(fit->params[p]) : fit->params[p];
	out->has_cov = btyd_covariance_ctx(cov_objective, &c->fit, n, 0, theta, cov_s);
	if (!out->has_cov)
		return;
	memset(A, 0, sizeof(A));
	for (int p = 0; p < n_base; p++)
	{
		row_of[p] = p;
		A[p][p] = 1;
	}
	for (int t = 0; t < c->n_terms; t++)
	{
		int			s = c->terms[t].index;
		int			col = c->terms[t].column;

		row_of[s] = c->terms[t].out;
		A[s][s] = 1 / m->sd[col];
		A[c->terms[t].param][s] = -c->terms[t].sign * m->mean[col] / m->sd[col];
	}
	/* cov = J A cov_s A' J, J = p for the base parameters (log scale), 1 for coefficients */
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
		{
			double		v = 0;

			for (int u = 0; u < n; u++)
				for (int x = 0; x < n; x++)
					v += A[i][u] * cov_s[u * n + x] * A[j][x];
			if (i < n_base)
				v *= out->fit.params[i];
			if (j < n_base)
				v *= out->fit.params[j];
			out->cov[row_of[i] * n_out + row_of[j]] = v;
		}
}

/*
 * The covariate fit, in phases: the covariates' moments and groups, the free coefficients, the plain fit
 * as the start, BFGS over standardised covariates from the plain fit's curvature, then the parameters (and
 * their covariance) back on the covariates' own scale.
 */
void
cov_fit(CovModelKind kind, const CovRows *set, double penalizer, bool covariance, const CsAllocator *a, CovFit *out)
{
	const CovModelSpec *spec = &cov_specs[kind];
	int			n_base = spec->base->n_params;
	int			n_out = n_base + cov_coefficients(kind, set->kp, set->kd);
	CovMoments	m;
	CovFitCtx	c;
	double		start[BTYD_MAX_PARAMS],
				h_plain[16],
				h0[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	BtydFit		base,
				fit;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	out->n = n_out;

	covariate_moments(set, &m);
	free_coefficients(spec, set, &m, &c, out);

	base = plain_fit(spec, set, penalizer, a, h_plain);
	for (int p = 0; p < n_base; p++)
		start[p] = base.params[p];
	for (int t = 0; t < c.n_terms; t++)
		start[n_base + t] = 0;

	c.spec = spec;
	build_groups(set, &m, &c, a);
	c.fit.weight = m.total;
	c.fit.penalizer = penalizer;

	starting_curvature(&c, n_base, h_plain, h0);
	fit = c.n_terms == 0 ? base
		: btyd_fit_warm(cov_objective, &c.fit, n_base + c.n_terms, n_base, spec->base->shapes, start, h0, NULL);

	unstandardise(&fit, &c, &m, n_base, out);
	out->groups = m.groups;
	if (covariance)
		unstandardised_covariance(&fit, &c, &m, n_base, n_out, out);
	a->free(a->ctx, c.rows);
	a->free(a->ctx, (void *) c.start);
	a->free(a->ctx, (void *) c.weight);
	a->free(a->ctx, (void *) c.z);
}

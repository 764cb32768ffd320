/*
 * covariate_math.h: BTYD models with time-invariant customer covariates,
 * free of fmgr (see covariate_math.c).
 *
 * A customer with covariates z (purchase block z_p, dropout block z_d) has
 * the plain model's parameters with some scaled by exp(sign * gamma . z):
 *   BG/NBD      alpha_i = alpha exp(-g_p . z_p), a_i = a exp(g_a . z_d), b_i = b exp(g_b . z_d)
 *   Pareto/NBD  alpha_i = alpha exp(-g_p . z_p), beta_i = beta exp(-g_d . z_d)
 *   Gamma-Gamma gamma_i = gamma exp(g . z)        (z_p holds the spend covariates)
 * (pymc-marketing's parameterisation; a positive g_p raises the purchase
 * rate, a positive g_d the dropout rate, a positive g the spend).
 */
#ifndef COVARIATE_MATH_H
#define COVARIATE_MATH_H

#include "btyd_math.h"

#define COV_MAX_COVARIATES 8	/* per block */

/* Weighted distinct (covariates, history) rows: records of kp + kd covariates, then x, tx, T, w. */
typedef struct CovRows
{
	int			kp;				/* purchase (or spend) covariates */
	int			kd;				/* dropout covariates */
	int64_t		n;
	int64_t		cap;
	double	   *data;
	int64_t		sorted;			/* the first records are sorted and distinct (0: none known to be) */
	CsAllocator alloc;			/* where compaction takes its merge buffer (none: it sorts the whole set) */
} CovRows;

static inline int
cov_rows_width(const CovRows *set)
{
	return set->kp + set->kd + 4;
}

void		cov_rows_add(CovRows *set, const double *z, double x, double tx, double T, double w, const CsAllocator *a);

/*
 * Sorts the records by covariates, then history, and merges equal ones
 * (adding their weights).  Only the records added since the last compaction
 * are sorted; they are then merged with the sorted ones.
 */
void		cov_rows_compact(CovRows *set);

typedef enum CovModelKind
{
	COV_BGNBD,
	COV_PNBD,
	COV_GG
} CovModelKind;

/* The plain model under a covariate model (its base parameters: n_params, names), and its coefficient blocks in order. */
const BtydModelSpec *cov_base_model(CovModelKind kind);
int			cov_coefficients(CovModelKind kind, int kp, int kd);

typedef struct CovFit
{
	BtydFit		fit;			/* params: the base parameters, then every coefficient block in order */
	int			n;				/* parameters in all */
	bool		fixed[BTYD_MAX_PARAMS];	/* a coefficient of a covariate constant over all customers: 0, not estimated */
	int64_t		groups;			/* distinct covariate vectors */
	bool		has_cov;		/* the covariance below was computed */
	double		cov[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];	/* of params, row-major; rows and columns of fixed ones 0 */
} CovFit;

/*
 * Fits the model to compacted rows by maximum likelihood (penalizer as the
 * plain fits, on the base parameters and the coefficients), starting from the
 * plain model's fit; with covariance, also the covariance of the estimates.
 * Scratch memory from a.
 */
void		cov_fit(CovModelKind kind, const CovRows *rows, double penalizer, bool covariance, const CsAllocator *a,
					CovFit *out);

#endif

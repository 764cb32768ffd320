/*
 * fit_math.h: what every BTYD fit shares, free of fmgr: weighted distinct
 * observations (the aggregates' transition state) and maximum likelihood by
 * BFGS in log-parameter space, with one definition of convergence and a
 * bounded amount of work (see fit_math.c).
 */
#ifndef FIT_MATH_H
#define FIT_MATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_math.h"

/* One distinct observation and how many customers share it. */
typedef struct BtydRow
{
	double		x;
	double		tx;				/* t_x (BG/NBD) or m_x (Gamma-Gamma) */
	double		T;				/* 0 for Gamma-Gamma */
	double		w;
} BtydRow;

/* A row is a weighted record of four doubles (weighted_records_compact). */
#define BTYD_ROW_WIDTH 4
_Static_assert(sizeof(BtydRow) == BTYD_ROW_WIDTH * sizeof(double), "BtydRow is four doubles");

/*
 * Records of width doubles, the weight last and the others the key:
 * data[sorted, n) is sorted by key and merged with data[0, sorted) (sorted
 * and distinct), equal records merged (weights added); returns how many
 * records are left.  a gives the scratch for the merge.
 */
int64_t		weighted_records_compact(double *data, int64_t n, int64_t sorted, int width, const CsAllocator *a);

/*
 * Room for one more record in data (*n of *cap records, the first *sorted
 * sorted and distinct): when full, compacts, then grows to twice the
 * capacity (at least 1024) unless compaction freed at least half.  Returns
 * the data, which may have moved; *n, *cap and *sorted follow.
 */
double	   *weighted_records_reserve(double *data, int64_t *n, int64_t *cap, int64_t *sorted, int width,
									 const CsAllocator *a);

/* A growing set of rows, compacted (sorted, duplicates merged) when full. */
typedef struct BtydRows
{
	int64_t		n;
	int64_t		cap;
	BtydRow    *rows;
	int64_t		sorted;			/* rows[0, sorted) are sorted and distinct */
} BtydRows;

void		btyd_rows_add(BtydRows *set, double x, double tx, double T, double w, const CsAllocator *a);
void		btyd_rows_compact(BtydRows *set, const CsAllocator *a);	/* a: scratch for the merge */
double		btyd_rows_weight(const BtydRows *set);

/* Why a fit stopped. */
typedef enum BtydStop
{
	BTYD_STOP_CONVERGED,		/* the gradient tolerance was met */
	BTYD_STOP_NO_PROGRESS,		/* no step lowers the objective any more */
	BTYD_STOP_BUDGET,			/* iteration or evaluation cap */
	BTYD_STOP_EDGE				/* a parameter moved e^20 from its start, or a shape passed e^10: a limit of the model */
} BtydStop;

/* Parameters of a fit: four of the model, and up to 24 covariate coefficients (see covariate_math.h). */
#define BTYD_MAX_PARAMS 28

typedef struct BtydFit
{
	double		params[BTYD_MAX_PARAMS];
	double		loglik;			/* unpenalised log-likelihood, summed over customers */
	double		gradient;		/* largest gradient component at the end (log-parameters) */
	int			iterations;
	bool		converged;		/* gradient <= 1e-6 */
	BtydStop	stop;
} BtydFit;

/* Mean of tx over the rows, by weight (1 without rows). */
double		btyd_rows_mean_tx(const BtydRows *rows);

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
 * The objective from the summed log-likelihood ll and its gradient dll in the
 * n parameters: mean negative log-likelihood plus penalizer * sum(params^2),
 * with its gradient in the log-parameters; records ll in ctx.
 */
double		penalised_objective(FitCtx *ctx, double ll, const double *dll, const double *params, int n, double *grad);

/*
 * What a plain fit knows of a model: its objective (over a FitCtx), how many
 * parameters and their names, which are shapes (bit k: parameter k, for the
 * edge of the parameter space) and where the search starts (NULL: every
 * parameter at 1).
 */
typedef struct BtydModelSpec
{
	Objective	objective;
	int			n_params;
	const char *names[4];
	unsigned	shapes;
	void		(*start) (const BtydRows *rows, double *start);
} BtydModelSpec;

/*
 * The maximum-likelihood fit of a model by BFGS; penalizer adds penalizer *
 * sum(params^2) to the mean negative log-likelihood (as lifetimes); h_out
 * (n_params x n_params, NULL: not wanted) receives the last inverse-Hessian
 * approximation (see btyd_fit_warm).
 */
BtydFit		btyd_fit_model(const BtydModelSpec *model, const BtydRows *rows, double penalizer, double *h_out);

/*
 * The same with the context given: ctx is a FitCtx or a struct that starts
 * with one.  The first n_log parameters are positive and searched on the log
 * scale (f's theta holds their logarithms), the others (coefficients) as
 * they are.  BFGS starts from the inverse Hessian approximation h0 (n x n, in
 * the search coordinates; NULL: the identity) and leaves its last one in
 * h_out (NULL: not wanted): a fit that continues another starts with its
 * curvature.
 */
BtydFit		btyd_fit_warm(Objective f, FitCtx *ctx, int n, int n_log, unsigned shapes, const double *start,
						  const double *h0, double *h_out);

/* Covariance (n x n, row-major) of the parameters at params from the observed information; false if none. */
bool		btyd_model_covariance(const BtydModelSpec *model, const BtydRows *rows, const double *params, double *cov);
bool		btyd_covariance_ctx(Objective f, FitCtx *ctx, int n, int n_log, const double *params, double *cov);

#endif

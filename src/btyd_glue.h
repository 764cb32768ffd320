/*
 * btyd_glue.h: what the SQL glue of the plain BTYD fits (btyd.c), their composites (btyd_result.c), the
 * predictions (btyd_predict.c), the covariate fits (btyd_covariates.c) and sBG (sbg.c) share.
 */
#ifndef BTYD_GLUE_H
#define BTYD_GLUE_H

#include "fmgr.h"
#include "fit_math.h"

/* Checks a history (x, t_x, T) of the continuous-time models (22023). */
extern void btyd_check_observation(double x, double tx, double T);

/* A checked history's recency: 0 without a repeat purchase, by definition. */
extern double btyd_observed_recency(double x, double tx, double T);

/* Whether a Gamma-Gamma row (frequency, monetary_value) is fitted: false without repeat purchases; checked. */
extern bool btyd_spend_row(double x, double m);

/* The penalizer argument (0 without one), checked. */
extern double btyd_penalizer_arg(FunctionCallInfo fcinfo, int argno);

/* Refuses too few customers or no repeat purchase (22023); spend: Gamma-Gamma's wording. */
extern void btyd_check_fit_input(const char *name, double customers, bool any_repeat, bool spend);

/* Refuses a fit with a non-finite parameter or likelihood; a NOTICE saying why when it did not converge. */
extern void btyd_report_fit(const char *name, const BtydFit *fit, int nparams);

/* A fit with its covariance, as the btyd_fit_uncertainty composite. */
typedef struct BtydUncertainty
{
	int			n;				/* parameters */
	int			n_log;			/* the first n_log are positive: intervals on the log scale */
	const char *const *names;
	const BtydFit *fit;
	const double *cov;			/* n x n, row-major */
	bool		has_cov;
	const bool *fixed;			/* NULL, or per parameter: not estimated, no standard error */
	double		customers;
} BtydUncertainty;

extern Datum btyd_uncertainty_datum(FunctionCallInfo fcinfo, const BtydUncertainty *u);

/* A fit as its model composite: the nparams parameters, log-likelihood, customers, distinct rows, iterations, converged. */
extern Datum btyd_model_datum(FunctionCallInfo fcinfo, const BtydFit *fit, int nparams, double customers, int64 distinct);

/* A prediction, or 22003 when its series did not converge (NaN or infinite). */
extern double btyd_defined_result(double v, const char *what);

/* The first nparams fields of a model composite argument, checked finite and positive (22023, 22004). */
extern void btyd_model_params(FunctionCallInfo fcinfo, int argno, int nparams, double *params);

/* A BG/BB history (whole numbers 0 <= x <= t_x <= n, t_x = 0 exactly when x = 0), a number of periods (22023). */
extern void bgbb_check_history(double x, double tx, double n);
extern void bgbb_check_periods(double m);

/* sBG (sbg.c): the checks of a renewal count, a weight, and of what a fit needs (customers, a cancellation). */
extern void sbg_check_renewals(int64 renewals);
extern void sbg_check_weight(double w);
extern void sbg_check_fit_input(const BtydRows *rows, double customers);

#endif

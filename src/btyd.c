/*
 * btyd.c: the fitting aggregates of BG/NBD, MBG/NBD, Pareto/NBD, BG/BB, Gamma-Gamma and sBG: their state
 * (weighted distinct rows), transition and combine functions, and the finals that fit (SQL glue around
 * fit_math.c and the models' math files).  The fits' composites are built in btyd_result.c, the
 * predictions of a fitted model are in btyd_predict.c, the covariate fits in btyd_covariates.c and sBG's
 * other functions in sbg.c.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "btyd_glue.h"
#include "btyd_math.h"
#include "cs_util.h"
#include "state.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#define BTYD_MIN_CUSTOMERS 10
/* Largest frequency taken: far above any customer's, low enough for the likelihoods to stay finite. */
#define BTYD_MAX_FREQUENCY 1e9

typedef enum BtydModel
{
	MODEL_BGNBD,
	MODEL_PNBD,
	MODEL_GG,
	MODEL_MBGNBD,
	MODEL_BGBB,
	MODEL_SBG
} BtydModel;

static const char *const model_names[] = {"BG/NBD", "Pareto/NBD", "Gamma-Gamma", "MBG/NBD", "BG/BB", "sBG"};
static const BtydModelSpec *const model_specs[] = {&bgnbd_spec, &pnbd_spec, &gg_spec, &mbgnbd_spec, &bgbb_spec, &sbg_spec};

typedef struct FitState
{
	BtydRows	rows;
	double		penalizer;
	int64		skipped;		/* NULL rows, or (Gamma-Gamma) customers without repeat purchases */
} FitState;

void
btyd_check_observation(double x, double tx, double T)
{
	cs_check_finite(x, "frequency");
	cs_check_finite(tx, "recency");
	cs_check_finite(T, "T");
	if (x < 0 || x != floor(x) || x > BTYD_MAX_FREQUENCY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("frequency must be a whole number of repeat purchases between 0 and %g", BTYD_MAX_FREQUENCY),
				 errdetail("Got %g.", x)));
	if (tx < 0 || tx > T)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("recency must be between 0 and T"),
				 errdetail("Got recency %g, T %g.", tx, T),
				 errhint("Use the frequency, recency and t fields of rfm_summary in one time unit.")));
}

double
btyd_observed_recency(double x, double tx, double T)
{
	btyd_check_observation(x, tx, T);
	return x > 0 ? tx : 0;
}

double
btyd_penalizer_arg(FunctionCallInfo fcinfo, int argno)
{
	double		penalizer;

	if (PG_NARGS() <= argno)
		return 0;
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("penalizer must not be NULL")));
	penalizer = PG_GETARG_FLOAT8(argno);
	cs_check_finite(penalizer, "penalizer");
	if (penalizer < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("penalizer must not be negative"),
				 errhint("0 fits plain maximum likelihood; lifetimes users often take 0.001 to 0.1.")));
	return penalizer;
}

/*
 * The state as a value (type btyd_fit_state): penalizer, skipped rows, then
 * the weighted distinct rows, compacted first.
 */
#define FIT_HEADER (sizeof(double) + 2 * sizeof(int64))

static Size
fit_flat_size(void *state)
{
	FitState   *st = state;
	CsAllocator scratch = cs_allocator(CurrentMemoryContext);

	btyd_rows_compact(&st->rows, &scratch);
	return FIT_HEADER + sizeof(BtydRow) * st->rows.n;
}

static void
fit_flatten(void *state, char *buf)
{
	FitState   *st = state;

	memcpy(buf, &st->penalizer, sizeof(double));
	memcpy(buf + sizeof(double), &st->skipped, sizeof(int64));
	memcpy(buf + sizeof(double) + sizeof(int64), &st->rows.n, sizeof(int64));
	if (st->rows.n > 0)
		memcpy(buf + FIT_HEADER, st->rows.rows, sizeof(BtydRow) * st->rows.n);
}

static void *
fit_expand(const char *buf, Size len, MemoryContext ctx)
{
	FitState   *st = MemoryContextAllocZero(ctx, sizeof(FitState));
	int64		n;

	if (len < FIT_HEADER)
		return NULL;
	memcpy(&st->penalizer, buf, sizeof(double));
	memcpy(&st->skipped, buf + sizeof(double), sizeof(int64));
	memcpy(&n, buf + sizeof(double) + sizeof(int64), sizeof(int64));
	if (n < 0 || len != FIT_HEADER + sizeof(BtydRow) * (Size) n || st->skipped < 0
		|| !(st->penalizer >= 0 && st->penalizer < HUGE_VAL))
		return NULL;
	st->rows.n = st->rows.cap = n;
	st->rows.rows = MemoryContextAllocHuge(ctx, sizeof(BtydRow) * Max(n, 1));
	if (n > 0)
		memcpy(st->rows.rows, buf + FIT_HEADER, sizeof(BtydRow) * n);
	for (int64 i = 0; i < n; i++)
	{
		const BtydRow *r = &st->rows.rows[i];

		if ((i & 65535) == 65535)
			CHECK_FOR_INTERRUPTS();
		if (!(r->x >= 0 && r->x <= BTYD_MAX_FREQUENCY && r->tx >= 0 && r->tx < HUGE_VAL && r->T >= 0
			  && r->T < HUGE_VAL && r->w > 0 && r->w < HUGE_VAL))
			return NULL;
	}
	return st;
}

static const CsStateKind fit_kind = {"BTYD fit", 0x31534642 /* "BFS1" */ , fit_flat_size, fit_flatten, fit_expand};

CS_STATE_TYPE_FUNCTIONS(btyd_fit, fit_kind)

static FitState *
fit_state_new(FunctionCallInfo fcinfo, CsStateRef *ref, double penalizer)
{
	FitState   *st;

	cs_state_start(fcinfo, ref, &fit_kind);
	st = MemoryContextAllocZero(ref->ctx, sizeof(FitState));
	st->penalizer = penalizer;
	ref->state = st;
	return st;
}

/* The state of a fit's transition, made on the first row; the penalizer checked on every row it varies. */
static FitState *
fit_state(FunctionCallInfo fcinfo, CsStateRef *ref, int penalizer_argno)
{
	FitState   *st = ref->state;

	if (st == NULL)
		return fit_state_new(fcinfo, ref, btyd_penalizer_arg(fcinfo, penalizer_argno));
	if (cs_arg_varies(fcinfo, penalizer_argno))
		cs_check_constant(st->penalizer == btyd_penalizer_arg(fcinfo, penalizer_argno), "the fit", "penalizer");
	return st;
}

/* bgnbd_fit(frequency, recency, t [, penalizer]) */
PG_FUNCTION_INFO_V1(bgnbd_fit_trans);
Datum
bgnbd_fit_trans(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &fit_kind, "bgnbd_fit_trans");
	FitState   *st = fit_state(fcinfo, &ref, 4);
	CsAllocator alloc = cs_allocator(ref.ctx);
	double		x,
				tx,
				T;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		st->skipped++;
		return cs_state_datum(fcinfo, &ref);
	}
	x = PG_GETARG_FLOAT8(1);
	tx = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	btyd_rows_add(&st->rows, x, btyd_observed_recency(x, tx, T), T, 1, &alloc);
	return cs_state_datum(fcinfo, &ref);
}

/*
 * A BG/BB history: whole numbers 0 <= x <= t_x <= n, t_x = 0 exactly when x
 * = 0 (x transactions in the n opportunities after the first, the last in
 * opportunity t_x).
 */
#define BGBB_MAX_PERIODS 100000

void
bgbb_check_history(double x, double tx, double n)
{
	cs_check_finite(x, "frequency");
	cs_check_finite(tx, "recency");
	cs_check_finite(n, "n_periods");
	if (x != floor(x) || tx != floor(tx) || n != floor(n) || x < 0 || n > BGBB_MAX_PERIODS
		|| x > tx || tx > n || (x == 0) != (tx == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a BG/BB history needs whole numbers 0 <= frequency <= recency <= n_periods <= %d, recency 0 exactly when frequency is 0",
						BGBB_MAX_PERIODS),
				 errdetail("Got frequency %g, recency %g, n_periods %g.", x, tx, n),
				 errhint("recency is the number of the last opportunity with a transaction (1..n_periods); bgbb_summary computes them.")));
}

/* A number of future or first opportunities: 0 .. BGBB_MAX_PERIODS. */
void
bgbb_check_periods(double m)
{
	cs_check_finite(m, "periods");
	if (m < 0 || m > BGBB_MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the number of periods must be between 0 and %d", BGBB_MAX_PERIODS),
				 errdetail("Got %g.", m)));
}

/* bgbb_fit(frequency, recency, n_periods [, weight]): a weight is how many customers share the history. */
PG_FUNCTION_INFO_V1(bgbb_fit_trans);
Datum
bgbb_fit_trans(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &fit_kind, "bgbb_fit_trans");
	FitState   *st = fit_state(fcinfo, &ref, PG_NARGS());	/* no penalizer */
	CsAllocator alloc = cs_allocator(ref.ctx);
	double		x,
				tx,
				n,
				w = 1;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || (PG_NARGS() > 4 && PG_ARGISNULL(4)))
	{
		st->skipped++;
		return cs_state_datum(fcinfo, &ref);
	}
	x = PG_GETARG_FLOAT8(1);
	tx = PG_GETARG_FLOAT8(2);
	n = PG_GETARG_FLOAT8(3);
	bgbb_check_history(x, tx, n);
	if (PG_NARGS() > 4)
	{
		w = PG_GETARG_FLOAT8(4);
		cs_check_finite(w, "weight");
		if (w < 0 || w > 1e15)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("weight must be between 0 and 1e15 customers"),
					 errdetail("Got %g.", w)));
		if (w == 0)
			return cs_state_datum(fcinfo, &ref);
	}
	btyd_rows_add(&st->rows, x, tx, n, w, &alloc);
	return cs_state_datum(fcinfo, &ref);
}

/* sbg_fit(renewals, active [, weight]): a contract renewed renewals times, then cancelled or still active. */
PG_FUNCTION_INFO_V1(sbg_fit_trans);
Datum
sbg_fit_trans(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &fit_kind, "sbg_fit_trans");
	FitState   *st = fit_state(fcinfo, &ref, PG_NARGS());	/* no penalizer */
	CsAllocator alloc = cs_allocator(ref.ctx);
	double		w = 1;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || (PG_NARGS() > 3 && PG_ARGISNULL(3)))
	{
		st->skipped++;
		return cs_state_datum(fcinfo, &ref);
	}
	sbg_check_renewals(PG_GETARG_INT32(1));
	if (PG_NARGS() > 3)
	{
		w = PG_GETARG_FLOAT8(3);
		sbg_check_weight(w);
		if (w == 0)
			return cs_state_datum(fcinfo, &ref);
	}
	btyd_rows_add(&st->rows, PG_GETARG_INT32(1), PG_GETARG_BOOL(2) ? 0 : 1, 0, w, &alloc);
	return cs_state_datum(fcinfo, &ref);
}

bool
btyd_spend_row(double x, double m)
{
	btyd_check_observation(x, 0, 0);
	cs_check_finite(m, "monetary_value");
	if (x == 0)
		return false;
	if (m <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("monetary_value must be positive for customers with repeat purchases"),
				 errdetail("Got %g with frequency %g.", m, x),
				 errhint("The Gamma-Gamma model describes positive spend; filter such customers out.")));
	return true;
}

/* gamma_gamma_fit(frequency, monetary_value [, penalizer]): repeat customers only. */
PG_FUNCTION_INFO_V1(gg_fit_trans);
Datum
gg_fit_trans(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &fit_kind, "gg_fit_trans");
	FitState   *st = fit_state(fcinfo, &ref, 3);
	CsAllocator alloc = cs_allocator(ref.ctx);
	double		x,
				m;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		st->skipped++;
		return cs_state_datum(fcinfo, &ref);
	}
	x = PG_GETARG_FLOAT8(1);
	m = PG_GETARG_FLOAT8(2);
	if (!btyd_spend_row(x, m))
	{
		st->skipped++;
		return cs_state_datum(fcinfo, &ref);
	}
	btyd_rows_add(&st->rows, x, m, 0, 1, &alloc);
	return cs_state_datum(fcinfo, &ref);
}

PG_FUNCTION_INFO_V1(btyd_fit_combine);
Datum
btyd_fit_combine(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &fit_kind, "btyd_fit_combine");
	FitState   *src = cs_state_read(fcinfo, 1, &fit_kind);
	FitState   *dst;
	CsAllocator alloc;

	if (src == NULL)
		return cs_state_datum(fcinfo, &ref);
	dst = ref.state != NULL ? ref.state : fit_state_new(fcinfo, &ref, src->penalizer);
	cs_check_constant(dst->penalizer == src->penalizer, "the fit", "penalizer");
	alloc = cs_allocator(ref.ctx);
	for (int64 i = 0; i < src->rows.n; i++)
	{
		const BtydRow *r = &src->rows.rows[i];

		if ((i & 65535) == 65535)
			CHECK_FOR_INTERRUPTS();

		btyd_rows_add(&dst->rows, r->x, r->tx, r->T, r->w, &alloc);
	}
	dst->skipped += src->skipped;
	return cs_state_datum(fcinfo, &ref);
}



/* Fits the model of a fit state (NULL when it holds no customer), with the checks and the NOTICE. */
static FitState *
run_fit(FunctionCallInfo fcinfo, BtydModel model, BtydFit *out, double *customers_out)
{
	FitState   *st;
	double		customers;
	bool		any_repeat = false;
	BtydFit		fit;
	const char *name = model_names[model];
	CsAllocator scratch = cs_allocator(CurrentMemoryContext);

	st = cs_state_read(fcinfo, 0, &fit_kind);
	if (st == NULL)
		return NULL;
	btyd_rows_compact(&st->rows, &scratch);
	customers = btyd_rows_weight(&st->rows);
	if (customers == 0)
		return NULL;
	if (model == MODEL_SBG)
		sbg_check_fit_input(&st->rows, customers);
	else
	{
		for (int64 i = 0; i < st->rows.n; i++)
			any_repeat |= st->rows.rows[i].x > 0;
		btyd_check_fit_input(name, customers, any_repeat, model == MODEL_GG);
	}
	fit = btyd_fit_model(model_specs[model], &st->rows, st->penalizer, NULL);
	btyd_report_fit(name, &fit, model_specs[model]->n_params);
	*out = fit;
	*customers_out = customers;
	return st;
}

void
btyd_check_fit_input(const char *name, double customers, bool any_repeat, bool spend)
{
	if (customers < BTYD_MIN_CUSTOMERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs at least %d customers%s to fit, got %.0f", name, BTYD_MIN_CUSTOMERS,
						spend ? " with repeat purchases" : "", customers)));
	if (!any_repeat)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot be fitted: no customer made a repeat purchase", name),
				 errhint("Use a longer calibration period.")));
}

void
btyd_report_fit(const char *name, const BtydFit *fit, int nparams)
{
	for (int i = 0; i < nparams; i++)
		cs_finite_result(fit->params[i], psprintf("a %s parameter", name),
						 "Look for extreme values of frequency, recency, T or spend in the input.");
	cs_finite_result(fit->loglik, psprintf("the %s log-likelihood", name),
					 "Look for extreme values of frequency, recency, T or spend in the input.");
	if (!fit->converged)
		ereport(NOTICE,
				(errmsg("%s fit did not converge after %d iterations", name, fit->iterations),
				 errdetail("%s; the largest gradient component is %.3g, the tolerance 1e-6.",
						   fit->stop == BTYD_STOP_EDGE
						   ? "A parameter ran off to the edge of the parameter space (a factor e^20 from where it "
						   "started, or a shape parameter above e^10): the likelihood rises towards a limit of the model, "
						   "such as the same rate for every customer, which these data cannot tell apart from it"
						   : fit->stop == BTYD_STOP_BUDGET ? "It used its budget of iterations or evaluations"
						   : "No step lowers the objective any more",
						   fit->gradient),
				 errhint("Try a small penalizer such as 0.001, or a simpler model.")));
}

static Datum
fit_final(FunctionCallInfo fcinfo, BtydModel model)
{
	BtydFit		fit;
	double		customers;
	FitState   *st = run_fit(fcinfo, model, &fit, &customers);

	if (st == NULL)
		PG_RETURN_NULL();
	return btyd_model_datum(fcinfo, &fit, model_specs[model]->n_params, customers, st->rows.n);
}

/*
 * The fit with its parameter uncertainty: estimates, standard errors and 95% intervals from the observed
 * information (btyd_covariance), the intervals taken on the log scale so they stay positive.
 */
static Datum
uncertainty_final(FunctionCallInfo fcinfo, BtydModel model)
{
	BtydFit		fit;
	double		customers;
	FitState   *st = run_fit(fcinfo, model, &fit, &customers);
	int			n = model_specs[model]->n_params;
	double		cov[16];
	bool		ok;
	BtydUncertainty u;

	if (st == NULL)
		PG_RETURN_NULL();
	ok = btyd_model_covariance(model_specs[model], &st->rows, fit.params, cov);
	u.n = u.n_log = n;
	u.names = model_specs[model]->names;
	u.fit = &fit;
	u.cov = cov;
	u.has_cov = ok;
	u.fixed = NULL;
	u.customers = customers;
	return btyd_uncertainty_datum(fcinfo, &u);
}


PG_FUNCTION_INFO_V1(bgnbd_uncertainty_final);
Datum
bgnbd_uncertainty_final(PG_FUNCTION_ARGS)
{
	return uncertainty_final(fcinfo, MODEL_BGNBD);
}

PG_FUNCTION_INFO_V1(pnbd_uncertainty_final);
Datum
pnbd_uncertainty_final(PG_FUNCTION_ARGS)
{
	return uncertainty_final(fcinfo, MODEL_PNBD);
}

PG_FUNCTION_INFO_V1(gg_uncertainty_final);
Datum
gg_uncertainty_final(PG_FUNCTION_ARGS)
{
	return uncertainty_final(fcinfo, MODEL_GG);
}

PG_FUNCTION_INFO_V1(mbgnbd_uncertainty_final);
Datum
mbgnbd_uncertainty_final(PG_FUNCTION_ARGS)
{
	return uncertainty_final(fcinfo, MODEL_MBGNBD);
}

PG_FUNCTION_INFO_V1(mbgnbd_fit_final);
Datum
mbgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return fit_final(fcinfo, MODEL_MBGNBD);
}

PG_FUNCTION_INFO_V1(bgbb_fit_final);
Datum
bgbb_fit_final(PG_FUNCTION_ARGS)
{
	return fit_final(fcinfo, MODEL_BGBB);
}

PG_FUNCTION_INFO_V1(bgbb_uncertainty_final);
Datum
bgbb_uncertainty_final(PG_FUNCTION_ARGS)
{
	return uncertainty_final(fcinfo, MODEL_BGBB);
}

PG_FUNCTION_INFO_V1(sbg_fit_final);
Datum
sbg_fit_final(PG_FUNCTION_ARGS)
{
	return fit_final(fcinfo, MODEL_SBG);
}

PG_FUNCTION_INFO_V1(sbg_uncertainty_final);
Datum
sbg_uncertainty_final(PG_FUNCTION_ARGS)
{
	return uncertainty_final(fcinfo, MODEL_SBG);
}

PG_FUNCTION_INFO_V1(bgnbd_fit_final);
Datum
bgnbd_fit_final(PG_FUNCTION_ARGS)
{
	return fit_final(fcinfo, MODEL_BGNBD);
}

PG_FUNCTION_INFO_V1(pnbd_fit_final);
Datum
pnbd_fit_final(PG_FUNCTION_ARGS)
{
	return fit_final(fcinfo, MODEL_PNBD);
}

PG_FUNCTION_INFO_V1(gg_fit_final);
Datum
gg_fit_final(PG_FUNCTION_ARGS)
{
	return fit_final(fcinfo, MODEL_GG);
}

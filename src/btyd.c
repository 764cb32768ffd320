/*
 * btyd.c: the fitting aggregates and predictions of BG/NBD, MBG/NBD, Pareto/NBD, BG/BB and Gamma-Gamma, and
 * the fitting aggregates of sBG, with their standard errors (SQL glue around the math of bgnbd_math.c,
 * pnbd_math.c, bgbb_math.c, gg_math.c, sbg_math.c and fit_math.c; the covariate fits are in
 * btyd_covariates.c, sBG's other functions in sbg.c).
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

static void
check_bgbb_history(double x, double tx, double n)
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
static void
check_bgbb_periods(double m)
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
	check_bgbb_history(x, tx, n);
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

/* Model composite: the parameters, then log_likelihood, customers, distinct_rows, iterations, converged. */
Datum
btyd_model_datum(FunctionCallInfo fcinfo, const BtydFit *fit, int nparams, double customers, int64 distinct)
{
	TupleDesc	desc;
	Datum		values[9];
	bool		nulls[9] = {0};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != nparams + 5)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("unexpected result type of a BTYD fit")));
	desc = BlessTupleDesc(desc);
	for (i = 0; i < nparams; i++)
		values[i] = Float8GetDatum(fit->params[i]);
	values[i++] = Float8GetDatum(fit->loglik);
	values[i++] = Int64GetDatum((int64) customers);
	values[i++] = Int64GetDatum(distinct);
	values[i++] = Int32GetDatum(fit->iterations);
	values[i++] = BoolGetDatum(fit->converged);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
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

Datum
btyd_uncertainty_datum(FunctionCallInfo fcinfo, const BtydUncertainty *u)
{
	int			n = u->n;
	const double *params = u->fit->params;
	bool		ok = u->has_cov;
	double		se[BTYD_MAX_PARAMS],
				lo[BTYD_MAX_PARAMS],
				hi[BTYD_MAX_PARAMS];
	bool		gone[BTYD_MAX_PARAMS];	/* no standard error for this parameter */
	bool		cov_null[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	Datum		name_d[BTYD_MAX_PARAMS],
				cov_d[BTYD_MAX_PARAMS * BTYD_MAX_PARAMS];
	int			dims[2] = {n, n},
				lbs[2] = {1, 1};
	TupleDesc	desc;
	Datum		values[9];
	bool		nulls[9] = {0};

	for (int i = 0; i < n * n && ok; i++)
		ok = isfinite(u->cov[i]);
	if (!ok)
		ereport(NOTICE,
				(errmsg("the observed information of this fit is not positive definite: no standard errors"),
				 errhint("The likelihood has no interior maximum here; see the fit's converged and the NOTICE it gave.")));
	for (int i = 0; i < n; i++)
	{
		double		sd = ok ? sqrt(u->cov[i * n + i]) : 0;

		gone[i] = !ok || (u->fixed != NULL && u->fixed[i]);
		se[i] = sd;
		if (i < u->n_log)
		{
			/* positive parameters: the interval on the log scale */
			lo[i] = params[i] * exp(-1.959963984540054 * sd / params[i]);
			hi[i] = params[i] * exp(1.959963984540054 * sd / params[i]);
		}
		else
		{
			lo[i] = params[i] - 1.959963984540054 * sd;
			hi[i] = params[i] + 1.959963984540054 * sd;
		}
		name_d[i] = CStringGetTextDatum(u->names[i]);
	}
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
		{
			cov_null[i * n + j] = gone[i] || gone[j];
			cov_d[i * n + j] = Float8GetDatum(cov_null[i * n + j] ? 0 : u->cov[i * n + j]);
		}
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != 9)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("unexpected result type of a BTYD uncertainty")));
	desc = BlessTupleDesc(desc);
	values[0] = PointerGetDatum(construct_array(name_d, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[1] = PointerGetDatum(cs_float8_array(params, n));
	values[2] = PointerGetDatum(cs_float8_array_nulls(se, gone, n));
	values[3] = PointerGetDatum(cs_float8_array_nulls(lo, gone, n));
	values[4] = PointerGetDatum(cs_float8_array_nulls(hi, gone, n));
	values[5] = PointerGetDatum(construct_md_array(cov_d, cov_null, 2, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	nulls[2] = nulls[3] = nulls[4] = nulls[5] = !ok;
	values[6] = Float8GetDatum(u->fit->loglik);
	values[7] = Int64GetDatum((int64) u->customers);
	values[8] = BoolGetDatum(u->fit->converged);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
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

/* ---------------------------------------------------------------- predictions */

/* The first nparams fields of a model composite, validated (finite, > 0). */
void
btyd_model_params(FunctionCallInfo fcinfo, int argno, int nparams, double *params)
{
	HeapTupleHeader rec = PG_GETARG_HEAPTUPLEHEADER(argno);
	TupleDesc	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec), HeapTupleHeaderGetTypMod(rec));
	HeapTupleData tuple;
	Datum		values[16];
	bool		nulls[16];

	if (desc->natts < nparams || desc->natts > 16)
	{
		ReleaseTupleDesc(desc);
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("not a BTYD model")));
	}
	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	heap_deform_tuple(&tuple, desc, values, nulls);
	ReleaseTupleDesc(desc);
	for (int i = 0; i < nparams; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("model parameters must not be NULL")));
		params[i] = DatumGetFloat8(values[i]);
		if (!isfinite(params[i]) || params[i] <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model parameters must be finite and positive"),
					 errdetail("Parameter %d is %g.", i + 1, params[i])));
	}
}

double
btyd_defined_result(double v, const char *what)
{
	if (!isfinite(v))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is not defined for these parameters", what),
				 errhint("Its series does not converge here (a close to 1, an extreme horizon, a tiny discount rate); check the model.")));
	return v;
}

static void
check_horizon(double t)
{
	cs_check_finite(t, "horizon");
	if (t < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the prediction horizon must not be negative"),
				 errdetail("Got %g.", t)));
}

static void
check_count(int64 n)
{
	if (n < 0 || n > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 0 and 100000"),
				 errdetail("Got " INT64_FORMAT ".", n)));
}

/* A function of a customer's history: model, frequency, recency, t. */
typedef double (*HistoryFn) (const double *p, double x, double tx, double T);
/* A function of a horizon and a customer's history: model, horizon, frequency, recency, t. */
typedef double (*HorizonFn) (const double *p, double t, double x, double tx, double T);

static Datum
history_datum(FunctionCallInfo fcinfo, HistoryFn fn, const char *what)
{
	double		p[4];
	double		x = PG_GETARG_FLOAT8(1),
				tx = PG_GETARG_FLOAT8(2),
				T = PG_GETARG_FLOAT8(3);

	btyd_model_params(fcinfo, 0, 4, p);
	PG_RETURN_FLOAT8(btyd_defined_result(fn(p, x, btyd_observed_recency(x, tx, T), T), what));
}

static Datum
horizon_datum(FunctionCallInfo fcinfo, HorizonFn fn, const char *what)
{
	double		p[4];
	double		t = PG_GETARG_FLOAT8(1),
				x = PG_GETARG_FLOAT8(2),
				tx = PG_GETARG_FLOAT8(3),
				T = PG_GETARG_FLOAT8(4);

	btyd_model_params(fcinfo, 0, 4, p);
	check_horizon(t);
	PG_RETURN_FLOAT8(btyd_defined_result(fn(p, t, x, btyd_observed_recency(x, tx, T), T), what));
}

PG_FUNCTION_INFO_V1(bgnbd_p_alive_sql);
Datum
bgnbd_p_alive_sql(PG_FUNCTION_ARGS)
{
	return history_datum(fcinfo, bgnbd_p_alive, "P(alive)");
}

PG_FUNCTION_INFO_V1(bgnbd_loglik_sql);
Datum
bgnbd_loglik_sql(PG_FUNCTION_ARGS)
{
	return history_datum(fcinfo, bgnbd_loglik, "the log-likelihood");
}

PG_FUNCTION_INFO_V1(bgnbd_expected_sql);
Datum
bgnbd_expected_sql(PG_FUNCTION_ARGS)
{
	return horizon_datum(fcinfo, bgnbd_expected, "the expected number of purchases");
}

PG_FUNCTION_INFO_V1(mbgnbd_p_alive_sql);
Datum
mbgnbd_p_alive_sql(PG_FUNCTION_ARGS)
{
	return history_datum(fcinfo, mbgnbd_p_alive, "P(alive)");
}

PG_FUNCTION_INFO_V1(mbgnbd_loglik_sql);
Datum
mbgnbd_loglik_sql(PG_FUNCTION_ARGS)
{
	return history_datum(fcinfo, mbgnbd_loglik, "the log-likelihood");
}

PG_FUNCTION_INFO_V1(mbgnbd_expected_sql);
Datum
mbgnbd_expected_sql(PG_FUNCTION_ARGS)
{
	return horizon_datum(fcinfo, mbgnbd_expected, "the expected number of purchases");
}

PG_FUNCTION_INFO_V1(pnbd_p_alive_sql);
Datum
pnbd_p_alive_sql(PG_FUNCTION_ARGS)
{
	return history_datum(fcinfo, pnbd_p_alive, "P(alive)");
}

PG_FUNCTION_INFO_V1(pnbd_loglik_sql);
Datum
pnbd_loglik_sql(PG_FUNCTION_ARGS)
{
	return history_datum(fcinfo, pnbd_loglik, "the log-likelihood");
}

PG_FUNCTION_INFO_V1(pnbd_expected_sql);
Datum
pnbd_expected_sql(PG_FUNCTION_ARGS)
{
	return horizon_datum(fcinfo, pnbd_expected, "the expected number of purchases");
}

/* A function of a horizon alone: a newly acquired customer. */
typedef double (*NewCustomerFn) (const double *p, double t);
/* P(X = n in a horizon) given a history: model, horizon, n, frequency, recency, t. */
typedef double (*PmfFn) (const double *p, double t, int64_t n, double x, double tx, double T);

static Datum
new_customer_datum(FunctionCallInfo fcinfo, NewCustomerFn fn)
{
	double		p[4];
	double		t = PG_GETARG_FLOAT8(1);

	btyd_model_params(fcinfo, 0, 4, p);
	check_horizon(t);
	PG_RETURN_FLOAT8(btyd_defined_result(fn(p, t), "the expected number of purchases"));
}

/*
 * <model>_probability_purchases(model, horizon, n[, frequency, recency, t]):
 * without a history it is the PMF of a newly acquired customer (x = t_x = T = 0).
 */
static Datum
pmf_datum(FunctionCallInfo fcinfo, PmfFn fn)
{
	double		p[4];
	double		t = PG_GETARG_FLOAT8(1);
	int64		n = PG_GETARG_INT64(2);
	double		x = 0,
				tx = 0,
				T = 0;

	btyd_model_params(fcinfo, 0, 4, p);
	check_horizon(t);
	check_count(n);
	if (PG_NARGS() > 3)
	{
		x = PG_GETARG_FLOAT8(3);
		T = PG_GETARG_FLOAT8(5);
		tx = btyd_observed_recency(x, PG_GETARG_FLOAT8(4), T);
	}
	if (t == 0)
		PG_RETURN_FLOAT8(n == 0 ? 1.0 : 0.0);
	PG_RETURN_FLOAT8(btyd_defined_result(fn(p, t, n, x, tx, T), "P(X(t) = n)"));
}

PG_FUNCTION_INFO_V1(bgnbd_expected_new_sql);
Datum
bgnbd_expected_new_sql(PG_FUNCTION_ARGS)
{
	return new_customer_datum(fcinfo, bgnbd_expected_new);
}

/* Both SQL signatures (without and with a history) of bgnbd_probability_purchases. */
PG_FUNCTION_INFO_V1(bgnbd_pmf_sql);
Datum
bgnbd_pmf_sql(PG_FUNCTION_ARGS)
{
	return pmf_datum(fcinfo, bgnbd_pmf);
}

PG_FUNCTION_INFO_V1(bgnbd_pmf_conditional_sql);
Datum
bgnbd_pmf_conditional_sql(PG_FUNCTION_ARGS)
{
	return pmf_datum(fcinfo, bgnbd_pmf);
}

PG_FUNCTION_INFO_V1(mbgnbd_expected_new_sql);
Datum
mbgnbd_expected_new_sql(PG_FUNCTION_ARGS)
{
	return new_customer_datum(fcinfo, mbgnbd_expected_new);
}

/* Both SQL signatures of mbgnbd_probability_purchases (no history: x = t_x = T = 0, a new customer). */
PG_FUNCTION_INFO_V1(mbgnbd_pmf_sql);
Datum
mbgnbd_pmf_sql(PG_FUNCTION_ARGS)
{
	return pmf_datum(fcinfo, mbgnbd_pmf);
}

/* BG/BB predictions of a history: (model, frequency, recency, n_periods). */
static Datum
bgbb_history_datum(FunctionCallInfo fcinfo, HistoryFn fn, const char *what)
{
	double		p[4];
	double		x = PG_GETARG_FLOAT8(1),
				tx = PG_GETARG_FLOAT8(2),
				n = PG_GETARG_FLOAT8(3);

	btyd_model_params(fcinfo, 0, 4, p);
	check_bgbb_history(x, tx, n);
	PG_RETURN_FLOAT8(btyd_defined_result(fn(p, x, tx, n), what));
}

PG_FUNCTION_INFO_V1(bgbb_p_alive_sql);
Datum
bgbb_p_alive_sql(PG_FUNCTION_ARGS)
{
	return bgbb_history_datum(fcinfo, bgbb_p_alive, "P(alive)");
}

PG_FUNCTION_INFO_V1(bgbb_loglik_sql);
Datum
bgbb_loglik_sql(PG_FUNCTION_ARGS)
{
	return bgbb_history_datum(fcinfo, bgbb_loglik, "the log-likelihood");
}

/* bgbb_expected_purchases(model, periods, frequency, recency, n_periods) and bgbb_dert(model, discount, ...). */
static Datum
bgbb_horizon_datum(FunctionCallInfo fcinfo, HorizonFn fn, bool discount, const char *what)
{
	double		p[4];
	double		h = PG_GETARG_FLOAT8(1),
				x = PG_GETARG_FLOAT8(2),
				tx = PG_GETARG_FLOAT8(3),
				n = PG_GETARG_FLOAT8(4);

	btyd_model_params(fcinfo, 0, 4, p);
	check_bgbb_history(x, tx, n);
	if (discount)
	{
		cs_check_finite(h, "discount");
		if (h <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the discount rate per period must be positive"),
					 errdetail("Got %g.", h),
					 errhint("Without discounting the residual transactions of a customer who never dies are infinite.")));
	}
	else
		check_bgbb_periods(h);
	PG_RETURN_FLOAT8(btyd_defined_result(fn(p, h, x, tx, n), what));
}

PG_FUNCTION_INFO_V1(bgbb_expected_sql);
Datum
bgbb_expected_sql(PG_FUNCTION_ARGS)
{
	return bgbb_horizon_datum(fcinfo, bgbb_expected, false, "the expected number of transactions");
}

PG_FUNCTION_INFO_V1(bgbb_dert_sql);
Datum
bgbb_dert_sql(PG_FUNCTION_ARGS)
{
	return bgbb_horizon_datum(fcinfo, bgbb_dert, true, "the discounted expected residual transactions");
}

PG_FUNCTION_INFO_V1(bgbb_expected_new_sql);
Datum
bgbb_expected_new_sql(PG_FUNCTION_ARGS)
{
	double		p[4];
	double		m = PG_GETARG_FLOAT8(1);

	btyd_model_params(fcinfo, 0, 4, p);
	check_bgbb_periods(m);
	PG_RETURN_FLOAT8(btyd_defined_result(bgbb_expected_new(p, m), "the expected number of transactions"));
}

/*
 * bgbb_probability_purchases(model, periods, n [, frequency, recency, n_periods]): P(n transactions in the
 * next periods opportunities) given a history; without one, of a new customer in its first periods.
 */
PG_FUNCTION_INFO_V1(bgbb_pmf_sql);
Datum
bgbb_pmf_sql(PG_FUNCTION_ARGS)
{
	double		p[4];
	int64		m = PG_GETARG_INT64(1),
				xs = PG_GETARG_INT64(2);
	double		x = 0,
				tx = 0,
				n = 0;

	btyd_model_params(fcinfo, 0, 4, p);
	check_bgbb_periods((double) m);
	check_count(xs);
	if (PG_NARGS() > 3)
	{
		x = PG_GETARG_FLOAT8(3);
		tx = PG_GETARG_FLOAT8(4);
		n = PG_GETARG_FLOAT8(5);
		check_bgbb_history(x, tx, n);
	}
	PG_RETURN_FLOAT8(btyd_defined_result(bgbb_pmf(p, m, xs, x, tx, n), "P(X = n)"));
}

PG_FUNCTION_INFO_V1(gg_expected_spend_sql);
Datum
gg_expected_spend_sql(PG_FUNCTION_ARGS)
{
	double		p[3];
	double		x = PG_GETARG_FLOAT8(1),
				m = PG_GETARG_FLOAT8(2);

	btyd_model_params(fcinfo, 0, 3, p);
	btyd_check_observation(x, 0, 0);
	cs_check_finite(m, "monetary_value");
	if (p[1] <= 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the Gamma-Gamma expected spend needs q > 1"),
				 errdetail("q is %g.", p[1])));
	PG_RETURN_FLOAT8(cs_finite_result(gg_expected_spend(p, x, x > 0 ? m : 0), "the expected spend",
									  "Check the model and the monetary value."));
}

PG_FUNCTION_INFO_V1(gg_loglik_sql);
Datum
gg_loglik_sql(PG_FUNCTION_ARGS)
{
	double		p[3];
	double		x = PG_GETARG_FLOAT8(1),
				m = PG_GETARG_FLOAT8(2);

	btyd_model_params(fcinfo, 0, 3, p);
	btyd_check_observation(x, 0, 0);
	cs_check_finite(m, "monetary_value");
	if (x == 0 || m <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the Gamma-Gamma likelihood needs frequency > 0 and monetary_value > 0")));
	PG_RETURN_FLOAT8(cs_finite_result(gg_loglik(p, x, m), "the Gamma-Gamma log-likelihood",
									  "Check the model and the monetary value."));
}

/*
 * <model>_clv(model, frequency, recency, t, spend, months, monthly_discount,
 * periods_per_month, margin): sum over months i of the expected purchases in
 * month i * spend * margin / (1 + monthly_discount)^i, as lifetimes computes it.
 */
static Datum
discounted_clv(FunctionCallInfo fcinfo, HorizonFn expected)
{
	double		p[4];
	double		x = PG_GETARG_FLOAT8(1),
				tx = PG_GETARG_FLOAT8(2),
				T = PG_GETARG_FLOAT8(3),
				spend = PG_GETARG_FLOAT8(4),
				d = PG_GETARG_FLOAT8(6),
				per_month = PG_GETARG_FLOAT8(7),
				margin = PG_GETARG_FLOAT8(8),
				clv = 0,
				prev = 0;
	int32		months = PG_GETARG_INT32(5);

	btyd_model_params(fcinfo, 0, 4, p);
	tx = btyd_observed_recency(x, tx, T);
	cs_check_finite(spend, "spend");
	cs_check_finite(d, "monthly_discount");
	cs_check_finite(per_month, "periods_per_month");
	cs_check_finite(margin, "margin");
	if (months < 0 || months > 1200 || d <= -1 || per_month <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months must be 0..1200, monthly_discount > -1 and periods_per_month > 0"),
				 errhint("periods_per_month is 30 for frequency/recency/T in days, 4.345 in weeks, 1 in months.")));
	for (int i = 1; i <= months; i++)
	{
		double		cum;

		cs_check_interrupts();
		cum = btyd_defined_result(expected(p, i * per_month, x, tx, T), "the expected number of purchases");

		clv += spend * margin * (cum - prev) / pow(1 + d, i);
		prev = cum;
	}
	PG_RETURN_FLOAT8(btyd_defined_result(clv, "CLV"));
}

PG_FUNCTION_INFO_V1(bgnbd_clv_sql);
Datum
bgnbd_clv_sql(PG_FUNCTION_ARGS)
{
	return discounted_clv(fcinfo, bgnbd_expected);
}

/* bgbb_clv(model, frequency, recency, n_periods, spend, ...): discounted_clv of a checked BG/BB history. */
PG_FUNCTION_INFO_V1(bgbb_clv_sql);
Datum
bgbb_clv_sql(PG_FUNCTION_ARGS)
{
	check_bgbb_history(PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3));
	return discounted_clv(fcinfo, bgbb_expected);
}

PG_FUNCTION_INFO_V1(mbgnbd_clv_sql);
Datum
mbgnbd_clv_sql(PG_FUNCTION_ARGS)
{
	return discounted_clv(fcinfo, mbgnbd_expected);
}

PG_FUNCTION_INFO_V1(pnbd_clv_sql);
Datum
pnbd_clv_sql(PG_FUNCTION_ARGS)
{
	return discounted_clv(fcinfo, pnbd_expected);
}

PG_FUNCTION_INFO_V1(pnbd_expected_new_sql);
Datum
pnbd_expected_new_sql(PG_FUNCTION_ARGS)
{
	return new_customer_datum(fcinfo, pnbd_expected_new);
}

PG_FUNCTION_INFO_V1(pnbd_pmf_sql);
Datum
pnbd_pmf_sql(PG_FUNCTION_ARGS)
{
	return pmf_datum(fcinfo, pnbd_pmf);
}

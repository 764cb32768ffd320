/*
 * btyd_predict.c: the predictions of a fitted BG/NBD, MBG/NBD, Pareto/NBD, BG/BB or Gamma-Gamma model for
 * one customer: P(alive), expected purchases, probabilities of n purchases, DERT, expected spend, CLV and
 * log-likelihoods (SQL glue around the models' math files; the fits are in btyd.c).
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
	bgbb_check_history(x, tx, n);
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
	bgbb_check_history(x, tx, n);
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
		bgbb_check_periods(h);
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
	bgbb_check_periods(m);
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
	bgbb_check_periods((double) m);
	check_count(xs);
	if (PG_NARGS() > 3)
	{
		x = PG_GETARG_FLOAT8(3);
		tx = PG_GETARG_FLOAT8(4);
		n = PG_GETARG_FLOAT8(5);
		bgbb_check_history(x, tx, n);
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

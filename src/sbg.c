/*
 * sbg.c: SQL glue of the shifted-beta-geometric model of contractual retention (math in sbg_math.c; the
 * fitting aggregates sbg_fit and sbg_fit_uncertainty share the BTYD fit state in btyd.c): the fit from a
 * cohort's survival counts, survival, retention, churn, DERL and values.
 */
#include "postgres.h"

#include <math.h>

#include "btyd_glue.h"
#include "btyd_math.h"
#include "catalog/pg_type.h"
#include "cs_util.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"

/* Renewals and periods taken: far beyond any contract, small enough for every sum to stay exact. */
#define SBG_MAX_PERIODS 10000000
#define SBG_MIN_CUSTOMERS 10

void
sbg_check_renewals(int64 renewals)
{
	if (renewals < 0 || renewals > SBG_MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("renewals must be between 0 and %d", SBG_MAX_PERIODS),
				 errdetail("Got " INT64_FORMAT ".", renewals),
				 errhint("renewals counts the payments after the first one.")));
}

static void
check_period(int64 t, int64 first)
{
	if (t < first || t > SBG_MAX_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the period must be between " INT64_FORMAT " and %d", first, SBG_MAX_PERIODS),
				 errdetail("Got " INT64_FORMAT ".", t)));
}

void
sbg_check_weight(double w)
{
	cs_check_finite(w, "weight");
	if (w < 0 || w > 1e15)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weight must be between 0 and 1e15 customers"),
				 errdetail("Got %g.", w)));
}

void
sbg_check_fit_input(const BtydRows *rows, double customers)
{
	bool		any_cancelled = false;

	if (customers < SBG_MIN_CUSTOMERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sBG needs at least %d customers to fit, got %g", SBG_MIN_CUSTOMERS, customers)));
	for (int64 i = 0; i < rows->n; i++)
		any_cancelled |= rows->rows[i].tx != 0;
	if (!any_cancelled)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sBG cannot be fitted: no customer cancelled"),
				 errhint("Retention is estimated from cancellations; use a longer history.")));
}

/*
 * sbg_fit_survival(alive float8[]): the fit of one cohort from the customers still active after 0, 1, ..., n
 * periods (alive[1] = the cohort's size; counts or percentages): alive[t] - alive[t+1] cancelled after t
 * renewals (T = t), alive[n+1] still active after n renewals.  The same likelihood as sbg_fit.
 */
PG_FUNCTION_INFO_V1(sbg_fit_survival);
Datum
sbg_fit_survival(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	double		prev = 0;
	BtydRows	rows = {0};
	CsAllocator alloc = cs_allocator(CurrentMemoryContext);
	BtydFit		fit;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("alive must be a one-dimensional array")));
	deconstruct_array(arr, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("alive needs the cohort's size and at least one later count"),
				 errdetail("Got %d elements.", n)));
	for (int t = 0; t < n; t++)
	{
		double		a;

		if (nulls[t])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("alive must not contain NULLs"),
					 errdetail("Element %d is NULL.", t + 1)));
		a = DatumGetFloat8(elems[t]);
		cs_check_finite(a, "alive");
		if (a < 0 || (t == 0 && a == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("alive counts must be non-negative, the first positive"),
					 errdetail("Element %d is %g.", t + 1, a)));
		if (t > 0 && a > prev)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("alive counts must not rise: customers who left do not come back"),
					 errdetail("Element %d is %g, after %g.", t + 1, a, prev)));
		if (t > 0 && prev > a)
			btyd_rows_add(&rows, t - 1, 1, 0, prev - a, &alloc);
		prev = a;
	}
	if (prev > 0)
		btyd_rows_add(&rows, n - 1, 0, 0, prev, &alloc);
	btyd_rows_compact(&rows, &alloc);
	sbg_check_fit_input(&rows, DatumGetFloat8(elems[0]));
	fit = btyd_fit_model(&sbg_spec, &rows, 0, NULL);
	btyd_report_fit("sBG", &fit, 2);
	return btyd_model_datum(fcinfo, &fit, 2, DatumGetFloat8(elems[0]), rows.n);
}

static double
discount_arg(FunctionCallInfo fcinfo, int argno)
{
	double		d = PG_GETARG_FLOAT8(argno);

	cs_check_finite(d, "discount");
	if (d <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the discount rate per period must be positive"),
				 errdetail("Got %g.", d),
				 errhint("Undiscounted, the expected renewals of a customer are sbg_expected_renewals (infinite when alpha <= 1).")));
	return d;
}

/* sbg_survival(model, t), sbg_churn_probability(model, t), sbg_retention_rate(model, t). */
PG_FUNCTION_INFO_V1(sbg_survival_sql);
Datum
sbg_survival_sql(PG_FUNCTION_ARGS)
{
	double		p[2];

	btyd_model_params(fcinfo, 0, 2, p);
	check_period(PG_GETARG_INT32(1), 0);
	PG_RETURN_FLOAT8(sbg_survival(p, PG_GETARG_INT32(1)));
}

PG_FUNCTION_INFO_V1(sbg_churn_probability_sql);
Datum
sbg_churn_probability_sql(PG_FUNCTION_ARGS)
{
	double		p[2];

	btyd_model_params(fcinfo, 0, 2, p);
	check_period(PG_GETARG_INT32(1), 1);
	PG_RETURN_FLOAT8(sbg_churn_probability(p, PG_GETARG_INT32(1)));
}

PG_FUNCTION_INFO_V1(sbg_retention_rate_sql);
Datum
sbg_retention_rate_sql(PG_FUNCTION_ARGS)
{
	double		p[2];

	btyd_model_params(fcinfo, 0, 2, p);
	check_period(PG_GETARG_INT32(1), 1);
	PG_RETURN_FLOAT8(sbg_retention(p, PG_GETARG_INT32(1)));
}

/* sbg_derl(model, discount, renewals) */
PG_FUNCTION_INFO_V1(sbg_derl_sql);
Datum
sbg_derl_sql(PG_FUNCTION_ARGS)
{
	double		p[2];
	double		d = discount_arg(fcinfo, 1);

	btyd_model_params(fcinfo, 0, 2, p);
	sbg_check_renewals(PG_GETARG_INT32(2));
	PG_RETURN_FLOAT8(btyd_defined_result(sbg_derl(p, d, PG_GETARG_INT32(2)), "DERL"));
}

/* sbg_expected_renewals(model, renewals): DERL undiscounted; Infinity when alpha <= 1. */
PG_FUNCTION_INFO_V1(sbg_expected_renewals_sql);
Datum
sbg_expected_renewals_sql(PG_FUNCTION_ARGS)
{
	double		p[2];

	btyd_model_params(fcinfo, 0, 2, p);
	sbg_check_renewals(PG_GETARG_INT32(1));
	PG_RETURN_FLOAT8(sbg_derl(p, 0, PG_GETARG_INT32(1)));
}

/* sbg_expected_payments_new(model, discount): a new customer's discounted payments, the first included. */
PG_FUNCTION_INFO_V1(sbg_expected_payments_new_sql);
Datum
sbg_expected_payments_new_sql(PG_FUNCTION_ARGS)
{
	double		p[2];
	double		d = discount_arg(fcinfo, 1);

	btyd_model_params(fcinfo, 0, 2, p);
	PG_RETURN_FLOAT8(btyd_defined_result(sbg_expected_payments_new(p, d), "the expected payments"));
}

/*
 * lifecycle.c: lifecycle stages and reactivation (SQL glue around lifecycle_math.c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "cs_util.h"
#include "lifecycle_math.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/varbit.h"

static void
check_days(int32 days, const char *what, int32 min)
{
	if (days < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least %d", what, min),
				 errdetail("Got %d.", days)));
}

static void
check_unit_interval(double v, const char *what)
{
	cs_check_finite(v, what);
	if (v < 0 || v > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 0 and 1", what),
				 errdetail("Got %g.", v)));
}

/*
 * lifecycle_stage(first_order, last_order, orders, as_of, new_days, churn_days,
 *                 at_risk_factor, default_gap_days, reactivated_on, p_alive, p_alive_threshold)
 */
PG_FUNCTION_INFO_V1(lifecycle_stage_sql);
Datum
lifecycle_stage_sql(PG_FUNCTION_ARGS)
{
	LifecycleInput in = {0};

	for (int i = 3; i <= 7; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("lifecycle_stage as_of and window parameters must not be NULL")));
	if (PG_ARGISNULL(10))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lifecycle_stage p_alive_threshold must not be NULL")));
	in.orders = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	in.as_of = cs_day_of(PG_GETARG_DATUM(3), DATEOID, "as_of");
	in.new_days = PG_GETARG_INT32(4);
	in.churn_days = PG_GETARG_INT32(5);
	in.at_risk_factor = PG_GETARG_FLOAT8(6);
	in.default_gap_days = PG_GETARG_FLOAT8(7);
	check_days(in.new_days, "new_days", 0);
	check_days(in.churn_days, "churn_days", 1);
	cs_check_finite(in.at_risk_factor, "at_risk_factor");
	cs_check_finite(in.default_gap_days, "default_gap_days");
	if (in.at_risk_factor <= 0 || in.default_gap_days <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("at_risk_factor and default_gap_days must be positive")));
	in.p_alive_threshold = PG_GETARG_FLOAT8(10);
	check_unit_interval(in.p_alive_threshold, "p_alive_threshold");
	if (in.orders < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("orders must not be negative")));
	if (in.orders > 0)
	{
		if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("first_order and last_order must not be NULL when orders > 0")));
		in.first_day = cs_day_of(PG_GETARG_DATUM(0), DATEOID, "first_order");
		in.last_day = cs_day_of(PG_GETARG_DATUM(1), DATEOID, "last_order");
		if (in.last_day < in.first_day)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("last_order is before first_order")));
		if (in.as_of < in.first_day || in.as_of < in.last_day)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("as_of is before the customer's orders"),
					 errhint("Pass the day the stage is assessed on, on or after the last order.")));
	}
	if (!PG_ARGISNULL(8))
	{
		in.has_reactivation = true;
		in.reactivation_day = cs_day_of(PG_GETARG_DATUM(8), DATEOID, "reactivated_on");
	}
	if (!PG_ARGISNULL(9))
	{
		in.has_p_alive = true;
		in.p_alive = PG_GETARG_FLOAT8(9);
		check_unit_interval(in.p_alive, "p_alive");
	}
	PG_RETURN_TEXT_P(cstring_to_text(lifecycle_stage_names[lifecycle_stage(&in)]));
}

/* last_reactivation(activity, first_purchase, churn_days): the day of the last return after a lapse. */
PG_FUNCTION_INFO_V1(last_reactivation_sql);
Datum
last_reactivation_sql(PG_FUNCTION_ARGS)
{
	VarBit	   *bits = PG_GETARG_VARBIT_P(0);
	DateADT		first = cs_day_of(PG_GETARG_DATUM(1), DATEOID, "first_purchase");
	int32		churn_days = PG_GETARG_INT32(2);
	int64		k;

	check_days(churn_days, "churn_days", 1);
	k = last_return_after_gap(VARBITS(bits), VARBITLEN(bits), churn_days);
	if (k < 0)
		PG_RETURN_NULL();
	/* A valid date only: one PostgreSQL could not read back would break a dump of a table that stores it. */
	if (k > (int64) (DATE_END_JULIAN - POSTGRES_EPOCH_JDATE) - 1 - first)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("last_reactivation falls after the last valid date"),
				 errdetail("first_purchase %s plus bit " INT64_FORMAT " of the activity string.",
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(first))), k),
				 errhint("Pass the first_purchase the activity string was built from.")));
	PG_RETURN_DATEADT(first + (DateADT) k);
}

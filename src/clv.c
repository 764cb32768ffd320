/*
 * clv.c: CLV functions and aggregates (SQL glue around clv_math.c and
 * retention_math.c).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "clv_math.h"
#include "cs_util.h"
#include "state.h"
#include "funcapi.h"
#include "retention_math.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/varbit.h"

static void
check_range(double value, const char *what, double lo, bool lo_open, double hi, const char *hint)
{
	cs_check_finite(value, what);
	if ((lo_open ? value <= lo : value < lo) || value > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range", what),
				 errdetail("Got %g.", value),
				 errhint("%s", hint)));
}

static double
periods_per_year_arg(text *name)
{
	char	   *s = text_to_cstring(name);
	double		ppy = clv_periods_per_year(s);

	if (ppy < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown period \"%s\"", s),
				 errhint("Use 'year', 'quarter', 'month', 'week' or 'day'.")));
	return ppy;
}

/* period_rate(annual_rate, period): the per-period rate equivalent to an annual one. */
PG_FUNCTION_INFO_V1(clv_period_rate_sql);
Datum
clv_period_rate_sql(PG_FUNCTION_ARGS)
{
	double		annual = PG_GETARG_FLOAT8(0);
	double		ppy = periods_per_year_arg(PG_GETARG_TEXT_PP(1));

	check_range(annual, "annual rate", -1, true, HUGE_VAL, "An annual rate of 10% is 0.10; it must exceed -1.");
	PG_RETURN_FLOAT8(clv_period_rate(annual, ppy));
}

/*
 * clv_retention(margin, retention, discount, periods, timing, growth, acquisition_cost):
 * NULL periods means an infinite horizon; NULL margin/retention/discount give NULL.
 */
PG_FUNCTION_INFO_V1(clv_retention_sql);
Datum
clv_retention_sql(PG_FUNCTION_ARGS)
{
	double		margin,
				retention,
				discount,
				growth,
				acquisition,
				periods = -1,
				value;
	char	   *timing_name;
	int			timing;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	for (int i = 4; i <= 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("clv_retention timing, growth and acquisition_cost must not be NULL")));
	margin = PG_GETARG_FLOAT8(0);
	retention = PG_GETARG_FLOAT8(1);
	discount = PG_GETARG_FLOAT8(2);
	growth = PG_GETARG_FLOAT8(5);
	acquisition = PG_GETARG_FLOAT8(6);
	timing_name = text_to_cstring(PG_GETARG_TEXT_PP(4));
	timing = clv_parse_timing(timing_name);

	cs_check_finite(margin, "margin");
	cs_check_finite(acquisition, "acquisition_cost");
	check_range(retention, "retention", 0, false, 1, "Retention is a probability between 0 and 1.");
	check_range(discount, "discount rate", -1, true, HUGE_VAL, "Use the rate per period, e.g. period_rate(0.10, 'month').");
	check_range(growth, "growth rate", -1, true, HUGE_VAL, "Use the margin growth per period, e.g. 0.01.");
	if (timing < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown timing \"%s\"", timing_name),
				 errhint("Use 'start', 'end' or 'end_first'.")));
	if (!PG_ARGISNULL(3))
	{
		int32		n = PG_GETARG_INT32(3);

		if (n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("periods must not be negative"),
					 errdetail("Got %d.", n),
					 errhint("Pass NULL for an infinite horizon.")));
		periods = n;
	}
	else if (retention * (1 + growth) >= 1 + discount)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the infinite-horizon CLV diverges"),
				 errdetail("retention * (1 + growth) = %g is not below 1 + discount = %g.",
						   retention * (1 + growth), 1 + discount),
				 errhint("Pass a finite number of periods, or a discount rate above the retained growth.")));

	value = clv_retention(margin, retention, discount, periods, timing, growth) - acquisition;
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("CLV overflows double precision"),
				 errhint("Shorten the horizon or check the growth and discount rates.")));
	PG_RETURN_FLOAT8(value);
}

/* ---- clv_historical aggregate: discounted value of past cash flows ---- */

typedef struct HistState
{
	CsSum		value;
	int64		flows;
	int32		reference;
	uint32		zone;			/* cs_order_zone of the rows */
	bool		continuous;
	double		rate;
	double		margin;
} HistState;

/* clv_historical(ordered_at, amount, reference_date, annual_rate [, margin, compounding [, zone]]) */
#define HIST_ZONE_ARGNO 7

/* The terms of the discounting (reference day, rate, margin, compounding), from the arguments, checked. */
static void
hist_terms(FunctionCallInfo fcinfo, HistState *st)
{
	for (int i = 3; i < PG_NARGS() && i < HIST_ZONE_ARGNO; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("clv_historical reference_date, annual_rate, margin and compounding must not be NULL")));
	st->reference = cs_day_of(PG_GETARG_DATUM(3), DATEOID, "clv_historical reference_date");
	st->rate = PG_GETARG_FLOAT8(4);
	check_range(st->rate, "annual rate", -1, true, HUGE_VAL, "An annual rate of 10% is 0.10; it must exceed -1.");
	st->margin = PG_NARGS() > 5 ? PG_GETARG_FLOAT8(5) : 1.0;
	cs_check_finite(st->margin, "margin");
	st->continuous = false;
	if (PG_NARGS() > 6)
	{
		char	   *c = text_to_cstring(PG_GETARG_TEXT_PP(6));

		if (strcmp(c, "continuous") != 0 && strcmp(c, "annual") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown compounding \"%s\"", c),
					 errhint("Use 'annual' or 'continuous'.")));
		st->continuous = strcmp(c, "continuous") == 0;
	}
}

static bool
same_hist_terms(const HistState *a, const HistState *b)
{
	return a->reference == b->reference && a->rate == b->rate && a->margin == b->margin
		&& a->continuous == b->continuous && a->zone == b->zone;
}

/* The state as a value (type clv_historical_state): HistState as it is. */
static Size
hist_flat_size(void *state)
{
	return sizeof(HistState);
}

static void
hist_flatten(void *state, char *buf)
{
	memcpy(buf, state, sizeof(HistState));
}

static void *
hist_expand(const char *buf, Size len, MemoryContext ctx)
{
	HistState  *st;

	if (len != sizeof(HistState))
		return NULL;
	st = MemoryContextAlloc(ctx, sizeof(HistState));
	memcpy(st, buf, sizeof(HistState));
	if (st->flows < 0 || !(st->rate > -1 && st->rate < HUGE_VAL) || isnan(st->margin) || isinf(st->margin))
		return NULL;
	return st;
}

static const CsStateKind hist_kind = {"clv_historical", 0x31534843 /* "CHS1" */ , hist_flat_size, hist_flatten, hist_expand};

CS_STATE_TYPE_FUNCTIONS(clv_historical, hist_kind)

PG_FUNCTION_INFO_V1(clv_historical_trans);
Datum
clv_historical_trans(PG_FUNCTION_ARGS)
{
	bool		fresh;
	Datum		result;
	HistState  *st = cs_flat_state_arg0(fcinfo, &hist_kind, "clv_historical_trans", sizeof(HistState), &fresh, &result);
	CsOrderArgs *args = cs_order_args(fcinfo, 1, 2, HIST_ZONE_ARGNO, "clv_historical");
	uint32		zone = cs_order_zone(fcinfo, args);
	double		amount;
	int32		day;

	if (fresh)
	{
		hist_terms(fcinfo, st);
		st->zone = zone;
	}
	else if (args->varying != 0)
	{
		HistState	row;

		hist_terms(fcinfo, &row);
		row.zone = zone;
		cs_check_constant(same_hist_terms(st, &row), "clv_historical",
						  "reference_date, annual_rate, margin, compounding and zone");
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return result;			/* NULL rows are skipped */
	amount = cs_amount_to_double(PG_GETARG_DATUM(2), args->amount_type);
	cs_check_finite(amount, "clv_historical amount");
	day = cs_order_day(args, PG_GETARG_DATUM(1), "clv_historical ordered_at");
	cs_sum_add(&st->value, amount * st->margin *
			   clv_discount_factor((double) st->reference - day, st->rate, st->continuous));
	st->flows++;
	return result;
}

PG_FUNCTION_INFO_V1(clv_historical_combine);
Datum
clv_historical_combine(PG_FUNCTION_ARGS)
{
	HistState  *src = cs_state_read(fcinfo, 1, &hist_kind);
	HistState  *dst;
	bool		fresh;
	Datum		result;

	if (src == NULL)
	{
		cs_agg_context(fcinfo, "clv_historical_combine");
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	dst = cs_flat_state_arg0(fcinfo, &hist_kind, "clv_historical_combine", sizeof(HistState), &fresh, &result);
	if (fresh)
	{
		memcpy(dst, src, sizeof(HistState));
		return result;
	}
	cs_check_constant(same_hist_terms(dst, src), "clv_historical", "reference_date, annual_rate, margin, compounding and zone");
	cs_sum_merge(&dst->value, &src->value);
	dst->flows += src->flows;
	return result;
}

PG_FUNCTION_INFO_V1(clv_historical_final);
Datum
clv_historical_final(PG_FUNCTION_ARGS)
{
	HistState  *st = cs_state_read(fcinfo, 0, &hist_kind);

	if (st == NULL || st->flows == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(cs_finite_result(cs_sum_value(&st->value), "clv_historical",
									  "Amounts or the discount rate are too large for double precision."));
}

/* ---- retention_curve aggregate over purchase_activity bit strings ---- */

/* The state as a value (type retention_curve_state): retention_math's serial form. */
static Size
retention_flat_size(void *state)
{
	return retention_serial_size(state);
}

static void
retention_flatten(void *state, char *buf)
{
	retention_serialize(state, buf);
}

static void *
retention_expand(const char *buf, Size len, MemoryContext ctx)
{
	CsAllocator alloc = cs_allocator(ctx);
	RetentionCounts *rc = MemoryContextAlloc(ctx, sizeof(RetentionCounts));

	if (!retention_deserialize(rc, buf, len, &alloc) || rc->customers < 0 || rc->len > CS_MAX_ACTIVITY_PERIODS)
		return NULL;
	return rc;
}

static const CsStateKind retention_kind = {"retention_curve", 0x31535452 /* "RTS1" */ , retention_flat_size, retention_flatten,
retention_expand};

CS_STATE_TYPE_FUNCTIONS(retention_curve, retention_kind)

static RetentionCounts *
retention_new(FunctionCallInfo fcinfo, CsStateRef *ref)
{
	RetentionCounts *rc;

	cs_state_start(fcinfo, ref, &retention_kind);
	rc = MemoryContextAlloc(ref->ctx, sizeof(RetentionCounts));
	retention_init(rc);
	ref->state = rc;
	return rc;
}

PG_FUNCTION_INFO_V1(retention_curve_trans);
Datum
retention_curve_trans(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &retention_kind, "retention_curve_trans");
	RetentionCounts *rc = ref.state != NULL ? ref.state : retention_new(fcinfo, &ref);
	CsAllocator alloc = cs_allocator(ref.ctx);
	VarBit	   *bits;

	if (PG_ARGISNULL(1))
		return cs_state_datum(fcinfo, &ref);
	bits = PG_GETARG_VARBIT_P(1);
	if (VARBITLEN(bits) == 0 || !(VARBITS(bits)[0] & 0x80))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an activity bit string must start with the acquisition period (bit 0 set)"),
				 errhint("Build it with customer_segment.purchase_activity().")));
	cs_check_activity_length(VARBITLEN(bits), "retention_curve activity");
	retention_add(rc, VARBITS(bits), VARBITLEN(bits), &alloc);
	return cs_state_datum(fcinfo, &ref);
}

PG_FUNCTION_INFO_V1(retention_curve_combine);
Datum
retention_curve_combine(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &retention_kind, "retention_curve_combine");
	RetentionCounts *src = cs_state_read(fcinfo, 1, &retention_kind);
	RetentionCounts *dst;
	CsAllocator alloc;

	if (src == NULL)
		return cs_state_datum(fcinfo, &ref);
	dst = ref.state != NULL ? ref.state : retention_new(fcinfo, &ref);
	alloc = cs_allocator(ref.ctx);
	retention_combine(dst, src, &alloc);
	return cs_state_datum(fcinfo, &ref);
}

static Datum
int8_array(const int64 *values, int32 n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int32 i = 0; i < n; i++)
		elems[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(elems, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

PG_FUNCTION_INFO_V1(retention_curve_final);
Datum
retention_curve_final(PG_FUNCTION_ARGS)
{
	RetentionCounts *rc;
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {0};
	double		rate;

	rc = cs_state_read(fcinfo, 0, &retention_kind);
	if (rc == NULL || rc->customers == 0)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != 6)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("retention_curve must return the retention_counts composite type")));
	desc = BlessTupleDesc(desc);
	rate = retention_pooled_rate(rc);
	values[0] = Int64GetDatum(rc->customers);
	values[1] = int8_array(rc->observed, rc->len);
	values[2] = int8_array(rc->active, rc->len);
	values[3] = int8_array(rc->at_risk, rc->len);
	values[4] = int8_array(rc->retained, rc->len);
	values[5] = Float8GetDatum(rate);
	nulls[5] = isnan(rate);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

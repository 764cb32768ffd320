/*
 * rfm.c: the rfm_summary aggregate (SQL glue around rfm_math.c).
 *
 * rfm_summary(ordered_at date|timestamptz, amount numeric|float8, as_of date
 *             [, granularity text, unit text [, zone text]]) -> customer_summary
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "cs_util.h"
#include "funcapi.h"
#include "rfm.h"
#include "libpq/pqformat.h"
#include "rfm_math.h"
#include "utils/builtins.h"
#include "utils/date.h"

#define RFM_RESULT_NATTS 17

static int
rfm_knob(FunctionCallInfo fcinfo, int argno, const char *what, int (*parse) (const char *))
{
	char	   *name;
	int			value;

	if (argno < 0 || PG_NARGS() <= argno)
		return 0;				/* day, the default of both knobs */
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rfm_summary %s must not be NULL", what),
				 errhint("Use 'day', 'week' or 'month'.")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	value = parse(name);
	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown rfm_summary %s \"%s\"", what, name),
				 errhint("Use 'day', 'week' or 'month'.")));
	return value;
}

/*
 * One transition for rfm_summary and purchase_activity (activity.c); the knobs
 * and the zone sit at different argument positions in the two (argument number
 * -1 or past the last argument: the knob is absent, i.e. 'day').
 */
Datum
rfm_summary_trans_at(FunctionCallInfo fcinfo, const char *fname, int granularity_argno, int unit_argno, int zone_argno)
{
	MemoryContext aggctx = cs_agg_context(fcinfo, fname);
	CsOrderArgs *args = cs_order_args(fcinfo, 1, 2, zone_argno, fname);
	uint32		zone = cs_order_zone(fcinfo, args);
	RfmState   *st;
	int32		as_of;
	CsAllocator alloc = cs_allocator(aggctx);
	double		amount;

	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rfm_summary as_of must not be NULL"),
				 errhint("Pass the last day of the observation window, e.g. current_date.")));
	as_of = cs_day_of(PG_GETARG_DATUM(3), DATEOID, "rfm_summary as_of");

	if (PG_ARGISNULL(0))
	{
		st = MemoryContextAlloc(aggctx, sizeof(RfmState));
		rfm_state_init(st,
					   rfm_knob(fcinfo, granularity_argno, "granularity", rfm_parse_granularity),
					   rfm_knob(fcinfo, unit_argno, "unit", rfm_parse_unit),
					   as_of);
		st->zone = zone;
	}
	else
	{
		st = (RfmState *) PG_GETARG_POINTER(0);
		cs_check_constant(st->as_of == as_of, fname, "as_of");
		cs_check_constant(st->zone == zone, fname, "zone");
		/* knobs are parsed again only when they are not constants of the query (found once, in args) */
		if (args->varying & ((uint32) 1 << granularity_argno))
			cs_check_constant(st->granularity == rfm_knob(fcinfo, granularity_argno, "granularity", rfm_parse_granularity),
							  fname, "granularity");
		if (unit_argno >= 0 && (args->varying & ((uint32) 1 << unit_argno)))
			cs_check_constant(st->unit == rfm_knob(fcinfo, unit_argno, "unit", rfm_parse_unit), fname, "unit");
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		st->skipped_rows++;
		PG_RETURN_POINTER(st);
	}
	amount = cs_amount_to_double(PG_GETARG_DATUM(2), args->amount_type);
	cs_check_finite(amount, "rfm_summary amount");
	rfm_state_add(st, cs_order_day(args, PG_GETARG_DATUM(1), "rfm_summary ordered_at"), amount, &alloc);
	PG_RETURN_POINTER(st);
}

/* rfm_summary(ordered_at, amount, as_of [, granularity, unit [, zone]]) */
PG_FUNCTION_INFO_V1(rfm_summary_trans);
Datum
rfm_summary_trans(PG_FUNCTION_ARGS)
{
	return rfm_summary_trans_at(fcinfo, "rfm_summary", 4, 5, 6);
}

PG_FUNCTION_INFO_V1(rfm_summary_combine);
Datum
rfm_summary_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = cs_agg_context(fcinfo, "rfm_summary_combine");
	CsAllocator alloc = cs_allocator(aggctx);
	RfmState   *dst;
	RfmState   *src;

	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	src = (RfmState *) PG_GETARG_POINTER(1);
	if (PG_ARGISNULL(0))
	{
		/* Copy, never hand out the second argument. */
		dst = MemoryContextAlloc(aggctx, sizeof(RfmState));
		rfm_state_init(dst, src->granularity, src->unit, src->as_of);
		dst->zone = src->zone;
		rfm_state_combine(dst, src, &alloc);
		PG_RETURN_POINTER(dst);
	}
	dst = (RfmState *) PG_GETARG_POINTER(0);
	cs_check_constant(dst->as_of == src->as_of && dst->granularity == src->granularity && dst->unit == src->unit
					  && dst->zone == src->zone, "rfm_summary", "as_of, granularity, unit and zone");
	rfm_state_combine(dst, src, &alloc);
	PG_RETURN_POINTER(dst);
}

PG_FUNCTION_INFO_V1(rfm_summary_serialize);
Datum
rfm_summary_serialize(PG_FUNCTION_ARGS)
{
	RfmState   *st;
	size_t		size;
	bytea	   *out;

	cs_agg_context(fcinfo, "rfm_summary_serialize");
	st = (RfmState *) PG_GETARG_POINTER(0);
	size = rfm_state_serial_size(st);
	out = (bytea *) palloc(VARHDRSZ + size);
	SET_VARSIZE(out, VARHDRSZ + size);
	rfm_state_serialize(st, VARDATA(out));
	PG_RETURN_BYTEA_P(out);
}

PG_FUNCTION_INFO_V1(rfm_summary_deserialize);
Datum
rfm_summary_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = cs_agg_context(fcinfo, "rfm_summary_deserialize");
	CsAllocator alloc = cs_allocator(aggctx);
	bytea	   *in = PG_GETARG_BYTEA_PP(0);
	RfmState   *st = MemoryContextAlloc(aggctx, sizeof(RfmState));

	if (!rfm_state_deserialize(st, VARDATA_ANY(in), VARSIZE_ANY_EXHDR(in), &alloc))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed rfm_summary state")));
	PG_RETURN_POINTER(st);
}

/* The blessed customer_summary descriptor, built once per query. */
static TupleDesc
rfm_result_desc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	MemoryContext old;

	if (desc != NULL)
		return desc;
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("rfm_summary must return the customer_summary composite type")));
	if (desc->natts != RFM_RESULT_NATTS)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("customer_summary has %d attributes, expected %d", desc->natts, RFM_RESULT_NATTS),
				 errhint("Update the extension: ALTER EXTENSION customer_segment UPDATE.")));
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	desc = BlessTupleDesc(CreateTupleDescCopy(desc));
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = desc;
	return desc;
}

PG_FUNCTION_INFO_V1(rfm_summary_final);
Datum
rfm_summary_final(PG_FUNCTION_ARGS)
{
	RfmState   *st;
	RfmResult	r;
	TupleDesc	desc;
	Datum		values[RFM_RESULT_NATTS];
	bool		nulls[RFM_RESULT_NATTS] = {0};
	int			i = 0;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (RfmState *) PG_GETARG_POINTER(0);
	if (!rfm_state_result(st, &r))
		PG_RETURN_NULL();
	/* Sums of amounts near DBL_MAX overflow; every other field derives from these. */
	cs_finite_result(r.revenue, "rfm_summary revenue", "Amounts are too large for double precision.");
	cs_finite_result(r.refunds, "rfm_summary refunds", "Amounts are too large for double precision.");
	cs_finite_result(r.monetary_total, "rfm_summary monetary_total", "Amounts are too large for double precision.");
	desc = rfm_result_desc(fcinfo);

	/* Order and types follow customer_segment.customer_summary. */
	values[i] = DateADTGetDatum(r.first_day);
	nulls[i++] = r.orders == 0;
	values[i] = DateADTGetDatum(r.last_day);
	nulls[i++] = r.orders == 0;
	values[i++] = Int64GetDatum(r.orders);
	values[i++] = Int64GetDatum(r.purchase_days);
	values[i++] = Int64GetDatum(r.refund_rows);
	values[i] = Int32GetDatum(r.recency_days);
	nulls[i++] = r.orders == 0;
	values[i] = Int32GetDatum(r.tenure_days);
	nulls[i++] = r.orders == 0;
	values[i++] = Float8GetDatum(r.revenue);
	values[i++] = Float8GetDatum(r.refunds);
	values[i++] = Float8GetDatum(r.monetary_total);
	values[i] = Float8GetDatum(r.monetary_avg);
	nulls[i++] = r.orders == 0;
	values[i] = Int64GetDatum(r.frequency);
	nulls[i++] = r.orders == 0;
	values[i] = Float8GetDatum(r.recency);
	nulls[i++] = r.orders == 0;
	values[i] = Float8GetDatum(r.T);
	nulls[i++] = r.orders == 0;
	values[i] = Float8GetDatum(r.monetary_value);
	nulls[i++] = r.orders == 0;
	values[i++] = Int64GetDatum(r.skipped_rows);
	values[i++] = Int64GetDatum(r.excluded_rows);
	Assert(i == lengthof(values));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

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
#include "state.h"
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
 * The state as an SQL value (type rfm_summary_state): a varlena holding a
 * format mark and rfm_math's serial form.  The data starts 8 bytes in, so a
 * state palloc'd by us or copied by the executor can be worked on in place:
 * the transition and combine functions change it where it lies and return
 * the same pointer, and make a new one only when the day bitmap must grow.
 */
#define RFM_STATE_MARK 0x31534652	/* "RFS1" read as little-endian */

typedef struct RfmFlat
{
	int32		vl_len_;
	uint32		mark;
	char		data[FLEXIBLE_ARRAY_MEMBER];	/* RfmState, then the day words */
} RfmFlat;

#define RFM_FLAT_HEADER offsetof(RfmFlat, data)

/*
 * A customer's purchase days are kept as a bitmap over her span (an eighth of a byte a day): a span beyond
 * RFM_MAX_SPAN_DAYS (about 10,950 years, 500 kB) is refused before it is allocated, so one order dated by
 * mistake in year 5874897 cannot make a state of 268 MB.
 */
#define RFM_MAX_SPAN_DAYS 4000000

static void
rfm_check_span(int64 span)
{
	if (span > RFM_MAX_SPAN_DAYS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a customer's purchase days span " INT64_FORMAT " days, more than %d", span, RFM_MAX_SPAN_DAYS),
				 errhint("Check the order dates: one is probably wrong.")));
}

static RfmFlat *
rfm_flat_pack(const RfmState *st, MemoryContext ctx)
{
	size_t		size = RFM_FLAT_HEADER + rfm_state_serial_size(st);
	RfmFlat    *flat;

	if (size > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("rfm_summary state of %zu bytes is too large", size),
				 errdetail("A customer's purchase days span %d days.", st->days.nwords * 64)));
	flat = MemoryContextAlloc(ctx, size);
	SET_VARSIZE(flat, size);
	flat->mark = RFM_STATE_MARK;
	rfm_state_serialize(st, flat->data);
	return flat;
}

/* The state inside a flat value of ours (aligned, writable), its set pointing into it. */
static RfmState *
rfm_flat_open(RfmFlat *flat)
{
	RfmState   *st = (RfmState *) (void *) flat->data;

	st->days.words = st->days.nwords > 0 ? (uint64 *) (void *) (flat->data + sizeof(RfmState)) : NULL;
	return st;
}

/* A state value from anywhere (a table, another node), read without changing it. */
void
rfm_state_read(Datum value, RfmState *st)
{
	struct varlena *v = PG_DETOAST_DATUM(value);
	const char *buf = VARDATA_ANY(v);
	size_t		len = VARSIZE_ANY_EXHDR(v);
	uint32		mark;
	bool		ok;

	if (len < sizeof(uint32))
		ok = false;
	else
	{
		memcpy(&mark, buf, sizeof(mark));
		buf += sizeof(uint32);
		len -= sizeof(uint32);
		if (mark != RFM_STATE_MARK)
			ok = false;
		else if (((uintptr_t) buf % sizeof(uint64)) == 0)
			ok = rfm_state_view(st, buf, len);
		else
		{
			CsAllocator alloc = cs_allocator(CurrentMemoryContext);

			ok = rfm_state_deserialize(st, buf, len, &alloc);
		}
	}
	if (!ok || !rfm_state_valid(st))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("malformed rfm_summary_state value"),
				 errdetail("The value was not made by this version of customer_segment's rfm_state or rfm_summary.")));
}

/* Words the bitmap grows out of are left to the per-tuple context: they may lie inside the flat state. */
static void
keep_words(void *ctx, void *ptr)
{
	(void) ctx;
	(void) ptr;
}

/*
 * Where a new state value goes.  The executor copies a new rfm_summary_state
 * value into the aggregate's context and frees the one it replaces, so ours
 * is made in the per-call context.  Releases before 1.5 declared the state
 * internal, which the executor neither copies nor frees: for them (a library
 * newer than the installed SQL, until ALTER EXTENSION UPDATE) it goes in the
 * aggregate's context and the old value is freed here.
 */
static Datum
rfm_flat_new(FunctionCallInfo fcinfo, MemoryContext aggctx, const RfmState *st, RfmFlat *old)
{
	bool		internal = cs_state_is_internal(fcinfo, 0);
	RfmFlat    *flat = rfm_flat_pack(st, internal ? aggctx : CurrentMemoryContext);

	if (internal && old != NULL)
		pfree(old);
	return PointerGetDatum(flat);
}

/*
 * The value to return after changing st in place: flat itself (its set
 * pointer cleared, so the bytes of a value never hold an address), or a
 * larger copy when the set moved out.
 */
static Datum
rfm_flat_result(FunctionCallInfo fcinfo, MemoryContext aggctx, RfmFlat *flat, RfmState *st)
{
	if (st->days.nwords == 0 || (char *) st->days.words == flat->data + sizeof(RfmState))
	{
		st->days.words = NULL;
		return PointerGetDatum(flat);
	}
	return rfm_flat_new(fcinfo, aggctx, st, flat);
}

/* A state as stored or sent: without the bitmap's spare words, so equal states have equal bytes. */
static RfmFlat *
rfm_flat_canonical(Datum value)
{
	RfmState	st;

	rfm_state_read(value, &st);
	periodset_trim(&st.days);
	return rfm_flat_pack(&st, CurrentMemoryContext);
}

/*
 * One transition for rfm_summary, rfm_state and purchase_activity
 * (activity.c): as_of, the knobs and the zone sit at different argument
 * positions (argument number -1 or past the last argument: absent; no as_of
 * is an open state, an absent knob is 'day').
 */
Datum
rfm_summary_trans_at(FunctionCallInfo fcinfo, const char *fname, int as_of_argno, int granularity_argno,
					 int unit_argno, int zone_argno)
{
	MemoryContext aggctx;
	CsOrderArgs *args;
	uint32		zone;
	RfmFlat    *flat = NULL;
	RfmState	fresh;
	RfmState   *st;
	int32		as_of = RFM_OPEN_AS_OF;
	CsAllocator alloc = {cs_allocator(CurrentMemoryContext).alloc, keep_words, CurrentMemoryContext};
	CsAmount	amount;

	aggctx = cs_agg_context(fcinfo, fname);
	args = cs_order_args(fcinfo, 1, 2, zone_argno, fname);
	zone = cs_order_zone(fcinfo, args);
	if (as_of_argno >= 0)
	{
		if (PG_ARGISNULL(as_of_argno))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s as_of must not be NULL", fname),
					 errhint("Pass the last day of the observation window, e.g. current_date.")));
		as_of = cs_day_of(PG_GETARG_DATUM(as_of_argno), DATEOID, "rfm_summary as_of");
	}

	if (PG_ARGISNULL(0))
	{
		st = &fresh;
		rfm_state_init(st,
					   rfm_knob(fcinfo, granularity_argno, "granularity", rfm_parse_granularity),
					   rfm_knob(fcinfo, unit_argno, "unit", rfm_parse_unit),
					   as_of);
		st->zone = zone;
	}
	else
	{
		flat = (RfmFlat *) PG_GETARG_POINTER(0);
		st = rfm_flat_open(flat);
		cs_check_constant(st->as_of == as_of, fname, "as_of");
		cs_check_constant(st->zone == zone, fname, "zone");
		/* knobs are parsed again only when they are not constants of the query (found once, in args) */
		if (granularity_argno >= 0 && (args->varying & ((uint32) 1 << granularity_argno)))
			cs_check_constant(st->granularity == rfm_knob(fcinfo, granularity_argno, "granularity", rfm_parse_granularity),
							  fname, "granularity");
		if (unit_argno >= 0 && (args->varying & ((uint32) 1 << unit_argno)))
			cs_check_constant(st->unit == rfm_knob(fcinfo, unit_argno, "unit", rfm_parse_unit), fname, "unit");
	}

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		st->skipped_rows++;
	else
	{
		int32		day = cs_order_day(args, PG_GETARG_DATUM(1), "rfm_summary ordered_at");

		amount = cs_amount_of(PG_GETARG_DATUM(2), args->amount_type);
		cs_check_finite(amount.value, "rfm_summary amount");
		rfm_check_span(rfm_state_span_after(st, day, amount));
		rfm_state_add(st, day, amount, &alloc);
	}
	if (flat == NULL)
		return rfm_flat_new(fcinfo, aggctx, st, NULL);
	return rfm_flat_result(fcinfo, aggctx, flat, st);
}

/* rfm_summary(ordered_at, amount, as_of [, granularity, unit [, zone]]) */
PG_FUNCTION_INFO_V1(rfm_summary_trans);
Datum
rfm_summary_trans(PG_FUNCTION_ARGS)
{
	return rfm_summary_trans_at(fcinfo, "rfm_summary", 3, 4, 5, 6);
}

/* rfm_state(ordered_at, amount [, zone]): every row counts, as_of comes when the state is finalised. */
PG_FUNCTION_INFO_V1(rfm_state_trans);
Datum
rfm_state_trans(PG_FUNCTION_ARGS)
{
	return rfm_summary_trans_at(fcinfo, "rfm_state", -1, -1, -1, 3);
}

/*
 * Combine of rfm_summary, rfm_state and purchase_activity, and the transition
 * of rfm_state_merge(state): the first state is ours (in place), the second
 * is read from wherever it lies.
 */
PG_FUNCTION_INFO_V1(rfm_summary_combine);
Datum
rfm_summary_combine(PG_FUNCTION_ARGS)
{
	CsAllocator alloc = {cs_allocator(CurrentMemoryContext).alloc, keep_words, CurrentMemoryContext};
	MemoryContext aggctx = cs_agg_context(fcinfo, "rfm_summary_combine");
	RfmFlat    *flat;
	RfmState   *dst;
	RfmState	src;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	rfm_state_read(PG_GETARG_DATUM(1), &src);
	if (PG_ARGISNULL(0))
		return rfm_flat_new(fcinfo, aggctx, &src, NULL);
	flat = (RfmFlat *) PG_GETARG_POINTER(0);
	dst = rfm_flat_open(flat);
	cs_check_constant(dst->as_of == src.as_of && dst->granularity == src.granularity && dst->unit == src.unit
					  && dst->zone == src.zone, "rfm_summary", "as_of, granularity, unit and zone");
	rfm_check_span(rfm_state_span_union(dst, &src));
	rfm_state_combine(dst, &src, &alloc);
	return rfm_flat_result(fcinfo, aggctx, flat, dst);
}

/* Serial functions of the internal state of releases before 1.5: the value is the flat state itself. */
PG_FUNCTION_INFO_V1(rfm_summary_serialize);
Datum
rfm_summary_serialize(PG_FUNCTION_ARGS)
{
	cs_agg_context(fcinfo, "rfm_summary_serialize");
	PG_RETURN_BYTEA_P(DatumGetByteaPCopy(PG_GETARG_DATUM(0)));
}

PG_FUNCTION_INFO_V1(rfm_summary_deserialize);
Datum
rfm_summary_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggctx = cs_agg_context(fcinfo, "rfm_summary_deserialize");
	RfmState	st;

	rfm_state_read(PG_GETARG_DATUM(0), &st);
	PG_RETURN_POINTER(rfm_flat_pack(&st, aggctx));
}

/* Final function of rfm_state and rfm_state_merge: the state as it is stored, without spare words. */
PG_FUNCTION_INFO_V1(rfm_state_final);
Datum
rfm_state_final(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	PG_RETURN_POINTER(rfm_flat_canonical(PG_GETARG_DATUM(0)));
}

/* Input and receive: a state checked and copied; output and send: its canonical form. */
PG_FUNCTION_INFO_V1(rfm_summary_state_in);
Datum
rfm_summary_state_in(PG_FUNCTION_ARGS)
{
	RfmState	st;

	rfm_state_read(PointerGetDatum(cs_state_from_text(PG_GETARG_CSTRING(0), "type rfm_summary_state")), &st);
	PG_RETURN_POINTER(rfm_flat_pack(&st, CurrentMemoryContext));
}

PG_FUNCTION_INFO_V1(rfm_summary_state_out);
Datum
rfm_summary_state_out(PG_FUNCTION_ARGS)
{
	PG_RETURN_CSTRING(cs_state_to_text((struct varlena *) rfm_flat_canonical(PG_GETARG_DATUM(0))));
}

PG_FUNCTION_INFO_V1(rfm_summary_state_recv);
Datum
rfm_summary_state_recv(PG_FUNCTION_ARGS)
{
	RfmState	st;

	rfm_state_read(PointerGetDatum(cs_state_from_message((StringInfo) PG_GETARG_POINTER(0))), &st);
	PG_RETURN_POINTER(rfm_flat_pack(&st, CurrentMemoryContext));
}

PG_FUNCTION_INFO_V1(rfm_summary_state_send);
Datum
rfm_summary_state_send(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(cs_state_to_message((struct varlena *) rfm_flat_canonical(PG_GETARG_DATUM(0))));
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

/* The customer_summary of a state, or NULL when it counted no row. */
static Datum
rfm_summary_datum(FunctionCallInfo fcinfo, const RfmState *st)
{
	RfmResult	r;
	TupleDesc	desc;
	Datum		values[RFM_RESULT_NATTS];
	bool		nulls[RFM_RESULT_NATTS] = {0};
	int			i = 0;

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

PG_FUNCTION_INFO_V1(rfm_summary_final);
Datum
rfm_summary_final(PG_FUNCTION_ARGS)
{
	RfmState	st;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	rfm_state_read(PG_GETARG_DATUM(0), &st);
	return rfm_summary_datum(fcinfo, &st);
}

/*
 * An open state (rfm_state, rfm_state_merge) with as_of and the knobs given
 * now: the copy st of the state, ready for rfm_math's results.
 */
void
rfm_state_close(FunctionCallInfo fcinfo, RfmState *st, const char *fname, int granularity_argno, int unit_argno)
{
	int32		as_of;

	rfm_state_read(PG_GETARG_DATUM(0), st);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s as_of must not be NULL", fname),
				 errhint("Pass the last day of the observation window, e.g. current_date.")));
	as_of = cs_day_of(PG_GETARG_DATUM(1), DATEOID, "rfm_summary as_of");
	if (st->as_of != RFM_OPEN_AS_OF && st->as_of != as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the state was built for as_of %s", fname,
						DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(st->as_of)))),
				 errhint("Build states with rfm_state, which takes as_of when it is finalised.")));
	if ((st->orders > 0 || st->refund_rows > 0) && st->last_row_day > as_of)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the state holds orders after as_of %s", fname,
						DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(as_of)))),
				 errdetail("Its latest order is on %s.",
						   DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(st->last_row_day)))),
				 errhint("A state cannot forget orders: finalise it on or after its latest order, "
						 "or build it from the orders up to as_of.")));
	st->as_of = as_of;
	st->granularity = rfm_knob(fcinfo, granularity_argno, "granularity", rfm_parse_granularity);
	st->unit = rfm_knob(fcinfo, unit_argno, "unit", rfm_parse_unit);
}

/* rfm_state_summary(state, as_of, granularity, unit) -> customer_summary */
PG_FUNCTION_INFO_V1(rfm_state_summary);
Datum
rfm_state_summary(PG_FUNCTION_ARGS)
{
	RfmState	st;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	rfm_state_close(fcinfo, &st, "rfm_state_summary", 2, 3);
	return rfm_summary_datum(fcinfo, &st);
}

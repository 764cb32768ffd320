/*
 * cs_util.c: helpers shared by the SQL-facing wrappers.
 */
#include "postgres.h"

#include "utils/lsyscache.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "nodes/pg_list.h"
#include "cs_util.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static void
cs_check_for_interrupts(void)
{
	CHECK_FOR_INTERRUPTS();
}

/* The fmgr-free math stops for statement_timeout and cancellation like the rest of the server. */
void
_PG_init(void)
{
	cs_interrupt_hook = cs_check_for_interrupts;
}

MemoryContext
cs_agg_context(FunctionCallInfo fcinfo, const char *fname)
{
	MemoryContext ctx;

	if (!AggCheckCallContext(fcinfo, &ctx))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s called in non-aggregate context", fname)));
	return ctx;
}

static void *
cs_palloc(void *ctx, size_t size)
{
	return MemoryContextAllocHuge((MemoryContext) ctx, size);
}

static void
cs_pfree(void *ctx, void *ptr)
{
	pfree(ptr);
}

CsAllocator
cs_allocator(MemoryContext ctx)
{
	CsAllocator a = {cs_palloc, cs_pfree, ctx};

	return a;
}

/*
 * numeric -> amount without the text round trip of numeric_float8 for the
 * common case of up to 12 significant decimal digits: its exact decimal
 * (units * 10^-scale) and its double.  The numeric disk format (a 16-bit
 * header, an optional 16-bit weight, base-10000 digits) is fixed by
 * pg_upgrade compatibility.  M / 10^k with both exact in a double is
 * correctly rounded, so the double equals numeric_float8's.
 */
#define NUM_SIGN_MASK		0xC000
#define NUM_NEG				0x4000
#define NUM_SHORT			0x8000
#define NUM_SPECIAL			0xC000
#define NUM_SHORT_SIGN		0x2000
#define NUM_SHORT_WSIGN		0x0040
#define NUM_SHORT_WMASK		0x003F

static bool
numeric_fast_amount(Numeric num, CsAmount *out)
{
	const char *p = VARDATA_ANY(num);
	size_t		len = VARSIZE_ANY_EXHDR(num);
	uint16		header;
	int			weight;
	bool		neg;
	int			ndigits;
	int64		mantissa = 0;
	int			exp10;
	static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
		1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

	if (len < sizeof(uint16))
		return false;
	memcpy(&header, p, sizeof(uint16));
	if ((header & NUM_SIGN_MASK) == NUM_SPECIAL)
		return false;
	if ((header & NUM_SIGN_MASK) == NUM_SHORT)
	{
		neg = (header & NUM_SHORT_SIGN) != 0;
		weight = (header & NUM_SHORT_WSIGN) ? (int) (~NUM_SHORT_WMASK | (header & NUM_SHORT_WMASK))
			: (int) (header & NUM_SHORT_WMASK);
		p += sizeof(uint16);
		len -= sizeof(uint16);
	}
	else
	{
		int16		w;

		if (len < 2 * sizeof(uint16))
			return false;
		neg = (header & NUM_SIGN_MASK) == NUM_NEG;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		weight = w;
		p += 2 * sizeof(uint16);
		len -= 2 * sizeof(uint16);
	}
	ndigits = (int) (len / sizeof(int16));
	if (ndigits == 0)
	{
		*out = (CsAmount) {0.0, 0, 0, true};
		return true;
	}
	if (ndigits > 3)
		return false;
	for (int i = 0; i < ndigits; i++)
	{
		int16		d;

		memcpy(&d, p + i * sizeof(int16), sizeof(int16));
		mantissa = mantissa * 10000 + d;
	}
	exp10 = 4 * (weight - ndigits + 1);
	if (exp10 < -22 || exp10 > 22)
		return false;
	out->value = exp10 < 0 ? (double) mantissa / pow10[-exp10] : (double) mantissa * pow10[exp10];
	out->units = neg ? -mantissa : mantissa;
	out->scale = exp10 < 0 ? -exp10 : 0;
	out->exact = out->scale <= CS_MONEY_MAX_SCALE;
	for (int i = 0; i < exp10 && out->exact; i++)	/* a whole number with trailing zeros */
		out->exact = !__builtin_mul_overflow(out->units, 10, &out->units);
	if (neg)
		out->value = -out->value;
	return true;
}

CsAmount
cs_amount_of(Datum value, Oid typid)
{
	CsAmount	a;

	if (typid == NUMERICOID)
	{
		Numeric		num = (Numeric) PG_DETOAST_DATUM_PACKED(value);

		if (!numeric_fast_amount(num, &a))
			a = cs_amount_double(DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(PG_DETOAST_DATUM(value)))));
		return a;
	}
	return cs_amount_double(DatumGetFloat8(value));
}

double
cs_amount_to_double(Datum value, Oid typid)
{
	return cs_amount_of(value, typid).value;
}

static void
check_finite_timestamp(TimestampTz ts, const char *what)
{
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite timestamp", what),
				 errhint("Exclude rows dated infinity or -infinity.")));
}

int32
cs_day_of(Datum value, Oid typid, const char *what)
{
	if (typid == DATEOID)
	{
		DateADT		d = DatumGetDateADT(value);

		if (DATE_NOT_FINITE(d))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be a finite date", what),
					 errhint("Exclude rows dated infinity or -infinity.")));
		return d;
	}
	check_finite_timestamp(DatumGetTimestampTz(value), what);
	return DatumGetDateADT(DirectFunctionCall1(timestamptz_date, value));
}

/*
 * The transition function's own expression holds placeholders, not the
 * aggregate's arguments, so get_fn_expr_arg_stable cannot tell: look at the
 * Aggref instead.
 */
bool
cs_arg_varies(FunctionCallInfo fcinfo, int argno)
{
	Aggref	   *aggref;
	Node	   *arg;

	if (PG_NARGS() <= argno)
		return false;
	aggref = AggGetAggref(fcinfo);
	if (aggref == NULL || argno - 1 >= list_length(aggref->args))
		return true;
	arg = (Node *) ((TargetEntry *) list_nth(aggref->args, argno - 1))->expr;
	return !(IsA(arg, Const) || (IsA(arg, Param) && ((Param *) arg)->paramkind == PARAM_EXTERN));
}

/* The id of a zone name: never 0, which stands for the session TimeZone. */
static uint32
zone_id_of(text *zone)
{
	uint32		h = hash_bytes((const unsigned char *) VARDATA_ANY(zone), VARSIZE_ANY_EXHDR(zone));

	return h == 0 ? 1 : h;
}

/* Use zone (NULL = session TimeZone) from now on; rejects a name AT TIME ZONE does not know. */
static void
set_order_zone(FunctionCallInfo fcinfo, CsOrderArgs *args, text *zone)
{
	if (args->zone != NULL)
		pfree(args->zone);
	args->zone = NULL;
	args->zone_id = 0;
	args->cached = false;
	if (zone == NULL)
		return;
	/* raises 22023 "time zone ... not recognized" for an unknown name */
	(void) DirectFunctionCall2(timestamptz_zone, PointerGetDatum(zone), TimestampTzGetDatum(0));
	args->zone = (text *) MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARSIZE_ANY(zone));
	memcpy(args->zone, zone, VARSIZE_ANY(zone));
	args->zone_id = zone_id_of(zone);
}

/*
 * The type of an argument: from the call's expression, or, when the caller
 * built the call without one (Citus's worker_partial_agg calls transition
 * functions so), from the function's declaration.
 */
Oid
cs_arg_type(FunctionCallInfo fcinfo, int argno)
{
	Oid			type = get_fn_expr_argtype(fcinfo->flinfo, argno);
	Oid		   *types;
	int			nargs;

	if (OidIsValid(type) || !OidIsValid(fcinfo->flinfo->fn_oid))
		return type;
	get_func_signature(fcinfo->flinfo->fn_oid, &types, &nargs);
	type = argno < nargs ? types[argno] : InvalidOid;
	pfree(types);
	return type;
}

CsOrderArgs *
cs_order_args(FunctionCallInfo fcinfo, int day_argno, int amount_argno, int zone_argno, const char *fname)
{
	CsOrderArgs *args = (CsOrderArgs *) fcinfo->flinfo->fn_extra;

	if (args == NULL)
	{
		args = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CsOrderArgs));
		args->day_type = cs_arg_type(fcinfo, day_argno);
		args->amount_type = cs_arg_type(fcinfo, amount_argno);
		if (args->day_type != DATEOID && args->day_type != TIMESTAMPTZOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s needs a date or timestamptz purchase time", fname)));
		if (args->amount_type != NUMERICOID && args->amount_type != FLOAT8OID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s needs a numeric or float8 amount", fname)));
		for (int k = 3; k < PG_NARGS() && k < 32; k++)
			if (cs_arg_varies(fcinfo, k))
				args->varying |= (uint32) 1 << k;
		args->zone_argno = zone_argno < PG_NARGS() ? zone_argno : -1;
		if (args->zone_argno >= 0 && !PG_ARGISNULL(zone_argno))
			set_order_zone(fcinfo, args, PG_GETARG_TEXT_PP(zone_argno));
		fcinfo->flinfo->fn_extra = args;
	}
	return args;
}

uint32
cs_order_zone(FunctionCallInfo fcinfo, CsOrderArgs *args)
{
	int			k = args->zone_argno;
	text	   *zone;

	if (k < 0 || !(args->varying & ((uint32) 1 << k)))
		return args->zone_id;
	zone = PG_ARGISNULL(k) ? NULL : PG_GETARG_TEXT_PP(k);
	if ((zone == NULL ? 0 : zone_id_of(zone)) != args->zone_id)
		set_order_zone(fcinfo, args, zone);
	return args->zone_id;
}

/* The local day of ts in the zone of args. */
static int32
local_day(CsOrderArgs *args, TimestampTz ts, const char *what)
{
	Timestamp	local;

	if (args->zone == NULL)
		return cs_day_of(TimestampTzGetDatum(ts), TIMESTAMPTZOID, what);
	check_finite_timestamp(ts, what);
	local = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone, PointerGetDatum(args->zone),
												  TimestampTzGetDatum(ts)));
	return DatumGetDateADT(DirectFunctionCall1(timestamp_date, TimestampGetDatum(local)));
}

/* The instant local midnight starts day in the zone of args. */
static TimestampTz
local_midnight(CsOrderArgs *args, int32 day)
{
	Datum		d = DateADTGetDatum(day);

	if (args->zone == NULL)
		return DatumGetTimestampTz(DirectFunctionCall1(date_timestamptz, d));
	return DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, PointerGetDatum(args->zone),
												   DirectFunctionCall1(date_timestamp, d)));
}

int32
cs_order_day(CsOrderArgs *args, Datum value, const char *what)
{
	TimestampTz ts;
	int32		day;

	if (args->day_type == DATEOID)
		return cs_day_of(value, DATEOID, what);
	ts = DatumGetTimestampTz(value);
	if (args->cached && ts >= args->day_start && ts < args->day_end)
		return args->cached_day;
	day = local_day(args, ts, what);
	args->cached = false;
	/* Near the ends of the timestamp range the day's bounds may not be timestamps: no cache there. */
	if (day - 2 <= DATETIME_MIN_JULIAN - POSTGRES_EPOCH_JDATE || day + 2 >= TIMESTAMP_END_JULIAN - POSTGRES_EPOCH_JDATE)
		return day;
	args->day_start = local_midnight(args, day);
	args->day_end = local_midnight(args, day + 1);
	args->cached_day = day;
	/* Only plain 24-hour days are cached: a day with a clock change is converted row by row. */
	args->cached = args->day_end - args->day_start == USECS_PER_DAY && ts >= args->day_start && ts < args->day_end;
	return day;
}

ArrayType *
cs_float8_array(const double *v, int n)
{
	return cs_float8_array_nulls(v, NULL, n);
}

ArrayType *
cs_float8_array_nulls(const double *v, const bool *nulls, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			dims[1] = {n},
				lbs[1] = {1};

	if (n == 0)
		return construct_empty_array(FLOAT8OID);
	for (int i = 0; i < n; i++)
		d[i] = Float8GetDatum(nulls != NULL && nulls[i] ? 0 : v[i]);
	return construct_md_array(d, (bool *) nulls, 1, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

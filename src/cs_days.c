/*
 * cs_days.c: the day of an order: a date as it is, a timestamptz in the business time zone of the call
 * (or the session's), with the day boundaries of the last zone day cached.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "cs_util.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

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

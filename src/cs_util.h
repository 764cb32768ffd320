/*
 * cs_util.h: helpers shared by the SQL-facing wrappers.
 */
#ifndef CS_UTIL_H
#define CS_UTIL_H

#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/array.h"
#include "cs_math.h"
#include "retention_math.h"

/* A one-dimensional float8[] of n values. */
extern ArrayType *cs_float8_array(const double *v, int n);
/* The same with NULL elements where nulls[i] (nulls may be NULL). */
extern ArrayType *cs_float8_array_nulls(const double *v, const bool *nulls, int n);

/* Memory context of the calling aggregate; refuses plain function calls. */
extern MemoryContext cs_agg_context(FunctionCallInfo fcinfo, const char *fname);

/* An allocator that pallocs in ctx, for the fmgr-free math. */
extern CsAllocator cs_allocator(MemoryContext ctx);

/* Rejects NaN and +/-Infinity with SQLSTATE 22023. */
static inline void
cs_check_finite(double value, const char *what)
{
	if (isnan(value) || isinf(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", what),
				 errdetail("Got %s.", isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity")),
				 errhint("Exclude such rows with a WHERE clause or fix the data.")));
}

/*
 * A computed result that is NaN or +/-Infinity becomes SQLSTATE 22003: the
 * extension never returns a non-finite number.
 */
static inline double
cs_finite_result(double value, const char *what, const char *hint)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of the range of double precision", what),
				 errhint("%s", hint)));
	return value;
}

/* Rejects an activity span longer than CS_MAX_ACTIVITY_PERIODS with SQLSTATE 54000. */
static inline void
cs_check_activity_length(int64 nbits, const char *what)
{
	if (nbits > CS_MAX_ACTIVITY_PERIODS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s spans " INT64_FORMAT " periods, more than the limit of %d", what, nbits,
						CS_MAX_ACTIVITY_PERIODS),
				 errdetail("The span runs from the first purchase period to the period of as_of."),
				 errhint("Use an as_of near the orders, or a coarser period ('week' or 'month').")));
}

/*
 * An argument that must be the same on every row of a group (as_of, a rate, a
 * knob) differed between rows or between the partial states of a parallel or
 * distributed plan: 22023.
 */
static inline void
cs_check_constant(bool same, const char *fname, const char *what)
{
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s %s must be the same for all rows of a group", fname, what),
				 errhint("Pass a constant, or group by it.")));
}

/*
 * Whether argument argno of an aggregate's transition function (0 is the
 * state) can change from row to row: it is not a constant or a parameter of
 * the query.
 */
extern bool cs_arg_varies(FunctionCallInfo fcinfo, int argno);

/* numeric or float8 Datum of type typid as a double; NaN/Infinity pass through. */
extern double cs_amount_to_double(Datum value, Oid typid);
/* The amount with its exact decimal when it is a short numeric (see cs_math.h). */
extern CsAmount cs_amount_of(Datum value, Oid typid);

/* A date, or the local date (session TimeZone) of a timestamptz; rejects infinities. */
extern int32 cs_day_of(Datum value, Oid typid, const char *what);

/*
 * Argument types of an aggregate over orders (purchase time, amount) and its
 * optional business time zone, looked up once per query, and the last local
 * day seen: orders tables are mostly in time order, so most rows fall in the
 * cached [day_start, day_end) and skip the time-zone conversion.
 */
typedef struct CsOrderArgs
{
	Oid			day_type;
	Oid			amount_type;
	int			zone_argno;		/* argument holding the zone, or -1 */
	text	   *zone;			/* zone the days are taken in; NULL = session TimeZone */
	uint32		zone_id;		/* 0 for the session TimeZone, else a hash of the zone name */
	bool		cached;
	int64		day_start;		/* TimestampTz bounds of cached_day */
	int64		day_end;
	int32		cached_day;
	uint32		varying;		/* bit k: argument k is not a query constant (cs_arg_varies), found once */
} CsOrderArgs;

/* The type of argument argno of the call (see cs_util.c). */
extern Oid	cs_arg_type(FunctionCallInfo fcinfo, int argno);

extern CsOrderArgs *cs_order_args(FunctionCallInfo fcinfo, int day_argno, int amount_argno, int zone_argno,
								  const char *fname);

/*
 * The zone of this row (0 = session TimeZone, else an id of the zone name),
 * switching args to it when the zone argument is not a query constant.  A
 * state records the id of its first row; every later row and every state it is
 * combined with must have the same id.
 */
extern uint32 cs_order_zone(FunctionCallInfo fcinfo, CsOrderArgs *args);

/* The day of an order time: a date as is, a timestamptz in the zone of args. */
extern int32 cs_order_day(CsOrderArgs *args, Datum value, const char *what);

#endif

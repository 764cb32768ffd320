/*
 * cs_util.h: helpers shared by the SQL-facing wrappers.
 */
#ifndef CS_UTIL_H
#define CS_UTIL_H

#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "rfm_math.h"

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

/* numeric or float8 Datum of type typid as a double; NaN/Infinity pass through. */
extern double cs_amount_to_double(Datum value, Oid typid);

/* A date, or the local date (session TimeZone) of a timestamptz; rejects infinities. */
extern int32 cs_day_of(Datum value, Oid typid, const char *what);

/*
 * Argument types of an aggregate over orders (purchase time, amount), looked
 * up once per query, and the last local day seen: orders tables are mostly in
 * time order, so most rows fall in the cached [day_start, day_end) and skip
 * the time-zone conversion.
 */
typedef struct CsOrderArgs
{
	Oid			day_type;
	Oid			amount_type;
	bool		cached;
	int64		day_start;		/* TimestampTz bounds of cached_day */
	int64		day_end;
	int32		cached_day;
} CsOrderArgs;

extern CsOrderArgs *cs_order_args(FunctionCallInfo fcinfo, int day_argno, int amount_argno, const char *fname);
extern int32 cs_order_day(CsOrderArgs *args, Datum value, const char *what);

#endif

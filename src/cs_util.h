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

#endif

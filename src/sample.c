/*
 * sample.c: deterministic random numbers for the sample-store generator.
 *
 * A value depends only on (key, seed), never on plan, worker or PostgreSQL
 * version, so the generated store is identical everywhere for one seed.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "cs_math.h"

/* Uniform on the open interval (0, 1). */
static double
uniform_of(uint64 key, int64 seed)
{
	uint64		h = cs_mix64(key + cs_mix64((uint64) seed + UINT64CONST(0x9e3779b97f4a7c15)));

	return ((double) (h >> 11) + 0.5) / 9007199254740992.0;
}

PG_FUNCTION_INFO_V1(sample_uniform);
Datum
sample_uniform(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(uniform_of((uint64) PG_GETARG_INT64(0), PG_GETARG_INT64(1)));
}

/* Standard normal by Box-Muller from the uniforms of keys 2k and 2k+1. */
PG_FUNCTION_INFO_V1(sample_normal);
Datum
sample_normal(PG_FUNCTION_ARGS)
{
	uint64		key = (uint64) PG_GETARG_INT64(0);
	int64		seed = PG_GETARG_INT64(1);
	double		u1 = uniform_of(key * 2, seed);
	double		u2 = uniform_of(key * 2 + 1, seed);

	PG_RETURN_FLOAT8(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

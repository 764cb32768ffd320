/*
 * score.c: score_breakpoints aggregate and score() (SQL glue around score_math.c).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "cs_util.h"
#include "rfm.h"
#include "miscadmin.h"
#include "score_math.h"
#include "state.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

typedef struct ScoreState
{
	int32		bins;
	int64		n;
	int64		cap;
	double	   *values;
} ScoreState;

/* 22023 unless 2 <= bins <= 100 (SCORE_MIN_BINS..SCORE_MAX_BINS); also rfm_scored.c's check. */
void
score_check_bins(int32 bins)
{
	if (bins < SCORE_MIN_BINS || bins > SCORE_MAX_BINS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("bins must be between %d and %d", SCORE_MIN_BINS, SCORE_MAX_BINS),
				 errdetail("Got %d.", bins),
				 errhint("RFM scores usually use 5 bins (quintiles).")));
}

static ScoreState *
score_state_new(MemoryContext ctx, int32 bins, int64 cap)
{
	ScoreState *st = MemoryContextAlloc(ctx, sizeof(ScoreState));

	st->bins = bins;
	st->n = 0;
	st->cap = Max(cap, 64);
	st->values = MemoryContextAllocHuge(ctx, sizeof(double) * st->cap);
	return st;
}

/* Grows the values in their own memory context (the state's). */
static void
score_state_reserve(ScoreState *st, int64 extra)
{
	if (st->n + extra <= st->cap)
		return;
	st->cap = Max(st->cap * 2, st->n + extra);
	st->values = repalloc_huge(st->values, sizeof(double) * st->cap);
}

/* The state as a value (type score_breakpoints_state): bins, then the values. */
static Size
score_flat_size(void *state)
{
	return sizeof(int64) + sizeof(double) * ((ScoreState *) state)->n;
}

static void
score_flatten(void *state, char *buf)
{
	ScoreState *st = state;
	int64		bins = st->bins;

	memcpy(buf, &bins, sizeof(int64));
	if (st->n > 0)
		memcpy(buf + sizeof(int64), st->values, sizeof(double) * st->n);
}

static void *
score_expand(const char *buf, Size len, MemoryContext ctx)
{
	int64		bins;
	int64		n;
	ScoreState *st;

	if (len < sizeof(int64) || (len - sizeof(int64)) % sizeof(double) != 0)
		return NULL;
	memcpy(&bins, buf, sizeof(int64));
	if (bins < SCORE_MIN_BINS || bins > SCORE_MAX_BINS)
		return NULL;
	n = (int64) ((len - sizeof(int64)) / sizeof(double));
	st = score_state_new(ctx, (int32) bins, n);
	if (n > 0)
		memcpy(st->values, buf + sizeof(int64), sizeof(double) * n);
	st->n = n;
	for (int64 i = 0; i < n; i++)
	{
		if ((i & 65535) == 65535)
			CHECK_FOR_INTERRUPTS();
		if (isnan(st->values[i]) || isinf(st->values[i]))
			return NULL;
	}
	return st;
}

static const CsStateKind score_kind = {"score_breakpoints", 0x31535053 /* "SPS1" */ , score_flat_size, score_flatten, score_expand};

CS_STATE_TYPE_FUNCTIONS(score_breakpoints, score_kind)

PG_FUNCTION_INFO_V1(score_breakpoints_trans);
Datum
score_breakpoints_trans(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &score_kind, "score_breakpoints_trans");
	ScoreState *st;
	int32		bins;
	double		value;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bins must not be NULL"),
				 errhint("RFM scores usually use 5 bins (quintiles).")));
	bins = PG_GETARG_INT32(2);
	if (ref.state == NULL)
	{
		score_check_bins(bins);
		cs_state_start(fcinfo, &ref, &score_kind);
		ref.state = score_state_new(ref.ctx, bins, 0);
	}
	st = ref.state;
	cs_check_constant(st->bins == bins, "score_breakpoints", "bins");
	if (!PG_ARGISNULL(1))
	{
		value = PG_GETARG_FLOAT8(1);
		cs_check_finite(value, "score_breakpoints value");
		score_state_reserve(st, 1);
		st->values[st->n++] = value;
	}
	return cs_state_datum(fcinfo, &ref);
}

PG_FUNCTION_INFO_V1(score_breakpoints_combine);
Datum
score_breakpoints_combine(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &score_kind, "score_breakpoints_combine");
	ScoreState *dst;
	ScoreState *src = cs_state_read(fcinfo, 1, &score_kind);

	if (src == NULL)
		return cs_state_datum(fcinfo, &ref);
	if (ref.state == NULL)
	{
		cs_state_start(fcinfo, &ref, &score_kind);
		ref.state = score_state_new(ref.ctx, src->bins, src->n);
	}
	dst = ref.state;
	cs_check_constant(dst->bins == src->bins, "score_breakpoints", "bins");
	score_state_reserve(dst, src->n);
	if (src->n > 0)
		memcpy(dst->values + dst->n, src->values, sizeof(double) * src->n);
	dst->n += src->n;
	return cs_state_datum(fcinfo, &ref);
}

PG_FUNCTION_INFO_V1(score_breakpoints_final);
Datum
score_breakpoints_final(PG_FUNCTION_ARGS)
{
	ScoreState *st = cs_state_read(fcinfo, 0, &score_kind);
	Datum	   *elems;
	double	   *breaks;

	if (st == NULL || st->n == 0)
		PG_RETURN_NULL();

	/* Selection reorders the state but keeps its multiset: read-only in effect. */
	breaks = palloc(sizeof(double) * (st->bins - 1));
	score_breakpoints(st->values, st->n, st->bins, breaks);
	elems = palloc(sizeof(Datum) * (st->bins - 1));
	for (int i = 0; i < st->bins - 1; i++)
		elems[i] = Float8GetDatum(breaks[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, st->bins - 1, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* The breakpoints of a float8[] argument, validated. */
static double *
breakpoints_arg(ArrayType *arr, int *nbreaks)
{
	int			invalid;
	double	   *breaks;

	if (ARR_NDIM(arr) != 1 || ARR_HASNULL(arr) || ARR_ELEMTYPE(arr) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("breakpoints must be a one-dimensional float8 array without NULLs")));
	*nbreaks = ARR_DIMS(arr)[0];
	if (*nbreaks < SCORE_MIN_BINS - 1 || *nbreaks > SCORE_MAX_BINS - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("breakpoints must have between %d and %d elements", SCORE_MIN_BINS - 1, SCORE_MAX_BINS - 1),
				 errdetail("Got %d; the number of bins is one more than the number of breakpoints.", *nbreaks)));
	breaks = (double *) ARR_DATA_PTR(arr);
	invalid = score_breakpoints_invalid(breaks, *nbreaks);
	if (invalid >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("breakpoints must be finite and in non-decreasing order"),
				 errdetail("Element %d is %g.", invalid + 1, breaks[invalid]),
				 errhint("Sort the thresholds ascending, e.g. ARRAY[10, 50, 100, 500].")));
	return breaks;
}

PG_FUNCTION_INFO_V1(score_value);
Datum
score_value(PG_FUNCTION_ARGS)
{
	double		value = PG_GETARG_FLOAT8(0);
	int			nbreaks;
	double	   *breaks = breakpoints_arg(PG_GETARG_ARRAYTYPE_P(1), &nbreaks);

	cs_check_finite(value, "score value");
	PG_RETURN_INT32(score_of(value, breaks, nbreaks, PG_GETARG_BOOL(2)));
}

static void
check_score(int32 score, const char *what)
{
	if (score < 1 || score > SCORE_MAX_BINS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s score must be between 1 and %d", what, SCORE_MAX_BINS),
				 errdetail("Got %d.", score)));
}

/* rescale_score(score, bins): a score on 1..bins on the segment rules' 1..5 scale (score_rescale5). */
PG_FUNCTION_INFO_V1(rescale_score);
Datum
rescale_score(PG_FUNCTION_ARGS)
{
	int32		score = PG_GETARG_INT32(0);
	int32		bins = PG_GETARG_INT32(1);

	score_check_bins(bins);
	if (score < 1 || score > bins)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("score must be between 1 and bins (%d)", bins),
				 errdetail("Got %d.", score)));
	PG_RETURN_INT32(score_rescale5(score, bins));
}

/* '545' when every score is a single digit, '10-5-4' otherwise. */
PG_FUNCTION_INFO_V1(rfm_cell);
Datum
rfm_cell(PG_FUNCTION_ARGS)
{
	int32		r = PG_GETARG_INT32(0);
	int32		f = PG_GETARG_INT32(1);
	int32		m = PG_GETARG_INT32(2);
	char		cell[SCORE_CELL_LEN];
	int			len;

	check_score(r, "R");
	check_score(f, "F");
	check_score(m, "M");
	len = score_cell_label(r, f, m, cell);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(cell, len));
}

/* (w_r*r + w_f*f + w_m*m) / (w_r + w_f + w_m) */
PG_FUNCTION_INFO_V1(rfm_weighted_score);
Datum
rfm_weighted_score(PG_FUNCTION_ARGS)
{
	const char *names[3] = {"R", "F", "M"};
	int			scores[3];
	double		weights[3];
	double		wmax = 0;

	for (int i = 0; i < 3; i++)
	{
		scores[i] = PG_GETARG_INT32(i);
		weights[i] = PG_GETARG_FLOAT8(i + 3);
		check_score(scores[i], names[i]);
		cs_check_finite(weights[i], "rfm_weighted_score weight");
		if (weights[i] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("rfm_weighted_score weights must not be negative"),
					 errdetail("The %s weight is %g.", names[i], weights[i])));
		wmax = Max(wmax, weights[i]);
	}
	if (wmax <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rfm_weighted_score weights must not all be zero"),
				 errhint("Use e.g. weights 1, 1, 1 for the plain mean.")));
	PG_RETURN_FLOAT8(score_weighted_mean(scores, weights));
}

/* (f + m) / 2 */
PG_FUNCTION_INFO_V1(fm_score);
Datum
fm_score(PG_FUNCTION_ARGS)
{
	int32		f = PG_GETARG_INT32(0);
	int32		m = PG_GETARG_INT32(1);

	check_score(f, "F");
	check_score(m, "M");
	PG_RETURN_FLOAT8((f + m) / 2.0);
}

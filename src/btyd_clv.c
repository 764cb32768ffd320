/*
 * btyd_clv.c: the discounted CLV of the purchase models (SQL glue around the models' expectations).
 *
 * <model>_clv(model, frequency, recency, t, spend, months, monthly_discount, periods_per_month, margin):
 * sum over months i of the expected purchases in month i * spend * margin / (1 + monthly_discount)^i, as
 * lifetimes computes it.
 *
 * BG/NBD and MBG/NBD split the expectation in two factors, E[X(t)] = H(x, T, t) / D(x, t_x, T), and the
 * months' H depend on (x, T) only, which many customers share (33,752 pairs among the 182,391 customers of
 * the 200,000-customer sample store).  A call site keeps them, for one model and one month length, so each
 * pair's hypergeometric series are summed once: the same operations as without the cache, so the same
 * result to the bit.
 */
#include "postgres.h"

#include <math.h>

#include "btyd_glue.h"
#include "btyd_math.h"
#include "cs_util.h"
#include "fmgr.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

typedef double (*HorizonFn) (const double *p, double t, double x, double tx, double T);

/* At most this many months' terms kept per call site (8 MB), then the cache starts again. */
#define HORIZON_CACHE_TERMS (1 << 20)

typedef struct HorizonKey
{
	double		x;
	double		T;
} HorizonKey;

typedef struct HorizonEntry
{
	HorizonKey	key;
	double	   *h;				/* H(x, T, i * per_month), i = 1..months */
} HorizonEntry;

typedef struct HorizonCache
{
	double		p[4];
	double		per_month;
	int32		months;
	int			shift;
	MemoryContext ctx;
	HTAB	   *terms;
} HorizonCache;

/* H(x, T, i * per_month) for i = 1..months of a BG/NBD (shift 0) or MBG/NBD (shift 1) model, from the cache. */
static const double *
bg_horizons(FunctionCallInfo fcinfo, const double *p, double x, double T, int32 months, double per_month, int shift)
{
	HorizonCache *c = fcinfo->flinfo->fn_extra;
	HorizonKey	key;
	HorizonEntry *e;
	double	   *h;

	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(HorizonCache));
		c->ctx = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "CLV horizons", ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	if (c->terms == NULL || memcmp(c->p, p, sizeof(c->p)) != 0 || c->per_month != per_month ||
		c->months != months || c->shift != shift ||
		hash_get_num_entries(c->terms) >= HORIZON_CACHE_TERMS / Max(months, 1))
	{
		HASHCTL		ctl;

		MemoryContextReset(c->ctx);
		memcpy(c->p, p, sizeof(c->p));
		c->per_month = per_month;
		c->months = months;
		c->shift = shift;
		ctl.keysize = sizeof(HorizonKey);
		ctl.entrysize = sizeof(HorizonEntry);
		ctl.hcxt = c->ctx;
		c->terms = hash_create("CLV horizons", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.x = x;
	key.T = T;
	e = hash_search(c->terms, &key, HASH_FIND, NULL);
	if (e != NULL)
		return e->h;
	/* computed before it is entered: an error or a cancel midway leaves no half-filled entry */
	h = MemoryContextAlloc(c->ctx, sizeof(double) * Max(months, 1));
	for (int i = 1; i <= months; i++)
	{
		cs_check_interrupts();
		h[i - 1] = bgnbd_horizon(p, i * per_month, x, T, shift);
	}
	e = hash_search(c->terms, &key, HASH_ENTER, NULL);
	e->h = h;
	return h;
}

/* The CLV; bg_shift >= 0: a BG/NBD-family model whose months' horizons come from bg_horizons. */
static Datum
discounted_clv(FunctionCallInfo fcinfo, HorizonFn expected, int bg_shift)
{
	double		p[4];
	double		x = PG_GETARG_FLOAT8(1),
				tx = PG_GETARG_FLOAT8(2),
				T = PG_GETARG_FLOAT8(3),
				spend = PG_GETARG_FLOAT8(4),
				d = PG_GETARG_FLOAT8(6),
				per_month = PG_GETARG_FLOAT8(7),
				margin = PG_GETARG_FLOAT8(8),
				clv = 0,
				prev = 0,
				divisor = 0;
	int32		months = PG_GETARG_INT32(5);
	const double *h = NULL;

	btyd_model_params(fcinfo, 0, 4, p);
	tx = btyd_observed_recency(x, tx, T);
	cs_check_finite(spend, "spend");
	cs_check_finite(d, "monthly_discount");
	cs_check_finite(per_month, "periods_per_month");
	cs_check_finite(margin, "margin");
	if (months < 0 || months > 1200 || d <= -1 || per_month <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("months must be 0..1200, monthly_discount > -1 and periods_per_month > 0"),
				 errhint("periods_per_month is 30 for frequency/recency/T in days, 4.345 in weeks, 1 in months.")));
	if (bg_shift >= 0)
	{
		h = bg_horizons(fcinfo, p, x, T, months, per_month, bg_shift);
		divisor = bgnbd_alive_divisor(p, x, tx, T, bg_shift);
	}
	for (int i = 1; i <= months; i++)
	{
		double		cum;

		cs_check_interrupts();
		cum = btyd_defined_result(h != NULL ? h[i - 1] / divisor : expected(p, i * per_month, x, tx, T),
								  "the expected number of purchases");

		clv += spend * margin * (cum - prev) / pow(1 + d, i);
		prev = cum;
	}
	PG_RETURN_FLOAT8(btyd_defined_result(clv, "CLV"));
}

PG_FUNCTION_INFO_V1(bgnbd_clv_sql);
Datum
bgnbd_clv_sql(PG_FUNCTION_ARGS)
{
	return discounted_clv(fcinfo, bgnbd_expected, 0);
}

/* bgbb_clv(model, frequency, recency, n_periods, spend, ...): discounted_clv of a checked BG/BB history. */
PG_FUNCTION_INFO_V1(bgbb_clv_sql);
Datum
bgbb_clv_sql(PG_FUNCTION_ARGS)
{
	bgbb_check_history(PG_GETARG_FLOAT8(1), PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3));
	return discounted_clv(fcinfo, bgbb_expected, -1);
}

PG_FUNCTION_INFO_V1(mbgnbd_clv_sql);
Datum
mbgnbd_clv_sql(PG_FUNCTION_ARGS)
{
	return discounted_clv(fcinfo, mbgnbd_expected, 1);
}

PG_FUNCTION_INFO_V1(pnbd_clv_sql);
Datum
pnbd_clv_sql(PG_FUNCTION_ARGS)
{
	return discounted_clv(fcinfo, pnbd_expected, -1);
}

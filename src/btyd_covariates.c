/*
 * btyd_covariates.c: the BG/NBD, Pareto/NBD and Gamma-Gamma fits with
 * time-invariant customer covariates (SQL glue around covariate_math.c).
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "btyd_glue.h"
#include "covariate_math.h"
#include "cs_util.h"
#include "state.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

typedef struct CovState
{
	CovRows		rows;			/* kp = kd = -1 until a row tells them */
	double		penalizer;
	int64		skipped;		/* rows with a NULL (or, for spend, without repeat purchases) */
} CovState;

/*
 * The state as a value (type btyd_covariate_fit_state): penalizer, skipped
 * rows, the number of rows, the covariates per block, then the compacted
 * rows (covariates, frequency, recency or spend, T, weight).
 */
#define COV_HEADER (sizeof(double) + 2 * sizeof(int64) + 2 * sizeof(int32))

static Size
cov_flat_size(void *state)
{
	CovState   *st = state;

	if (st->rows.kp < 0)
		return COV_HEADER;
	cov_rows_compact(&st->rows);
	return COV_HEADER + sizeof(double) * cov_rows_width(&st->rows) * st->rows.n;
}

static void
cov_flatten(void *state, char *buf)
{
	CovState   *st = state;
	int32		k[2] = {st->rows.kp, st->rows.kd};

	memcpy(buf, &st->penalizer, sizeof(double));
	memcpy(buf + sizeof(double), &st->skipped, sizeof(int64));
	memcpy(buf + sizeof(double) + sizeof(int64), &st->rows.n, sizeof(int64));
	memcpy(buf + sizeof(double) + 2 * sizeof(int64), k, sizeof(k));
	if (st->rows.n > 0)
		memcpy(buf + COV_HEADER, st->rows.data, sizeof(double) * cov_rows_width(&st->rows) * st->rows.n);
}

static void *
cov_expand(const char *buf, Size len, MemoryContext ctx)
{
	CovState   *st = MemoryContextAllocZero(ctx, sizeof(CovState));
	int32		k[2];
	int64		n;
	int			width;

	if (len < COV_HEADER)
		return NULL;
	memcpy(&st->penalizer, buf, sizeof(double));
	memcpy(&st->skipped, buf + sizeof(double), sizeof(int64));
	memcpy(&n, buf + sizeof(double) + sizeof(int64), sizeof(int64));
	memcpy(k, buf + sizeof(double) + 2 * sizeof(int64), sizeof(k));
	if (st->skipped < 0 || !(st->penalizer >= 0 && st->penalizer < HUGE_VAL) || n < 0
		|| k[0] < -1 || k[0] > COV_MAX_COVARIATES || k[1] < -1 || k[1] > COV_MAX_COVARIATES
		|| (k[0] < 0) != (k[1] < 0) || (k[0] < 0 && n > 0))
		return NULL;
	st->rows.kp = k[0];
	st->rows.kd = k[1];
	width = k[0] < 0 ? 0 : cov_rows_width(&st->rows);
	if (len != COV_HEADER + sizeof(double) * width * (Size) n)
		return NULL;
	st->rows.n = st->rows.cap = n;
	st->rows.data = MemoryContextAllocHuge(ctx, sizeof(double) * Max(width * n, 1));
	if (n > 0)
		memcpy(st->rows.data, buf + COV_HEADER, sizeof(double) * width * n);
	for (int64 i = 0; i < n * width; i++)
	{
		int			col = i % width;
		double		v = st->rows.data[i];

		if ((i & 65535) == 65535)
			CHECK_FOR_INTERRUPTS();
		/* finite covariates; frequency 0..1e9, recency (or spend) and T >= 0, weight > 0 */
		if (!isfinite(v) || (col >= width - 4 && v < 0) || (col == width - 4 && v > 1e9) || (col == width - 1 && v == 0))
			return NULL;
	}
	return st;
}

static const CsStateKind cov_kind = {"BTYD covariate fit", 0x31564342 /* "BCV1" */ , cov_flat_size, cov_flatten, cov_expand};

CS_STATE_TYPE_FUNCTIONS(btyd_covariate_fit, cov_kind)

static CovState *
cov_state_new(FunctionCallInfo fcinfo, CsStateRef *ref, double penalizer)
{
	CovState   *st;

	cs_state_start(fcinfo, ref, &cov_kind);
	st = MemoryContextAllocZero(ref->ctx, sizeof(CovState));
	st->penalizer = penalizer;
	st->rows.kp = st->rows.kd = -1;
	ref->state = st;
	return st;
}

static CovState *
cov_state(FunctionCallInfo fcinfo, CsStateRef *ref, int penalizer_argno)
{
	CovState   *st = ref->state;

	if (st == NULL)
		return cov_state_new(fcinfo, ref, btyd_penalizer_arg(fcinfo, penalizer_argno));
	if (cs_arg_varies(fcinfo, penalizer_argno))
		cs_check_constant(st->penalizer == btyd_penalizer_arg(fcinfo, penalizer_argno), "the fit", "penalizer");
	return st;
}

/*
 * The covariate array in argument argno into z (false for an SQL NULL): one
 * dimension, at most COV_MAX_COVARIATES finite elements, none NULL.
 */
static bool
covariates_arg(FunctionCallInfo fcinfo, int argno, const char *what, double *z, int *k)
{
	ArrayType  *arr;
	int			n;

	if (PG_ARGISNULL(argno))
		return false;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	if (n > COV_MAX_COVARIATES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s may hold at most %d covariates", what, COV_MAX_COVARIATES),
				 errdetail("Got %d.", n)));
	if (ARR_HASNULL(arr) && array_contains_nulls(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL", what),
				 errhint("Use NULL for the whole array to skip the customer, or fill in a value (coalesce).")));
	memcpy(z, ARR_DATA_PTR(arr), sizeof(double) * n);
	for (int j = 0; j < n; j++)
		cs_check_finite(z[j], what);
	*k = n;
	return true;
}

/* The number of covariates of a block: the same on every row (and state). */
static void
check_covariate_count(int *have, int got, const char *what)
{
	if (*have < 0)
		*have = got;
	else if (*have != got)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have the same number of elements on every row", what),
				 errdetail("Got %d after %d.", got, *have)));
}

/* bgnbd_covariate_fit(frequency, recency, t, purchase_covariates, dropout_covariates [, penalizer]), Pareto/NBD too */
PG_FUNCTION_INFO_V1(bgnbd_cov_fit_trans);
Datum
bgnbd_cov_fit_trans(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &cov_kind, "bgnbd_cov_fit_trans");
	CovState   *st = cov_state(fcinfo, &ref, 6);
	CsAllocator alloc = cs_allocator(ref.ctx);
	double		z[2 * COV_MAX_COVARIATES];
	int			kp,
				kd;
	double		x,
				tx,
				T;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3)
		|| !covariates_arg(fcinfo, 4, "purchase_covariates", z, &kp)
		|| !covariates_arg(fcinfo, 5, "dropout_covariates", z + kp, &kd))
	{
		st->skipped++;
		return cs_state_datum(fcinfo, &ref);
	}
	check_covariate_count(&st->rows.kp, kp, "purchase_covariates");
	check_covariate_count(&st->rows.kd, kd, "dropout_covariates");
	x = PG_GETARG_FLOAT8(1);
	tx = PG_GETARG_FLOAT8(2);
	T = PG_GETARG_FLOAT8(3);
	cov_rows_add(&st->rows, z, x, btyd_observed_recency(x, tx, T), T, 1, &alloc);
	return cs_state_datum(fcinfo, &ref);
}

/* gamma_gamma_covariate_fit(frequency, monetary_value, covariates [, penalizer]): repeat customers only. */
PG_FUNCTION_INFO_V1(gg_cov_fit_trans);
Datum
gg_cov_fit_trans(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &cov_kind, "gg_cov_fit_trans");
	CovState   *st = cov_state(fcinfo, &ref, 4);
	CsAllocator alloc = cs_allocator(ref.ctx);
	double		z[COV_MAX_COVARIATES];
	int			k;
	double		x,
				m;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || !covariates_arg(fcinfo, 3, "covariates", z, &k))
	{
		st->skipped++;
		return cs_state_datum(fcinfo, &ref);
	}
	check_covariate_count(&st->rows.kp, k, "covariates");
	st->rows.kd = 0;
	x = PG_GETARG_FLOAT8(1);
	m = PG_GETARG_FLOAT8(2);
	if (!btyd_spend_row(x, m))
	{
		st->skipped++;
		return cs_state_datum(fcinfo, &ref);
	}
	cov_rows_add(&st->rows, z, x, m, 0, 1, &alloc);
	return cs_state_datum(fcinfo, &ref);
}

PG_FUNCTION_INFO_V1(btyd_covariate_fit_combine);
Datum
btyd_covariate_fit_combine(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &cov_kind, "btyd_covariate_fit_combine");
	CovState   *src = cs_state_read(fcinfo, 1, &cov_kind);
	CovState   *dst;
	CsAllocator alloc;
	int			k,
				width;

	if (src == NULL)
		return cs_state_datum(fcinfo, &ref);
	dst = ref.state != NULL ? ref.state : cov_state_new(fcinfo, &ref, src->penalizer);
	cs_check_constant(dst->penalizer == src->penalizer, "the fit", "penalizer");
	dst->skipped += src->skipped;
	if (src->rows.kp < 0)
		return cs_state_datum(fcinfo, &ref);
	check_covariate_count(&dst->rows.kp, src->rows.kp, "the purchase (or spend) covariates");
	check_covariate_count(&dst->rows.kd, src->rows.kd, "the dropout covariates");
	alloc = cs_allocator(ref.ctx);
	k = src->rows.kp + src->rows.kd;
	width = cov_rows_width(&src->rows);
	for (int64 i = 0; i < src->rows.n; i++)
	{
		const double *r = src->rows.data + i * width;

		if ((i & 65535) == 65535)
			CHECK_FOR_INTERRUPTS();
		cov_rows_add(&dst->rows, r, r[k], r[k + 1], r[k + 2], r[k + 3], &alloc);
	}
	return cs_state_datum(fcinfo, &ref);
}

static const char *const cov_model_names[] = {"BG/NBD with covariates", "Pareto/NBD with covariates",
"Gamma-Gamma with covariates"};

/* Fits the model of argument 0's state into out; NULL when it holds no customer. */
static CovState *
run_cov_fit(FunctionCallInfo fcinfo, CovModelKind kind, bool covariance, CovFit *out, double *customers_out)
{
	CovState   *st = cs_state_read(fcinfo, 0, &cov_kind);
	const char *name = cov_model_names[kind];
	double		customers = 0;
	bool		any_repeat = false;
	int			width,
				k;
	CsAllocator alloc = cs_allocator(CurrentMemoryContext);

	if (st == NULL || st->rows.kp < 0 || st->rows.n == 0)
		return NULL;
	cov_rows_compact(&st->rows);
	width = cov_rows_width(&st->rows);
	k = st->rows.kp + st->rows.kd;
	for (int64 i = 0; i < st->rows.n; i++)
	{
		customers += st->rows.data[i * width + k + 3];
		any_repeat |= st->rows.data[i * width + k] > 0;
	}
	btyd_check_fit_input(name, customers, any_repeat, kind == COV_GG);
	cov_fit(kind, &st->rows, st->penalizer, covariance, &alloc, out);
	btyd_report_fit(name, &out->fit, out->n);
	for (int i = cov_base_model(kind)->n_params; i < out->n; i++)
		if (out->fixed[i])
		{
			ereport(NOTICE,
					(errmsg("a covariate of the %s fit is the same for every customer: its coefficient is 0, not estimated",
							name),
					 errdetail("Its effect cannot be told apart from the base parameter it scales."),
					 errhint("Drop the covariate, or check the data that builds it.")));
			break;
		}
	*customers_out = customers;
	return st;
}

/* The coefficient blocks' lengths of a model, in result order. */
static int
cov_blocks(CovModelKind kind, int kp, int kd, int *sizes)
{
	if (kind == COV_BGNBD)
	{
		sizes[0] = kp;
		sizes[1] = sizes[2] = kd;
		return 3;
	}
	sizes[0] = kp;
	sizes[1] = kd;
	return kind == COV_PNBD ? 2 : 1;
}

/* Model composite: base parameters, coefficient arrays, log_likelihood, customers, distinct_rows, iterations, converged. */
static Datum
cov_fit_final(FunctionCallInfo fcinfo, CovModelKind kind)
{
	CovFit		fit;
	double		customers;
	CovState   *st = run_cov_fit(fcinfo, kind, false, &fit, &customers);
	int			n_base = cov_base_model(kind)->n_params;
	int			sizes[3],
				blocks,
				at,
				i = 0;
	TupleDesc	desc;
	Datum		values[12];
	bool		nulls[12] = {0};

	if (st == NULL)
		PG_RETURN_NULL();
	blocks = cov_blocks(kind, st->rows.kp, st->rows.kd, sizes);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != n_base + blocks + 5)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("unexpected result type of a BTYD covariate fit")));
	desc = BlessTupleDesc(desc);
	for (; i < n_base; i++)
		values[i] = Float8GetDatum(fit.fit.params[i]);
	at = n_base;
	for (int b = 0; b < blocks; b++)
	{
		values[i++] = PointerGetDatum(cs_float8_array(fit.fit.params + at, sizes[b]));
		at += sizes[b];
	}
	values[i++] = Float8GetDatum(fit.fit.loglik);
	values[i++] = Int64GetDatum((int64) customers);
	values[i++] = Int64GetDatum(st->rows.n);
	values[i++] = Int32GetDatum(fit.fit.iterations);
	values[i++] = BoolGetDatum(fit.fit.converged);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

static Datum
cov_uncertainty_final(FunctionCallInfo fcinfo, CovModelKind kind)
{
	static const char *const block_names[3][3] = {
		{"purchase_coefficients", "dropout_coefficients_a", "dropout_coefficients_b"},
		{"purchase_coefficients", "dropout_coefficients"},
		{"spend_coefficients"}};
	CovFit		fit;
	double		customers;
	CovState   *st = run_cov_fit(fcinfo, kind, true, &fit, &customers);
	int			n_base = cov_base_model(kind)->n_params;
	int			sizes[3],
				blocks,
				at;
	const char *names[BTYD_MAX_PARAMS];
	BtydUncertainty u;

	if (st == NULL)
		PG_RETURN_NULL();
	blocks = cov_blocks(kind, st->rows.kp, st->rows.kd, sizes);
	for (int i = 0; i < n_base; i++)
		names[i] = cov_base_model(kind)->names[i];
	at = n_base;
	for (int b = 0; b < blocks; b++)
		for (int j = 0; j < sizes[b]; j++)
			names[at++] = psprintf("%s[%d]", block_names[kind][b], j + 1);
	u.n = fit.n;
	u.n_log = n_base;
	u.names = names;
	u.fit = &fit.fit;
	u.cov = fit.cov;
	u.has_cov = fit.has_cov;
	u.fixed = fit.fixed;
	u.customers = customers;
	return btyd_uncertainty_datum(fcinfo, &u);
}

PG_FUNCTION_INFO_V1(bgnbd_cov_fit_final);
Datum
bgnbd_cov_fit_final(PG_FUNCTION_ARGS)
{
	return cov_fit_final(fcinfo, COV_BGNBD);
}

PG_FUNCTION_INFO_V1(pnbd_cov_fit_final);
Datum
pnbd_cov_fit_final(PG_FUNCTION_ARGS)
{
	return cov_fit_final(fcinfo, COV_PNBD);
}

PG_FUNCTION_INFO_V1(gg_cov_fit_final);
Datum
gg_cov_fit_final(PG_FUNCTION_ARGS)
{
	return cov_fit_final(fcinfo, COV_GG);
}

PG_FUNCTION_INFO_V1(bgnbd_cov_uncertainty_final);
Datum
bgnbd_cov_uncertainty_final(PG_FUNCTION_ARGS)
{
	return cov_uncertainty_final(fcinfo, COV_BGNBD);
}

PG_FUNCTION_INFO_V1(pnbd_cov_uncertainty_final);
Datum
pnbd_cov_uncertainty_final(PG_FUNCTION_ARGS)
{
	return cov_uncertainty_final(fcinfo, COV_PNBD);
}

PG_FUNCTION_INFO_V1(gg_cov_uncertainty_final);
Datum
gg_cov_uncertainty_final(PG_FUNCTION_ARGS)
{
	return cov_uncertainty_final(fcinfo, COV_GG);
}

/*
 * covariate_scale(coefficients, covariates) = exp(sum coefficients[j] *
 * covariates[j]): the factor by which a customer's covariates scale a base
 * parameter; both arrays of one length, no NULL, finite.
 */
PG_FUNCTION_INFO_V1(covariate_scale);
Datum
covariate_scale(PG_FUNCTION_ARGS)
{
	double		g[COV_MAX_COVARIATES],
				z[COV_MAX_COVARIATES],
				dot = 0;
	int			kg,
				kz;

	if (!covariates_arg(fcinfo, 0, "coefficients", g, &kg) || !covariates_arg(fcinfo, 1, "covariates", z, &kz))
		PG_RETURN_NULL();
	if (kg != kz)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the customer's covariates must be as many as the model's coefficients"),
				 errdetail("Got %d covariates for %d coefficients.", kz, kg),
				 errhint("Pass the covariates in the order and number the model was fitted with.")));
	for (int j = 0; j < kg; j++)
		dot += g[j] * z[j];
	PG_RETURN_FLOAT8(cs_finite_result(exp(dot), "a covariate scale", "Look for extreme covariate values."));
}

/*
 * kmeans.c: SQL glue for k-means: the kmeans_fit and kmeans_scan aggregates
 * (one state: the points and the transform's statistics); kmeans_assign and
 * kmeans_distance are in kmeans_assign.c.  The math is in kmeans_math.c.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "cs_util.h"
#include "miscadmin.h"
#include "kmeans_glue.h"
#include "kmeans_math.h"
#include "state.h"

typedef struct KmState
{
	int			k_min;
	int			k_max;
	int64		seed;
	KmeansTransform transform;
	int64		skipped;
	KmeansPoints points;		/* dims 0 until the first row */
} KmState;

/* Largest transformed feature: k-means sums squares of differences over points and dimensions. */
#define KM_MAX_FEATURE 1e100

static const char *const transform_names[] = {"none", "zscore", "minmax", "log1p", "log1p+zscore", "log1p+minmax"};

KmeansTransform
kmeans_parse_transform(text *t)
{
	char	   *s = text_to_cstring(t);

	for (int i = 0; i < (int) lengthof(transform_names); i++)
		if (strcmp(s, transform_names[i]) == 0)
			return (KmeansTransform) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown k-means transform \"%s\"", s),
			 errhint("Use none, zscore, minmax, log1p, log1p+zscore or log1p+minmax.")));
	return KM_NONE;
}

static void
check_k(int k, const char *what)
{
	if (k < 1 || k > KMEANS_MAX_K)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between 1 and %d", what, KMEANS_MAX_K),
				 errdetail("Got %d.", k)));
}

/* A feature vector: a one-dimensional float8 array of 1..KMEANS_MAX_DIMS finite values, no NULLs. */
int
kmeans_feature_values(ArrayType *a, double *out)
{
	int			n;

	if (ARR_NDIM(a) > 1 || ARR_ELEMTYPE(a) != FLOAT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k-means features must be a one-dimensional float8 array")));
	n = ARR_NDIM(a) == 0 ? 0 : ARR_DIMS(a)[0];
	if (n < 1 || n > KMEANS_MAX_DIMS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k-means features must have 1 to %d values", KMEANS_MAX_DIMS),
				 errdetail("Got %d.", n)));
	if (ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k-means features must not contain NULL"),
				 errhint("Exclude such rows, or fill the values in (coalesce).")));
	memcpy(out, ARR_DATA_PTR(a), sizeof(double) * n);
	for (int j = 0; j < n; j++)
		cs_check_finite(out[j], "every k-means feature");
	return n;
}

/* log1p of every value for the log transforms; a value <= -1 has none. */
void
kmeans_apply_log(KmeansTransform t, double *x, int dims)
{
	if (!kmeans_transform_uses_log(t))
		return;
	for (int j = 0; j < dims; j++)
	{
		if (x[j] <= -1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the log1p transform needs features greater than -1"),
					 errdetail("Got %g.", x[j])));
		x[j] = log1p(x[j]);
	}
}

/* The state as a value (type kmeans_state): the KmState header (pointers cleared), then x, w and priority. */
static Size
km_flat_size(void *state)
{
	KmState    *st = state;

	return sizeof(KmState) + sizeof(double) * st->points.n * (st->points.dims + 2);
}

static void
km_flatten(void *state, char *buf)
{
	KmState    *st = state;
	KmState		head = *st;
	int64		n = st->points.n;

	head.points.x = head.points.w = head.points.priority = NULL;
	head.points.cap = n;
	memcpy(buf, &head, sizeof(KmState));
	buf += sizeof(KmState);
	if (n > 0)
	{
		memcpy(buf, st->points.x, sizeof(double) * n * st->points.dims);
		buf += sizeof(double) * n * st->points.dims;
		memcpy(buf, st->points.w, sizeof(double) * n);
		buf += sizeof(double) * n;
		memcpy(buf, st->points.priority, sizeof(double) * n);
	}
}

static void *
km_expand(const char *buf, Size len, MemoryContext ctx)
{
	KmState    *st = MemoryContextAllocZero(ctx, sizeof(KmState));
	int64		n;
	int			dims;

	if (len < sizeof(KmState))
		return NULL;
	memcpy(st, buf, sizeof(KmState));
	buf += sizeof(KmState);
	n = st->points.n;
	dims = st->points.dims;
	if (n < 0 || dims < 0 || dims > KMEANS_MAX_DIMS || len != sizeof(KmState) + sizeof(double) * n * (dims + 2)
		|| (n > 0 && dims == 0) || st->k_min < 1 || st->k_max > KMEANS_MAX_K || st->k_max < st->k_min
		|| (int) st->transform < 0 || (int) st->transform >= (int) lengthof(transform_names) || st->skipped < 0)
		return NULL;
	st->points.cap = Max(n, 1);
	st->points.x = MemoryContextAllocHuge(ctx, sizeof(double) * st->points.cap * Max(dims, 1));
	st->points.w = MemoryContextAllocHuge(ctx, sizeof(double) * st->points.cap);
	st->points.priority = MemoryContextAllocHuge(ctx, sizeof(double) * st->points.cap);
	if (n > 0)
	{
		memcpy(st->points.x, buf, sizeof(double) * n * dims);
		buf += sizeof(double) * n * dims;
		memcpy(st->points.w, buf, sizeof(double) * n);
		buf += sizeof(double) * n;
		memcpy(st->points.priority, buf, sizeof(double) * n);
	}
	for (int64 i = 0; i < n; i++)
	{
		if ((i & 65535) == 65535)
			CHECK_FOR_INTERRUPTS();
		if (!(st->points.w[i] > 0 && st->points.w[i] < HUGE_VAL))
			return NULL;
		for (int j = 0; j < dims; j++)
			if (isnan(st->points.x[i * dims + j]) || isinf(st->points.x[i * dims + j]))
				return NULL;
	}
	return st;
}

static const CsStateKind km_kind = {"k-means", 0x31534d4b /* "KMS1" */ , km_flat_size, km_flatten, km_expand};

CS_STATE_TYPE_FUNCTIONS(kmeans, km_kind)

/*
 * Transition of both aggregates: features, then k (or k_min, k_max), then optionally seed, transform and
 * weight.  The knobs must be the same on every row.
 */
static Datum
km_trans(FunctionCallInfo fcinfo, bool scan)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &km_kind, scan ? "kmeans_scan" : "kmeans_fit");
	CsAllocator alloc;
	int			nk = scan ? 2 : 1;
	int			seed_arg = 2 + nk,
				transform_arg = 3 + nk,
				weight_arg = 4 + nk;
	KmState    *st = ref.state;
	int			k_min,
				k_max;
	int64		seed = 0;
	KmeansTransform transform = KM_NONE;
	double		w = 1,
				x[KMEANS_MAX_DIMS];
	int			dims;

	for (int i = 2; i < 2 + nk; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("k must not be NULL")));
	k_min = PG_GETARG_INT32(2);
	k_max = scan ? PG_GETARG_INT32(3) : k_min;
	if (PG_NARGS() > seed_arg)
	{
		if (PG_ARGISNULL(seed_arg))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("seed must not be NULL")));
		seed = PG_GETARG_INT64(seed_arg);
	}
	if (PG_NARGS() > transform_arg)
	{
		if (PG_ARGISNULL(transform_arg))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("transform must not be NULL")));
		transform = kmeans_parse_transform(PG_GETARG_TEXT_PP(transform_arg));
	}
	if (st == NULL)
	{
		check_k(k_min, scan ? "k_min" : "k");
		check_k(k_max, "k_max");
		if (k_max < k_min)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("k_max must not be below k_min"),
					 errdetail("Got k_min %d, k_max %d.", k_min, k_max)));
		cs_state_start(fcinfo, &ref, &km_kind);
		st = ref.state = MemoryContextAllocZero(ref.ctx, sizeof(KmState));
		st->k_min = k_min;
		st->k_max = k_max;
		st->seed = seed;
		st->transform = transform;
	}
	alloc = cs_allocator(ref.ctx);
	cs_check_constant(st->k_min == k_min && st->k_max == k_max, scan ? "kmeans_scan" : "kmeans_fit", "k");
	cs_check_constant(st->seed == seed, "k-means", "seed");
	cs_check_constant(st->transform == transform, "k-means", "transform");
	if (PG_NARGS() > weight_arg)
	{
		if (PG_ARGISNULL(weight_arg))
		{
			st->skipped++;
			return cs_state_datum(fcinfo, &ref);
		}
		w = PG_GETARG_FLOAT8(weight_arg);
		cs_check_finite(w, "a k-means weight");
		if (w < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("k-means weights must not be negative"),
					 errdetail("Got %g.", w)));
	}
	if (PG_ARGISNULL(1) || w == 0)
	{
		st->skipped++;
		return cs_state_datum(fcinfo, &ref);
	}
	dims = kmeans_feature_values(PG_GETARG_ARRAYTYPE_P(1), x);
	if (st->points.dims == 0)
		kmeans_points_init(&st->points, dims);
	else if (st->points.dims != dims)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k-means features must have the same number of values on every row"),
				 errdetail("Got %d after %d.", dims, st->points.dims)));
	kmeans_apply_log(st->transform, x, dims);
	kmeans_points_add(&st->points, x, w, (uint64) st->seed, &alloc);
	return cs_state_datum(fcinfo, &ref);
}

PG_FUNCTION_INFO_V1(kmeans_fit_trans);
Datum
kmeans_fit_trans(PG_FUNCTION_ARGS)
{
	return km_trans(fcinfo, false);
}

PG_FUNCTION_INFO_V1(kmeans_scan_trans);
Datum
kmeans_scan_trans(PG_FUNCTION_ARGS)
{
	return km_trans(fcinfo, true);
}

PG_FUNCTION_INFO_V1(kmeans_combine);
Datum
kmeans_combine(PG_FUNCTION_ARGS)
{
	CsStateRef	ref = cs_state_arg0(fcinfo, &km_kind, "kmeans_combine");
	KmState    *dst = ref.state;
	KmState    *src = cs_state_read(fcinfo, 1, &km_kind);
	CsAllocator alloc;

	if (src == NULL)
		return cs_state_datum(fcinfo, &ref);
	if (dst == NULL)
	{
		cs_state_start(fcinfo, &ref, &km_kind);
		dst = ref.state = MemoryContextAllocZero(ref.ctx, sizeof(KmState));
		dst->k_min = src->k_min;
		dst->k_max = src->k_max;
		dst->seed = src->seed;
		dst->transform = src->transform;
		kmeans_points_init(&dst->points, src->points.dims);
	}
	cs_check_constant(dst->k_min == src->k_min && dst->k_max == src->k_max, "k-means", "k");
	cs_check_constant(dst->seed == src->seed, "k-means", "seed");
	cs_check_constant(dst->transform == src->transform, "k-means", "transform");
	if (dst->points.dims == 0)
		dst->points.dims = src->points.dims;
	else if (src->points.dims != 0 && src->points.dims != dst->points.dims)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k-means features must have the same number of values on every row"),
				 errdetail("Got %d and %d.", src->points.dims, dst->points.dims)));
	alloc = cs_allocator(ref.ctx);
	if (src->points.dims != 0)
		kmeans_points_merge(&dst->points, &src->points, &alloc);
	dst->skipped += src->skipped;
	return cs_state_datum(fcinfo, &ref);
}

typedef struct KmData
{
	int64		n;
	int			dims;
	double	   *x;
	double	   *w;
	double		shift[KMEANS_MAX_DIMS];
	double		scale[KMEANS_MAX_DIMS];
} KmData;

/* Points in a fixed order, whatever the order of rows or the plan: priority, then coordinates, then weight. */
static int
point_order(const void *a, const void *b, void *arg)
{
	const KmeansPoints *p = (const KmeansPoints *) arg;
	int64		i = *(const int64 *) a,
				j = *(const int64 *) b;

	if (p->priority[i] != p->priority[j])
		return p->priority[i] > p->priority[j] ? -1 : 1;
	for (int c = 0; c < p->dims; c++)
		if (p->x[i * p->dims + c] != p->x[j * p->dims + c])
			return p->x[i * p->dims + c] < p->x[j * p->dims + c] ? -1 : 1;
	return p->w[i] < p->w[j] ? -1 : p->w[i] > p->w[j];
}

static void
sort_points(KmeansPoints *p)
{
	int64	   *order = palloc_extended(sizeof(int64) * p->n, MCXT_ALLOC_HUGE);
	double	   *x = palloc_extended(sizeof(double) * p->n * p->dims, MCXT_ALLOC_HUGE);
	double	   *w = palloc_extended(sizeof(double) * p->n, MCXT_ALLOC_HUGE);
	double	   *q = palloc_extended(sizeof(double) * p->n, MCXT_ALLOC_HUGE);

	for (int64 i = 0; i < p->n; i++)
		order[i] = i;
	qsort_arg(order, p->n, sizeof(int64), point_order, p);
	for (int64 i = 0; i < p->n; i++)
	{
		memcpy(x + i * p->dims, p->x + order[i] * p->dims, sizeof(double) * p->dims);
		w[i] = p->w[order[i]];
		q[i] = p->priority[order[i]];
	}
	memcpy(p->x, x, sizeof(double) * p->n * p->dims);
	memcpy(p->w, w, sizeof(double) * p->n);
	memcpy(p->priority, q, sizeof(double) * p->n);
	pfree(order);
	pfree(x);
	pfree(w);
	pfree(q);
}

/* The statistics of the transform from the points themselves, in their fixed order, when they are all the rows. */
static void
points_stats(KmeansPoints *p)
{
	for (int j = 0; j < p->dims; j++)
	{
		KmeansDimStats *s = &p->stats[j];
		double		sw = 0,
					sx = 0,
					m2 = 0;

		for (int64 i = 0; i < p->n; i++)
		{
			sw += p->w[i];
			sx += p->w[i] * p->x[i * p->dims + j];
		}
		for (int64 i = 0; i < p->n; i++)
		{
			double		d = p->x[i * p->dims + j] - sx / sw;

			m2 += p->w[i] * d * d;
		}
		s->weight = sw;
		s->mean = sx / sw;
		s->m2 = m2;
	}
}

static bool
km_data(KmState *st, KmData *d, int k_needed)
{
	CsAllocator alloc = cs_allocator(CurrentMemoryContext);
	KmeansPoints *p = &st->points;

	if (p->n == 0)
		return false;
	kmeans_points_bound(p, KMEANS_MAX_POINTS, &alloc);
	sort_points(p);
	if (p->tau == 0)
		points_stats(p);
	if (p->n < k_needed)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k-means with k = %d needs at least %d points, got " INT64_FORMAT, k_needed, k_needed, p->n)));
	d->n = p->n;
	d->dims = p->dims;
	kmeans_transform_params(p, st->transform, d->shift, d->scale);
	d->x = palloc_extended(sizeof(double) * p->n * p->dims, MCXT_ALLOC_HUGE);
	d->w = palloc_extended(sizeof(double) * p->n, MCXT_ALLOC_HUGE);
	for (int64 i = 0; i < p->n; i++)
	{
		for (int j = 0; j < p->dims; j++)
		{
			double		v = (p->x[i * p->dims + j] - d->shift[j]) / d->scale[j];

			/* squared distances summed over points and dimensions must stay finite */
			if (!(fabs(v) <= KM_MAX_FEATURE))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("feature %d is too large for k-means", j + 1),
						 errdetail("After the %s transform a value is %g; k-means needs values within +/-%g.",
								   transform_names[st->transform], v, KM_MAX_FEATURE),
						 errhint("Use the log1p or zscore transform, or rescale the feature.")));
			d->x[i * p->dims + j] = v;
		}
		d->w[i] = p->tau > p->w[i] ? p->tau : p->w[i];
	}
	return true;
}


PG_FUNCTION_INFO_V1(kmeans_fit_final);
Datum
kmeans_fit_final(PG_FUNCTION_ARGS)
{
	KmState    *st;
	KmData		d;
	KmeansResult r;
	CsAllocator alloc = cs_allocator(CurrentMemoryContext);
	TupleDesc	desc;
	Datum		values[13];
	bool		nulls[13] = {0};
	Datum	   *cd;
	int			dims_[2],
				lbs[2] = {1, 1};

	st = cs_state_read(fcinfo, 0, &km_kind);
	if (st == NULL || !km_data(st, &d, st->k_min))
		PG_RETURN_NULL();
	kmeans_fit(d.x, d.w, d.n, d.dims, st->k_min, (uint64) st->seed, KMEANS_RESTARTS, &alloc, &r);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != 13)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("unexpected result type of kmeans_fit")));
	desc = BlessTupleDesc(desc);
	cd = palloc(sizeof(Datum) * st->k_min * d.dims);
	for (int i = 0; i < st->k_min * d.dims; i++)
		cd[i] = Float8GetDatum(r.centroids[i]);
	dims_[0] = st->k_min;
	dims_[1] = d.dims;
	values[0] = Int32GetDatum(st->k_min);
	values[1] = Int32GetDatum(d.dims);
	values[2] = PointerGetDatum(construct_md_array(cd, NULL, 2, dims_, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[3] = Float8GetDatum(r.inertia);
	values[4] = Int32GetDatum(r.iterations);
	values[5] = BoolGetDatum(r.converged);
	values[6] = PointerGetDatum(cs_float8_array(r.sizes, st->k_min));
	values[7] = CStringGetTextDatum(transform_names[st->transform]);
	values[8] = PointerGetDatum(cs_float8_array(d.shift, d.dims));
	values[9] = PointerGetDatum(cs_float8_array(d.scale, d.dims));
	values[10] = Int64GetDatum(st->points.rows);
	values[11] = Int64GetDatum(d.n);
	values[12] = Int64GetDatum(st->seed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

PG_FUNCTION_INFO_V1(kmeans_scan_final);
Datum
kmeans_scan_final(PG_FUNCTION_ARGS)
{
	KmState    *st;
	KmData		d;
	CsAllocator alloc = cs_allocator(CurrentMemoryContext);
	Oid			elemtype;
	TupleDesc	desc;
	Datum	   *rows;
	int			nk;
	int64		ns;
	double	   *sx;
	int		   *label;

	st = cs_state_read(fcinfo, 0, &km_kind);
	if (st == NULL || !km_data(st, &d, st->k_max))
		PG_RETURN_NULL();
	/* Citus calls final functions without an expression: then the declared type. */
	elemtype = get_element_type(OidIsValid(get_fn_expr_rettype(fcinfo->flinfo)) ? get_fn_expr_rettype(fcinfo->flinfo)
								: get_func_rettype(fcinfo->flinfo->fn_oid));
	if (!OidIsValid(elemtype))
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("unexpected result type of kmeans_scan")));
	desc = lookup_rowtype_tupdesc_copy(elemtype, -1);
	desc = BlessTupleDesc(desc);
	/* the silhouette sample: the points of highest priority, the first ones (km_data sorts by priority) */
	ns = Min(d.n, KMEANS_SILHOUETTE_SAMPLE);
	sx = d.x;
	label = palloc(sizeof(int) * ns);
	nk = st->k_max - st->k_min + 1;
	rows = palloc(sizeof(Datum) * nk);
	for (int k = st->k_min; k <= st->k_max; k++)
	{
		KmeansResult r;
		Datum		values[4];
		bool		nulls[4] = {0};
		double		sil;

		kmeans_fit(d.x, d.w, d.n, d.dims, k, (uint64) st->seed, KMEANS_RESTARTS, &alloc, &r);
		for (int64 i = 0; i < ns; i++)
			label[i] = kmeans_nearest(sx + i * d.dims, r.centroids, k, d.dims, NULL);
		sil = kmeans_silhouette(sx, label, ns, d.dims, k, &alloc);
		values[0] = Int32GetDatum(k);
		values[1] = Float8GetDatum(r.inertia);
		values[2] = Float8GetDatum(sil);
		nulls[2] = isnan(sil);
		values[3] = Int64GetDatum(ns);
		rows[k - st->k_min] = HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(rows, nk, elemtype, -1, false, TYPALIGN_DOUBLE));
}

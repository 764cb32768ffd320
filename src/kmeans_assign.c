/*
 * kmeans_assign.c: kmeans_assign and kmeans_distance, a fitted k-means model applied to one feature vector
 * (its transform, then the nearest centroid).  The fits are in kmeans.c, the math in kmeans_math.c.
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

/* A model's centroids and transform, parsed once per distinct model value. */
typedef struct KmModel
{
	bytea	   *image;			/* the composite's bytes, to recognise the same model */
	int			k;
	int			dims;
	KmeansTransform transform;
	double	   *centroids;
	double		shift[KMEANS_MAX_DIMS];
	double		scale[KMEANS_MAX_DIMS];
} KmModel;

static void
model_array(Datum v, bool isnull, int expect, double *out, const char *what)
{
	ArrayType  *a;

	if (isnull)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("k-means model %s must not be NULL", what)));
	a = DatumGetArrayTypeP(v);
	if (ARR_ELEMTYPE(a) != FLOAT8OID || ARR_HASNULL(a) || ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != expect)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k-means model %s must hold %d values", what, expect)));
	memcpy(out, ARR_DATA_PTR(a), sizeof(double) * expect);
	for (int i = 0; i < expect; i++)
		cs_check_finite(out[i], "every k-means model value");
}

static KmModel *
km_model(FunctionCallInfo fcinfo)
{
	HeapTupleHeader rec = PG_GETARG_HEAPTUPLEHEADER(0);
	Size		len = HeapTupleHeaderGetDatumLength(rec);
	KmModel    *m = (KmModel *) fcinfo->flinfo->fn_extra;
	MemoryContext old;
	TupleDesc	desc;
	HeapTupleData tuple;
	Datum		values[13];
	bool		nulls[13];

	if (m != NULL && VARSIZE(m->image) - VARHDRSZ == len && memcmp(VARDATA(m->image), rec, len) == 0)
		return m;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (m == NULL)
		m = palloc0(sizeof(KmModel));
	else
	{
		pfree(m->image);
		pfree(m->centroids);
	}
	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec), HeapTupleHeaderGetTypMod(rec));
	if (desc->natts != 13)
	{
		ReleaseTupleDesc(desc);
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("not a k-means model")));
	}
	tuple.t_len = len;
	ItemPointerSetInvalid(&(tuple.t_self));
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;
	heap_deform_tuple(&tuple, desc, values, nulls);
	ReleaseTupleDesc(desc);
	if (nulls[0] || nulls[1] || nulls[7])
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("k-means model k, dims and transform must not be NULL")));
	m->k = DatumGetInt32(values[0]);
	m->dims = DatumGetInt32(values[1]);
	if (m->k < 1 || m->k > KMEANS_MAX_K || m->dims < 1 || m->dims > KMEANS_MAX_DIMS)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("k-means model k or dims out of range")));
	m->transform = kmeans_parse_transform(DatumGetTextPP(values[7]));
	m->centroids = palloc(sizeof(double) * m->k * m->dims);
	model_array(values[2], nulls[2], m->k * m->dims, m->centroids, "centroids");
	model_array(values[8], nulls[8], m->dims, m->shift, "shift");
	model_array(values[9], nulls[9], m->dims, m->scale, "scale");
	for (int j = 0; j < m->dims; j++)
		if (m->scale[j] <= 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("k-means model scales must be positive")));
	m->image = palloc(VARHDRSZ + len);
	SET_VARSIZE(m->image, VARHDRSZ + len);
	memcpy(VARDATA(m->image), rec, len);
	fcinfo->flinfo->fn_extra = m;
	MemoryContextSwitchTo(old);
	return m;
}

/* The nearest centroid of a feature vector (after the model's transform) and the squared distance. */
static int
km_nearest(FunctionCallInfo fcinfo, double *d2)
{
	KmModel    *m = km_model(fcinfo);
	double		x[KMEANS_MAX_DIMS];
	int			dims = kmeans_feature_values(PG_GETARG_ARRAYTYPE_P(1), x);

	if (dims != m->dims)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model has %d features, got %d", m->dims, dims)));
	kmeans_apply_log(m->transform, x, dims);
	for (int j = 0; j < dims; j++)
		x[j] = (x[j] - m->shift[j]) / m->scale[j];
	return kmeans_nearest(x, m->centroids, m->k, dims, d2);
}

PG_FUNCTION_INFO_V1(kmeans_assign_sql);
Datum
kmeans_assign_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(km_nearest(fcinfo, NULL) + 1);
}

PG_FUNCTION_INFO_V1(kmeans_distance_sql);
Datum
kmeans_distance_sql(PG_FUNCTION_ARGS)
{
	double		d2;

	km_nearest(fcinfo, &d2);
	PG_RETURN_FLOAT8(sqrt(d2));
}

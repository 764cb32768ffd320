/*
 * kmeans_glue.h: what the k-means fits (kmeans.c) share with the application of a model (kmeans_assign.c).
 */
#ifndef KMEANS_GLUE_H
#define KMEANS_GLUE_H

#include "postgres.h"
#include "utils/array.h"
#include "kmeans_math.h"

/* The transform named by a text ('none', 'zscore', 'minmax', 'log1p', ...), 22023 otherwise. */
extern KmeansTransform kmeans_parse_transform(text *t);

/* A feature vector: a one-dimensional float8 array of 1..KMEANS_MAX_DIMS finite values, no NULLs; its length. */
extern int	kmeans_feature_values(ArrayType *a, double *out);

/* log1p of every value for the log transforms (22023 for a value <= -1). */
extern void kmeans_apply_log(KmeansTransform t, double *x, int dims);

#endif

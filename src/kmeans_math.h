/*
 * kmeans_math.h: k-means on weighted points, free of fmgr: the aggregate's
 * state (the points, or a priority sample of them, and per-dimension
 * statistics for the feature transform), k-means++ seeding with restarts,
 * Lloyd iterations, assignment and the silhouette.  See kmeans_math.c.
 */
#ifndef KMEANS_MATH_H
#define KMEANS_MATH_H

#include <stdbool.h>
#include <stdint.h>

#include "cs_math.h"

#define KMEANS_MAX_DIMS 100
#define KMEANS_MAX_K 1000
#define KMEANS_MAX_POINTS 1000000	/* points kept; beyond, a priority sample of this size */
#define KMEANS_RESTARTS 10
/*
 * With more points than this, the restarts (seeding and Lloyd) run on the
 * first KMEANS_INIT_POINTS of them (the fit sorts them by priority, so they
 * are a seeded sample) and Lloyd then refines the best on every point.
 */
#define KMEANS_INIT_POINTS 100000
#define KMEANS_MAX_ITER 300
#define KMEANS_TOL 1e-4
#define KMEANS_SILHOUETTE_SAMPLE 4000

typedef enum KmeansTransform
{
	KM_NONE = 0,
	KM_ZSCORE = 1,
	KM_MINMAX = 2,
	KM_LOG1P = 3,
	KM_LOG1P_ZSCORE = 4,
	KM_LOG1P_MINMAX = 5
} KmeansTransform;

/* Per-dimension statistics of all rows (after log1p when the transform takes it), mergeable. */
typedef struct KmeansDimStats
{
	double		weight;
	double		mean;
	double		m2;				/* sum of w (x - mean)^2 */
	double		min;
	double		max;
} KmeansDimStats;

typedef struct KmeansPoints
{
	int			dims;
	int64_t		n;				/* points held */
	int64_t		cap;
	double	   *x;				/* n x dims, as given (log1p applied when the transform takes it) */
	double	   *w;
	double	   *priority;		/* w / u, u a hash of the point in (0, 1]: keep the largest */
	double		tau;			/* largest priority dropped so far (0: none) */
	int64_t		rows;			/* rows seen */
	double		total_weight;
	KmeansDimStats stats[KMEANS_MAX_DIMS];
} KmeansPoints;

void		kmeans_points_init(KmeansPoints *p, int dims);
void		kmeans_points_add(KmeansPoints *p, const double *x, double w, uint64_t seed, const CsAllocator *a);
void		kmeans_points_merge(KmeansPoints *dst, const KmeansPoints *src, const CsAllocator *a);
/* Keep at most KMEANS_MAX_POINTS points: the largest priorities; kept weights become max(w, tau). */
void		kmeans_points_bound(KmeansPoints *p, int64_t keep, const CsAllocator *a);
bool		kmeans_transform_uses_log(KmeansTransform t);
/* shift and scale per dimension: transformed = (x - shift) / scale. */
void		kmeans_transform_params(const KmeansPoints *p, KmeansTransform t, double *shift, double *scale);

typedef struct KmeansResult
{
	double	   *centroids;		/* k x dims, transformed space */
	double	   *sizes;			/* weight per cluster */
	double		inertia;		/* sum of w * squared distance to the nearest centroid */
	int			iterations;
	bool		converged;
} KmeansResult;

/*
 * Best of `restarts` k-means++ + Lloyd runs on n weighted points (n x dims,
 * already transformed; beyond KMEANS_INIT_POINTS, restarts on the first ones
 * and a refinement on all); centroids and sizes are allocated with `a`.
 */
void		kmeans_fit(const double *x, const double *w, int64_t n, int dims, int k, uint64_t seed, int restarts,
					   const CsAllocator *a, KmeansResult *out);

/* Nearest centroid (0-based; the lowest index on ties) and its squared distance. */
int			kmeans_nearest(const double *x, const double *centroids, int k, int dims, double *d2);

/* Mean silhouette of the first n points (Euclidean); singletons count 0.  NaN when fewer than 2 clusters. */
double		kmeans_silhouette(const double *x, const int *label, int64_t n, int dims, int k, const CsAllocator *a);

/* Deterministic uniform (0, 1] of a point and a seed. */
double		kmeans_point_uniform(const double *x, int dims, uint64_t seed);

#endif

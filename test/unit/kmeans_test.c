/*
 * Unit tests of kmeans_math.c: the priority sample.
 */
#include "unit.h"

static int
cmp_desc(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x > y ? -1 : x < y;
}

/* The priority sample keeps the largest priorities whatever the split; tau is the largest one dropped. */
void
test_kmeans_sample(void)
{
	KmeansPoints one,
				a,
				b;
	double	   *all = malloc(sizeof(double) * 5000);

	kmeans_points_init(&one, 2);
	kmeans_points_init(&a, 2);
	kmeans_points_init(&b, 2);
	for (int i = 0; i < 5000; i++)
	{
		double		x[2] = {i % 97, (i * 7) % 13},
					w = 1 + i % 3;

		all[i] = w / kmeans_point_uniform(x, 2, 5);
		kmeans_points_add(&one, x, w, 5, &alloc);
		kmeans_points_add(i % 3 ? &a : &b, x, w, 5, &alloc);
	}
	kmeans_points_bound(&a, 300, &alloc);	/* a partial state bounded early, as a worker's may be */
	kmeans_points_merge(&a, &b, &alloc);
	kmeans_points_bound(&a, 300, &alloc);
	kmeans_points_bound(&one, 300, &alloc);
	qsort(all, 5000, sizeof(double), cmp_desc);
	qsort(one.priority, one.n, sizeof(double), cmp_desc);
	qsort(a.priority, a.n, sizeof(double), cmp_desc);
	CHECK(one.n == 300 && a.n == 300, "kept %lld and %lld points, 300 asked", (long long) one.n, (long long) a.n);
	CHECK(memcmp(one.priority, a.priority, sizeof(double) * 300) == 0, "split and merged keeps the same points as one pass");
	CHECK(memcmp(one.priority, all, sizeof(double) * 300) == 0, "the kept points are the 300 largest priorities");
	CHECK(one.tau == all[300] && a.tau == all[300], "tau %g is the 301st priority %g", one.tau, all[300]);
	CHECK(one.rows == 5000 && a.rows == 5000 && fabs(one.stats[0].mean - a.stats[0].mean) < 1e-12,
		  "statistics of all rows kept: mean %g and %g", one.stats[0].mean, a.stats[0].mean);
	free(all);
}

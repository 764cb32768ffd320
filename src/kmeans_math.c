/*
 * kmeans_math.c: k-means on weighted points (see kmeans_math.h), free of fmgr.
 *
 * The state keeps every point up to KMEANS_MAX_POINTS; beyond, a priority
 * sample (Duffield, Lund & Thorup 2007): each point gets priority w / u with u
 * a hash of its coordinates and the seed, the largest priorities are kept and
 * a kept point stands for max(w, tau) of weight, tau the largest priority
 * dropped.  The kept set is the top of all priorities whatever the order of
 * rows or how a parallel plan split them, so serial and parallel fits agree.
 *
 * The fit follows scikit-learn's KMeans (lloyd): greedy k-means++ seeding
 * (2 + floor(ln k) candidates per centre, the one that lowers the potential
 * most), Lloyd iterations until the labels stop changing or the centres move
 * less than tol x the mean variance of the dimensions (squared, summed), at
 * most KMEANS_MAX_ITER, an empty cluster moved to the point farthest from its
 * centre, and the best inertia of KMEANS_RESTARTS seeded runs.
 */
#include "kmeans_math.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* Uniform in (0, 1] from 53 bits. */
static double
unit_of(uint64_t h)
{
	return ((h >> 11) + 1) * (1.0 / 9007199254740992.0);
}

double
kmeans_point_uniform(const double *x, int dims, uint64_t seed)
{
	uint64_t	h = cs_mix64(seed ^ UINT64_C(0x9e3779b97f4a7c15));

	for (int j = 0; j < dims; j++)
	{
		uint64_t	bits;
		double		v = x[j] == 0 ? 0 : x[j];	/* -0 and 0 are one point */

		memcpy(&bits, &v, sizeof(bits));
		h = cs_mix64(h ^ bits);
	}
	return unit_of(h);
}

typedef struct Rng
{
	uint64_t	state;
} Rng;

static double
rng_uniform(Rng *r)
{
	r->state += UINT64_C(0x9e3779b97f4a7c15);
	return unit_of(cs_mix64(r->state));
}

void
kmeans_points_init(KmeansPoints *p, int dims)
{
	memset(p, 0, sizeof(*p));
	p->dims = dims;
	for (int j = 0; j < dims; j++)
	{
		p->stats[j].min = INFINITY;
		p->stats[j].max = -INFINITY;
	}
}

static void
reserve(KmeansPoints *p, int64_t need, const CsAllocator *a)
{
	int64_t		cap;

	if (need <= p->cap)
		return;
	cap = p->cap < 1024 ? 1024 : p->cap;
	while (cap < need)
		cap *= 2;
	p->x = cs_grow(a, p->x, sizeof(double) * p->dims * p->n, sizeof(double) * p->dims * cap);
	p->w = cs_grow(a, p->w, sizeof(double) * p->n, sizeof(double) * cap);
	p->priority = cs_grow(a, p->priority, sizeof(double) * p->n, sizeof(double) * cap);
	p->cap = cap;
}

static void
stats_add(KmeansDimStats *s, double x, double w)
{
	double		delta = x - s->mean;

	s->weight += w;
	s->mean += delta * w / s->weight;
	s->m2 += w * delta * (x - s->mean);
	if (x < s->min)
		s->min = x;
	if (x > s->max)
		s->max = x;
}

static void
stats_merge(KmeansDimStats *d, const KmeansDimStats *s)
{
	double		total = d->weight + s->weight,
				delta = s->mean - d->mean;

	if (s->weight == 0)
		return;
	if (d->weight == 0)
	{
		*d = *s;
		return;
	}
	d->mean += delta * s->weight / total;
	d->m2 += s->m2 + delta * delta * d->weight * s->weight / total;
	d->weight = total;
	if (s->min < d->min)
		d->min = s->min;
	if (s->max > d->max)
		d->max = s->max;
}

static void
push_point(KmeansPoints *p, const double *x, double w, double priority, const CsAllocator *a)
{
	reserve(p, p->n + 1, a);
	memcpy(p->x + p->n * p->dims, x, sizeof(double) * p->dims);
	p->w[p->n] = w;
	p->priority[p->n] = priority;
	p->n++;
	if (p->n >= 2 * (int64_t) KMEANS_MAX_POINTS)
		kmeans_points_bound(p, KMEANS_MAX_POINTS, a);
}

void
kmeans_points_add(KmeansPoints *p, const double *x, double w, uint64_t seed, const CsAllocator *a)
{
	for (int j = 0; j < p->dims; j++)
		stats_add(&p->stats[j], x[j], w);
	p->rows++;
	p->total_weight += w;
	push_point(p, x, w, w / kmeans_point_uniform(x, p->dims, seed), a);
}

void
kmeans_points_merge(KmeansPoints *dst, const KmeansPoints *src, const CsAllocator *a)
{
	for (int j = 0; j < dst->dims; j++)
		stats_merge(&dst->stats[j], &src->stats[j]);
	dst->rows += src->rows;
	dst->total_weight += src->total_weight;
	if (src->tau > dst->tau)
		dst->tau = src->tau;
	reserve(dst, dst->n + src->n, a);
	for (int64_t i = 0; i < src->n; i++)
	{
		if ((i & 65535) == 65535)
			cs_check_interrupts();
		push_point(dst, src->x + i * src->dims, src->w[i], src->priority[i], a);
	}
}

/* The value of rank `rank` (0 = largest) among v[0..n), by quickselect on a scratch copy. */
static double
select_desc(double *v, int64_t n, int64_t rank)
{
	int64_t		lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		double		pivot = v[lo + (hi - lo) / 2];
		int64_t		i = lo,
					j = hi;

		while (i <= j)
		{
			while (v[i] > pivot)
				i++;
			while (v[j] < pivot)
				j--;
			if (i <= j)
			{
				double		t = v[i];

				v[i] = v[j];
				v[j] = t;
				i++;
				j--;
			}
		}
		if (rank <= j)
			hi = j;
		else if (rank >= i)
			lo = i;
		else
			return v[rank];
	}
	return v[rank];
}

void
kmeans_points_bound(KmeansPoints *p, int64_t keep, const CsAllocator *a)
{
	double	   *scratch;
	double		threshold;
	int64_t		above = 0,
				out = 0,
				ties_left;

	if (p->n <= keep)
		return;
	scratch = a->alloc(a->ctx, sizeof(double) * p->n);
	memcpy(scratch, p->priority, sizeof(double) * p->n);
	threshold = select_desc(scratch, p->n, keep - 1);
	a->free(a->ctx, scratch);
	for (int64_t i = 0; i < p->n; i++)
		above += p->priority[i] > threshold;
	ties_left = keep - above;
	for (int64_t i = 0; i < p->n; i++)
	{
		bool		kept = p->priority[i] > threshold || (p->priority[i] == threshold && ties_left-- > 0);

		if ((i & 65535) == 65535)
			cs_check_interrupts();
		if (!kept)
		{
			if (p->priority[i] > p->tau)
				p->tau = p->priority[i];
			continue;
		}
		if (out != i)
		{
			memmove(p->x + out * p->dims, p->x + i * p->dims, sizeof(double) * p->dims);
			p->w[out] = p->w[i];
			p->priority[out] = p->priority[i];
		}
		out++;
	}
	p->n = out;
}

bool
kmeans_transform_uses_log(KmeansTransform t)
{
	return t == KM_LOG1P || t == KM_LOG1P_ZSCORE || t == KM_LOG1P_MINMAX;
}

void
kmeans_transform_params(const KmeansPoints *p, KmeansTransform t, double *shift, double *scale)
{
	for (int j = 0; j < p->dims; j++)
	{
		const KmeansDimStats *s = &p->stats[j];

		shift[j] = 0;
		scale[j] = 1;
		if (t == KM_ZSCORE || t == KM_LOG1P_ZSCORE)
		{
			double		sd = s->weight > 0 ? sqrt(s->m2 / s->weight) : 0;

			shift[j] = s->mean;
			scale[j] = sd > 0 ? sd : 1;
		}
		else if (t == KM_MINMAX || t == KM_LOG1P_MINMAX)
		{
			shift[j] = s->min;
			scale[j] = s->max > s->min ? s->max - s->min : 1;
		}
	}
}

static inline double
dist2(const double *a, const double *b, int dims)
{
	double		s = 0;

	for (int j = 0; j < dims; j++)
	{
		double		d = a[j] - b[j];

		s += d * d;
	}
	return s;
}

int
kmeans_nearest(const double *x, const double *centroids, int k, int dims, double *d2)
{
	int			best = 0;
	double		best_d2 = dist2(x, centroids, dims);

	for (int c = 1; c < k; c++)
	{
		double		d = dist2(x, centroids + (int64_t) c * dims, dims);

		if (d < best_d2)
		{
			best_d2 = d;
			best = c;
		}
	}
	if (d2 != NULL)
		*d2 = best_d2;
	return best;
}

/* Index of the first point whose cumulative weight exceeds target. */
static int64_t
pick_cumulative(const double *cum, int64_t n, double target)
{
	int64_t		lo = 0,
				hi = n - 1;

	while (lo < hi)
	{
		int64_t		mid = lo + (hi - lo) / 2;

		if (cum[mid] > target)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Greedy k-means++ seeding into centers (k x dims); closest and cum are n scratch doubles each. */
static void
seed_plusplus(const double *x, const double *w, int64_t n, int dims, int k, Rng *rng, double *centers,
			  double *closest, double *cum)
{
	int			trials = 2 + (int) log((double) k);
	double		total = 0;
	int64_t		first;

	for (int64_t i = 0; i < n; i++)
		cum[i] = (total += w[i]);
	first = pick_cumulative(cum, n, rng_uniform(rng) * total);
	memcpy(centers, x + first * dims, sizeof(double) * dims);
	for (int64_t i = 0; i < n; i++)
		closest[i] = dist2(x + i * dims, centers, dims);
	for (int c = 1; c < k; c++)
	{
		double		best_pot = INFINITY;
		int64_t		best = 0;

		cs_check_interrupts();
		total = 0;
		for (int64_t i = 0; i < n; i++)
			cum[i] = (total += w[i] * closest[i]);
		for (int t = 0; t < trials; t++)
		{
			int64_t		cand = total > 0 ? pick_cumulative(cum, n, rng_uniform(rng) * total)
				: (int64_t) (rng_uniform(rng) * n) % n;
			double		cand_pot = 0;

			for (int64_t i = 0; i < n; i++)
			{
				double		d = dist2(x + i * dims, x + cand * dims, dims);

				cand_pot += w[i] * (d < closest[i] ? d : closest[i]);
			}
			if (cand_pot < best_pot)
			{
				best_pot = cand_pot;
				best = cand;
			}
		}
		memcpy(centers + (int64_t) c * dims, x + best * dims, sizeof(double) * dims);
		for (int64_t i = 0; i < n; i++)
		{
			double		d = dist2(x + i * dims, x + best * dims, dims);

			if (d < closest[i])
				closest[i] = d;
		}
	}
}

/* Lloyd from centers; returns the inertia with the final centers and labels. */
static double
lloyd(const double *x, const double *w, int64_t n, int dims, int k, double tol, double *centers, int *label,
	  double *d2, double *sums, double *sizes, int *iterations, bool *converged)
{
	double		inertia = 0;
	bool		strict = false;
	int			iter;

	for (int64_t i = 0; i < n; i++)
		label[i] = -1;
	*converged = false;
	for (iter = 1; iter <= KMEANS_MAX_ITER; iter++)
	{
		int64_t		changed = 0;
		double		shift = 0;

		cs_check_interrupts();
		memset(sums, 0, sizeof(double) * k * dims);
		memset(sizes, 0, sizeof(double) * k);
		for (int64_t i = 0; i < n; i++)
		{
			int			c = kmeans_nearest(x + i * dims, centers, k, dims, &d2[i]);

			if ((i & 65535) == 65535)
				cs_check_interrupts();
			changed += c != label[i];
			label[i] = c;
			sizes[c] += w[i];
			for (int j = 0; j < dims; j++)
				sums[(int64_t) c * dims + j] += w[i] * x[i * dims + j];
		}
		if (changed == 0)
		{
			strict = true;
			break;
		}
		/* an empty cluster takes the point farthest from its centre */
		for (int c = 0; c < k; c++)
		{
			int64_t		far = -1;

			if (sizes[c] > 0)
				continue;
			for (int64_t i = 0; i < n; i++)
				if (d2[i] > 0 && sizes[label[i]] > w[i] && (far < 0 || d2[i] > d2[far]))
					far = i;
			if (far < 0)
				continue;		/* every point sits on a centre: fewer distinct points than k */
			sizes[label[far]] -= w[far];
			for (int j = 0; j < dims; j++)
			{
				sums[(int64_t) label[far] * dims + j] -= w[far] * x[far * dims + j];
				sums[(int64_t) c * dims + j] = w[far] * x[far * dims + j];
			}
			sizes[c] = w[far];
			d2[far] = 0;
			label[far] = c;
		}
		for (int c = 0; c < k; c++)
		{
			if (sizes[c] <= 0)
				continue;
			for (int j = 0; j < dims; j++)
			{
				double		v = sums[(int64_t) c * dims + j] / sizes[c],
							d = v - centers[(int64_t) c * dims + j];

				shift += d * d;
				centers[(int64_t) c * dims + j] = v;
			}
		}
		if (shift <= tol)
			break;
	}
	*iterations = iter > KMEANS_MAX_ITER ? KMEANS_MAX_ITER : iter;
	*converged = iter <= KMEANS_MAX_ITER;
	/* labels and inertia of the final centres (after a strict stop the labels are already those) */
	memset(sizes, 0, sizeof(double) * k);
	for (int64_t i = 0; i < n; i++)
	{
		double		d;

		if ((i & 65535) == 65535)
			cs_check_interrupts();
		if (!strict)
			label[i] = kmeans_nearest(x + i * dims, centers, k, dims, &d);
		else
			d = d2[i];
		inertia += w[i] * d;
		sizes[label[i]] += w[i];
	}
	return inertia;
}

void
kmeans_fit(const double *x, const double *w, int64_t n, int dims, int k, uint64_t seed, int restarts,
		   const CsAllocator *a, KmeansResult *out)
{
	/* the restarts run on the first KMEANS_INIT_POINTS points when there are more (see kmeans_math.h) */
	int64_t		m = n > KMEANS_INIT_POINTS ? KMEANS_INIT_POINTS : n;
	double	   *centers = a->alloc(a->ctx, sizeof(double) * k * dims),
			   *sums = a->alloc(a->ctx, sizeof(double) * k * dims),
			   *sizes = a->alloc(a->ctx, sizeof(double) * k),
			   *closest = a->alloc(a->ctx, sizeof(double) * n),
			   *cum = a->alloc(a->ctx, sizeof(double) * m);
	int		   *label = a->alloc(a->ctx, sizeof(int) * n);
	double		tol = 0,
				total = 0;
	Rng			rng = {cs_mix64(seed)};

	/* tolerance: KMEANS_TOL x the mean (weighted) variance of the dimensions, as scikit-learn */
	for (int64_t i = 0; i < n; i++)
		total += w[i];
	for (int j = 0; j < dims; j++)
	{
		double		mean = 0,
					var = 0;

		for (int64_t i = 0; i < n; i++)
			mean += w[i] * x[i * dims + j];
		mean /= total;
		for (int64_t i = 0; i < n; i++)
			var += w[i] * (x[i * dims + j] - mean) * (x[i * dims + j] - mean);
		tol += var / total;
	}
	tol = KMEANS_TOL * tol / dims;

	out->centroids = a->alloc(a->ctx, sizeof(double) * k * dims);
	out->sizes = a->alloc(a->ctx, sizeof(double) * k);
	out->inertia = INFINITY;
	for (int r = 0; r < restarts; r++)
	{
		int			iterations;
		bool		converged;
		double		inertia;

		seed_plusplus(x, w, m, dims, k, &rng, centers, closest, cum);
		inertia = lloyd(x, w, m, dims, k, tol, centers, label, closest, sums, sizes, &iterations, &converged);
		if (r == 0 || inertia < out->inertia)
		{
			out->inertia = inertia;
			out->iterations = iterations;
			out->converged = converged;
			memcpy(out->centroids, centers, sizeof(double) * k * dims);
			memcpy(out->sizes, sizes, sizeof(double) * k);
		}
	}
	if (m < n)
	{
		/* the best start, refined on every point */
		memcpy(centers, out->centroids, sizeof(double) * k * dims);
		out->inertia = lloyd(x, w, n, dims, k, tol, centers, label, closest, sums, sizes,
							 &out->iterations, &out->converged);
		memcpy(out->centroids, centers, sizeof(double) * k * dims);
		memcpy(out->sizes, sizes, sizeof(double) * k);
	}
	a->free(a->ctx, centers);
	a->free(a->ctx, sums);
	a->free(a->ctx, sizes);
	a->free(a->ctx, closest);
	a->free(a->ctx, cum);
	a->free(a->ctx, label);
}

double
kmeans_silhouette(const double *x, const int *label, int64_t n, int dims, int k, const CsAllocator *a)
{
	double	   *sum = a->alloc(a->ctx, sizeof(double) * k);
	int64_t    *count = a->alloc(a->ctx, sizeof(int64_t) * k);
	int			used = 0;
	double		total = 0;

	memset(count, 0, sizeof(int64_t) * k);
	for (int64_t i = 0; i < n; i++)
		count[label[i]]++;
	for (int c = 0; c < k; c++)
		used += count[c] > 0;
	if (used < 2 || used >= n)
	{
		a->free(a->ctx, sum);
		a->free(a->ctx, count);
		return NAN;
	}
	for (int64_t i = 0; i < n; i++)
	{
		double		own,
					other = INFINITY;

		if ((i & 255) == 255)
			cs_check_interrupts();
		if (count[label[i]] == 1)
			continue;			/* a singleton's silhouette is 0 */
		memset(sum, 0, sizeof(double) * k);
		for (int64_t m = 0; m < n; m++)
			sum[label[m]] += sqrt(dist2(x + i * dims, x + m * dims, dims));
		own = sum[label[i]] / (count[label[i]] - 1);
		for (int c = 0; c < k; c++)
			if (c != label[i] && count[c] > 0 && sum[c] / count[c] < other)
				other = sum[c] / count[c];
		if (own > 0 || other > 0)
			total += (other - own) / (own > other ? own : other);
	}
	a->free(a->ctx, sum);
	a->free(a->ctx, count);
	return total / n;
}

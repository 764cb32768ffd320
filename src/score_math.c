/*
 * score_math.c: tie-safe quantile scores (see score_math.h).
 */
#include "score_math.h"

#include <math.h>
#include <stdlib.h>

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

void
score_sort(double *values, size_t n)
{
	qsort(values, n, sizeof(double), cmp_double);
}

void
score_breakpoints(const double *values, size_t n, int bins, double *out)
{
	for (int i = 1; i < bins; i++)
	{
		/* ceil(i * n / bins) in integers, so 3/5 of 5000 is exactly 3000. */
		size_t		k = ((size_t) i * n + (size_t) bins - 1) / (size_t) bins;

		out[i - 1] = values[k == 0 ? 0 : k - 1];
	}
}

int
score_breakpoints_invalid(const double *breaks, int nbreaks)
{
	for (int i = 0; i < nbreaks; i++)
	{
		if (!isfinite(breaks[i]) || (i > 0 && breaks[i] < breaks[i - 1]))
			return i;
	}
	return -1;
}

int
score_of(double value, const double *breaks, int nbreaks, bool higher_is_better)
{
	int			lo = 0,
				hi = nbreaks;

	/* lo becomes the number of breakpoints strictly below value. */
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (breaks[mid] < value)
			lo = mid + 1;
		else
			hi = mid;
	}
	return higher_is_better ? 1 + lo : nbreaks + 1 - lo;
}

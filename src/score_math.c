/*
 * score_math.c: tie-safe quantile scores (see score_math.h).
 */
#include "score_math.h"

#include <math.h>
#include <stdio.h>

#include "cs_math.h"

static inline void
swap_double(double *a, double *b)
{
	double		t = *a;

	*a = *b;
	*b = t;
}

/*
 * Reorder v[lo..hi) so that v[k] is the value a full sort would put there,
 * with no larger value before it and no smaller one after it.  Three-way
 * partitioning keeps heavy ties (common in RFM metrics) linear.
 */
static void
select_kth(double *v, size_t lo, size_t hi, size_t k)
{
	while (hi - lo > 16)
	{
		double		a = v[lo],
					b = v[lo + (hi - lo) / 2],
					c = v[hi - 1];
		double		pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		size_t		lt = lo,
					i = lo,
					gt = hi;

		cs_check_interrupts();	/* once per partition pass over up to n values */
		while (i < gt)
		{
			if (v[i] < pivot)
				swap_double(&v[lt++], &v[i++]);
			else if (v[i] > pivot)
				swap_double(&v[i], &v[--gt]);
			else
				i++;
		}
		if (k < lt)
			hi = lt;
		else if (k >= gt)
			lo = gt;
		else
			return;
	}
	for (size_t i = lo + 1; i < hi; i++)
		for (size_t j = i; j > lo && v[j - 1] > v[j]; j--)
			swap_double(&v[j - 1], &v[j]);
}

void
score_breakpoints(double *values, size_t n, int bins, double *out)
{
	size_t		lo = 0;

	for (int i = 1; i < bins; i++)
	{
		/* ceil(i * n / bins) in integers, so 3/5 of 5000 is exactly 3000. */
		size_t		k = ((size_t) i * n + (size_t) bins - 1) / (size_t) bins;
		size_t		idx = k == 0 ? 0 : k - 1;

		/* Earlier selections left everything before lo no larger than what follows. */
		select_kth(values, lo, n, idx);
		out[i - 1] = values[idx];
		lo = idx;
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

int
score_rescale5(int score, int bins)
{
	/* floor((score - 1) * 4 / (bins - 1) + 1/2) in integers: exact, as the rational it stands for */
	return 1 + ((score - 1) * 8 + (bins - 1)) / (2 * (bins - 1));
}

int
score_cell_label(int r, int f, int m, char *buf)
{
	if (r <= 9 && f <= 9 && m <= 9)
	{
		buf[0] = (char) ('0' + r);
		buf[1] = (char) ('0' + f);
		buf[2] = (char) ('0' + m);
		buf[3] = '\0';
		return 3;
	}
	return snprintf(buf, SCORE_CELL_LEN, "%d-%d-%d", r, f, m);
}

double
score_weighted_mean(const int scores[3], const double weights[3])
{
	double		wmax = 0,
				num = 0,
				den = 0;

	for (int i = 0; i < 3; i++)
		wmax = weights[i] > wmax ? weights[i] : wmax;
	for (int i = 0; i < 3 && wmax > 0; i++)
	{
		double		w = weights[i] / wmax;

		num += w * scores[i];
		den += w;
	}
	return num / den;
}

/*
 * Unit tests of score_math.c: breakpoints and scores against a brute-force definition.
 */
#include <float.h>

#include "unit.h"

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

static int
brute_score(double v, const double *sorted, size_t n, int bins, int higher)
{
	/* 1 + number of i with v > x_(ceil(i n / bins)), by counting directly. */
	int			s = 1;

	for (int i = 1; i < bins; i++)
	{
		double		need = (double) i * (double) n / bins;
		size_t		k = 0;

		while ((double) (k + 1) < need - 1e-9)
			k++;
		if (v > sorted[k])
			s++;
	}
	return higher ? s : bins + 1 - s;
}

void
test_scores(void)
{
	double		breaks[99];

	for (int round = 0; round < 300; round++)
	{
		size_t		n = 1 + rng() % 500;
		int			bins = 2 + (int) (rng() % 9);
		int			distinct = 1 + (int) (rng() % 12);
		double	   *v = malloc(sizeof(double) * n);
		int			ties_ok = 1,
					brute_ok = 1,
					range_ok = 1;

		for (size_t i = 0; i < n; i++)
			v[i] = (double) (rng() % distinct);
		score_breakpoints(v, n, bins, breaks);	/* reorders v */
		qsort(v, n, sizeof(double), cmp_double);	/* sorted, for the brute-force definition */
		CHECK(score_breakpoints_invalid(breaks, bins - 1) < 0, "breakpoints sorted and finite");
		for (size_t i = 0; i < n; i++)
		{
			int			hi = score_of(v[i], breaks, bins - 1, true);
			int			lo = score_of(v[i], breaks, bins - 1, false);

			if (i > 0 && v[i] == v[i - 1] && hi != score_of(v[i - 1], breaks, bins - 1, true))
				ties_ok = 0;
			if (hi != brute_score(v[i], v, n, bins, 1) || lo != brute_score(v[i], v, n, bins, 0))
				brute_ok = 0;
			if (hi < 1 || hi > bins || lo != bins + 1 - hi)
				range_ok = 0;
		}
		CHECK(ties_ok, "round %d: equal values share a score", round);
		CHECK(brute_ok, "round %d: scores match the brute-force definition", round);
		CHECK(range_ok, "round %d: scores in 1..bins and mirrored", round);
		/* The largest value scores bins when it is unique. */
		if (n >= (size_t) bins && (n == 1 || v[n - 1] != v[n - 2]))
			CHECK(score_of(v[n - 1], breaks, bins - 1, true) == bins, "a unique maximum scores bins");
		free(v);
	}

	/* Quintiles of 1..10: breakpoints 2, 4, 6, 8. */
	{
		double		v[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

		score_breakpoints(v, 10, 5, breaks);
		CHECK(breaks[0] == 2 && breaks[1] == 4 && breaks[2] == 6 && breaks[3] == 8, "quintiles of 1..10");
		CHECK(score_of(2, breaks, 4, true) == 1 && score_of(3, breaks, 4, true) == 2 &&
			  score_of(10, breaks, 4, true) == 5 && score_of(1, breaks, 4, false) == 5, "scores of 1..10");
	}
	{
		double		bad[3] = {1, NAN, 3},
					unsorted[3] = {1, 3, 2};

		CHECK(score_breakpoints_invalid(bad, 3) == 1 && score_breakpoints_invalid(unsorted, 3) == 2,
			  "invalid breakpoints found");
	}
}

/* Rescaled scores, cell labels and weighted means against their definitions computed another way. */
void
test_score_labels(void)
{
	int			rescale_ok = 1;

	for (int bins = 2; bins <= 100; bins++)
		for (int s = 1; s <= bins; s++)
		{
			/* round half up of (s - 1) * 4 / (bins - 1), in exact halves: twice the value, compared to odd */
			int			twice = 2 * (s - 1) * 4;	/* 2x * (bins - 1) */
			int			k = 0;

			while ((2 * k + 1) * (bins - 1) <= twice)	/* k + 1/2 <= x: rounds to k + 1 at least */
				k++;
			if (score_rescale5(s, bins) != 1 + k)
				rescale_ok = 0;
		}
	CHECK(rescale_ok, "score_rescale5 equals 1 + round-half-up((s - 1) * 4 / (bins - 1)) for bins 2..100");
	CHECK(score_rescale5(1, 5) == 1 && score_rescale5(5, 5) == 5 && score_rescale5(2, 3) == 3 &&
		  score_rescale5(10, 10) == 5 && score_rescale5(1, 100) == 1, "score_rescale5 endpoints and a half");
	{
		char		buf[SCORE_CELL_LEN];

		CHECK(score_cell_label(5, 4, 5, buf) == 3 && strcmp(buf, "545") == 0, "cell 545");
		CHECK(score_cell_label(10, 5, 4, buf) == 6 && strcmp(buf, "10-5-4") == 0, "cell 10-5-4");
		CHECK(score_cell_label(100, 100, 100, buf) == 11 && strcmp(buf, "100-100-100") == 0, "cell 100-100-100");
	}
	{
		int			s[3] = {5, 1, 3};
		double		ones[3] = {1, 1, 1},
					w[3] = {2, 0, 1},
					huge[3] = {DBL_MAX, DBL_MAX, DBL_MAX};

		CHECK(score_weighted_mean(s, ones) == 3.0, "plain mean");
		CHECK(fabs(score_weighted_mean(s, w) - 13.0 / 3) < 1e-15, "weighted mean");
		CHECK(score_weighted_mean(s, huge) == 3.0, "weights near DBL_MAX do not overflow");
	}
}

/*
 * Unit tests of special_math.c: 2F1 near z = 1.
 */
#include "unit.h"

/* 2F1 near z = 1 against closed forms, on z = 1 - 2^-k (exact, so 1 - z is exact). */
void
test_hyp2f1_near_one(void)
{
	for (int k = 1; k <= 45; k++)
	{
		double		w = ldexp(1, -k),
					z = 1 - w,
					l = log(w);
		struct
		{
			double		a, b, c, expected;
			const char *name;
		}			cases[] = {
			{1, 1, 2, -l / z, "2F1(1, 1; 2; z) = -log(1 - z) / z (c - a - b = 0)"},
			{1, 1, 3, 2 * (w * l + z) / (z * z), "2F1(1, 1; 3; z) = 2 ((1 - z) log(1 - z) + z) / z^2 (c - a - b = 1)"},
			{0.3, 2.5, 2.5, exp(-0.3 * l), "2F1(a, b; b; z) = (1 - z)^-a (c - a - b = -0.3)"},
			{2, 0.7, 0.7, exp(-2 * l), "2F1(2, b; b; z) = (1 - z)^-2 (c - a - b = -2)"},
			{0.5, 0.5, 1.5, atan2(sqrt(z), sqrt(w)) / sqrt(z), "2F1(1/2, 1/2; 3/2; z) = asin(sqrt z) / sqrt z (c - a - b = 0.5)"},
			{1, 1 + 4e-6, 2, 0, "2F1(1, 1 + 4e-6; 2; z), c - a - b = -4e-6: between its neighbours"},
		};

		for (int i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++)
		{
			double		v = hyp2f1(cases[i].a, cases[i].b, cases[i].c, z);

			if (cases[i].expected == 0)		/* monotone in b: between b = 1 and b = 1 + 1e-5 */
			{
				double		lo = hyp2f1(1, 1, 2, z),
							hi = hyp2f1(1, 1 + 1e-5, 2, z);

				CHECK(v > lo && v < hi, "k = %d: %s: %.17g not in (%.17g, %.17g)", k, cases[i].name, v, lo, hi);
				continue;
			}
			CHECK(fabs(v - cases[i].expected) <= 1e-13 * fabs(cases[i].expected),
				  "k = %d: %s: %.17g, expected %.17g", k, cases[i].name, v, cases[i].expected);
		}
	}
}

/* gamma_q as chi-square upper tails with closed forms: df 1 erfc(sqrt(x/2)), df 2 e^(-x/2), df 4 e^(-x/2)(1 + x/2). */
void
test_gamma_q(void)
{
	for (double x = 0; x < 200; x = x * 1.3 + 0.01)
	{
		double		q1 = gamma_q(0.5, x / 2),
					q2 = gamma_q(1, x / 2),
					q4 = gamma_q(2, x / 2),
					e1 = erfc(sqrt(x / 2)),
					e2 = exp(-x / 2),
					e4 = exp(-x / 2) * (1 + x / 2);

		CHECK(fabs(q1 - e1) <= 1e-13 * e1 + 1e-300, "df 1, x %g: %.17g vs %.17g", x, q1, e1);
		CHECK(fabs(q2 - e2) <= 1e-13 * e2 + 1e-300, "df 2, x %g: %.17g vs %.17g", x, q2, e2);
		CHECK(fabs(q4 - e4) <= 1e-13 * e4 + 1e-300, "df 4, x %g: %.17g vs %.17g", x, q4, e4);
	}
	CHECK(gamma_q(3, 0) == 1, "Q(a, 0) = 1");
}

/*
 * Unit tests of clv_math.c: closed forms against loop sums.
 */
#include "unit.h"

void
test_clv(void)
{
	/* Closed forms against loop sums, every timing, q below, at and above 1. */
	for (int round = 0; round < 2000; round++)
	{
		double		m = 1 + (double) (rng() % 1000);
		double		r = (double) (rng() % 1001) / 1000.0;
		double		d = (double) (rng() % 400) / 1000.0;
		double		g = (double) (rng() % 200) / 1000.0 - 0.05;
		int			n = (int) (rng() % 200);
		int			timing = (int) (rng() % 3);
		double		loop = 0,
					closed = clv_retention(m, r, d, n, timing, g);

		for (int k = 1; k <= n; k++)
		{
			double		grow = pow(1 + g, k - 1);

			loop += timing == CLV_START ? m * grow * pow(r, k - 1) / pow(1 + d, k - 1)
				: timing == CLV_END ? m * grow * pow(r, k) / pow(1 + d, k)
				: m * grow * pow(r, k - 1) / pow(1 + d, k);
		}
		if (fabs(closed - loop) > 1e-9 * fabs(loop) + 1e-12 || round % 400 == 0)
			CHECK(fabs(closed - loop) <= 1e-9 * fabs(loop) + 1e-12, "m %g r %g d %g g %g n %d timing %d: %.15g vs loop %.15g",
				  m, r, d, g, n, timing, closed, loop);
	}
	CHECK(fabs(clv_retention(100, 0.8, 0.1, -1, CLV_END, 0) - 800.0 / 3) < 1e-9, "100*0.8/(1.1-0.8)");
	CHECK(fabs(clv_retention(100, 0.8, 0.1, -1, CLV_START, 0) - 1100.0 / 3) < 1e-9, "100*1.1/0.3");
	CHECK(fabs(clv_retention(100, 0.8, 0.1, -1, CLV_END_FIRST, 0) - 1000.0 / 3) < 1e-9, "100/0.3");
	CHECK(clv_geometric_sum(1.0, 7) == 7 && clv_geometric_sum(0.5, 0) == 0, "geometric sum edge cases");
	CHECK(fabs(clv_period_rate(pow(1.01, 12) - 1, 12) - 0.01) < 1e-15, "12.68%% a year is 1%% a month");
	CHECK(fabs(clv_discount_factor(365.2425, 0.1, false) - 1.1) < 1e-12 &&
		  fabs(clv_discount_factor(-365.2425, 0.1, true) - exp(-0.1)) < 1e-12, "discount factors");
}

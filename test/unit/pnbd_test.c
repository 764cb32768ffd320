/*
 * Unit tests of pnbd_math.c: the PMF and the analytic gradient of the log-likelihood.
 */
#include "unit.h"

/* The Pareto/NBD log-likelihood with parameter j moved by d. */
static double
pnbd_loglik_moved(const double *p, int j, double d, const double *h)
{
	double		q[4];

	memcpy(q, p, sizeof(q));
	q[j] += d;
	return pnbd_loglik(q, h[0], h[1], h[2]);
}

/*
 * The analytic gradient of the Pareto/NBD log-likelihood (through the
 * derivatives of log 2F1, series and quadrature) against a five-point
 * difference quotient, on both branches (alpha >= beta and alpha < beta),
 * with z small and near 1, in log-parameter units (the fit's own): to 1e-8
 * for ordinary parameters, to 1e-5 where s is in the tens of thousands (the
 * derivative in s is then a difference of nearly equal terms).
 */
void
test_pareto_nbd_gradient(void)
{
	const double params[][4] = {{0.553, 10.578, 0.606, 11.669}, {1.0, 20.0, 0.5, 5.0}, {0.5, 1.0, 3.0, 2000.0},
	{2.08, 4.5, 22352.6, 126512.0}, {3.9, 0.0004, 41204.0, 45.8}, {1.2, 300.0, 22352.6, 40.0}};
	const double hist[][3] = {{0, 0, 30}, {2, 10, 38}, {5, 30, 38}, {3, 0.001, 50}, {1, 38, 38}, {40, 5, 106}};
	double		worst_ordinary = 0,
				worst_extreme = 0;

	for (int k = 0; k < 6; k++)
		for (int h = 0; h < 6; h++)
		{
			double		g[4];

			pnbd_loglik_grad(params[k], hist[h][0], hist[h][1], hist[h][2], g);
			for (int j = 0; j < 4; j++)
			{
				const double *p = params[k];
				double		d = 1e-4 * p[j];
				double		num = (-pnbd_loglik_moved(p, j, 2 * d, hist[h]) + 8 * pnbd_loglik_moved(p, j, d, hist[h])
								   - 8 * pnbd_loglik_moved(p, j, -d, hist[h]) + pnbd_loglik_moved(p, j, -2 * d, hist[h])) / (12 * d);
				double		err = fabs(g[j] - num) * p[j] / fmax(1, fabs(num) * p[j]);

				if (k < 3)
					worst_ordinary = fmax(worst_ordinary, isfinite(err) ? err : INFINITY);
				else
					worst_extreme = fmax(worst_extreme, isfinite(err) ? err : INFINITY);
			}
		}
	CHECK(worst_ordinary < 1e-8, "analytic Pareto/NBD gradient, ordinary parameters: worst %.2g", worst_ordinary);
	CHECK(worst_extreme < 1e-5, "analytic Pareto/NBD gradient, s in the tens of thousands: worst %.2g", worst_extreme);
}

/* Pareto/NBD predictions: the PMF is a distribution whose mean is the closed-form expectation. */
void
test_pareto_nbd(void)
{
	const double params[][4] = {{0.553, 10.578, 0.606, 11.669}, {0.8, 3.0, 0.5, 12.0}, {0.55, 10.6, 1.0, 11.7}};
	const double hist[][3] = {{0, 0, 0}, {0, 0, 20}, {2, 30.43, 38.86}, {9, 12, 38}};

	for (int k = 0; k < 3; k++)
		for (int h = 0; h < 4; h++)
		{
			const double *p = params[k];
			double		x = hist[h][0],
						tx = hist[h][1],
						T = hist[h][2];
			double		total = 0,
						mean = 0,
						expected = pnbd_expected(p, 39, x, tx, T);

			for (int n = 0; n <= 800; n++)
			{
				double		pn = pnbd_pmf(p, 39, n, x, tx, T);

				CHECK(pn >= -1e-15 && pn <= 1 + 1e-15, "P(X = %d) = %g is a probability", n, pn);
				total += pn;
				mean += n * pn;
			}
			CHECK(fabs(total - 1) < 1e-10, "params %d history %d: PMF sums to %.15f", k, h, total);
			CHECK(fabs(mean - expected) < 1e-9 * expected, "params %d history %d: mean %.12f = expectation %.12f",
				  k, h, mean, expected);
		}
	/* A new customer is a customer with an empty history; s = 1 is the limit of s -> 1. */
	CHECK(fabs(pnbd_expected_new(params[0], 39) - pnbd_expected(params[0], 39, 0, 0, 0)) < 1e-14, "new = empty history");
	{
		double		lo[4] = {0.55, 10.6, 1 - 1e-9, 11.7},
					hi[4] = {0.55, 10.6, 1 + 1e-9, 11.7};
		double		at = pnbd_expected_new(params[2], 39);

		CHECK(fabs(pnbd_expected_new(lo, 39) - at) < 1e-8 * at && fabs(pnbd_expected_new(hi, 39) - at) < 1e-8 * at,
			  "expectation continuous at s = 1: %.12f", at);
	}
}

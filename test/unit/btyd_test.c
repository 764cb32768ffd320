/*
 * Unit tests of bgnbd_math.c, gg_math.c, fit_math.c: special functions, compaction, predictions, the fit's optimum.
 */
#include "unit.h"

/* log 2F1(a, b; a + 1; z) by its series in long double, until the tail bound is below 1e-20 of the sum. */
static double
ref_log_hyp2f1_c_a1(double a, double b, double z)
{
	long double term = 1,
				sum = 1;

	for (long k = 0; k < 100000000; k++)
	{
		long double ratio = ((long double) a + k) * ((long double) b + k) / (((long double) a + 1 + k) * (k + 1.0L)) * z;

		term *= ratio;
		sum += term;
		if (k > 2 && ratio < 1 && term <= 1e-20L * (1 - ratio) * sum)
			break;
	}
	return (double) logl(sum);
}

/* bgnbd_expected_new by its defining formula in long double, where the cancellation near a = 1 costs 4 digits of 19. */
static double
ref_bgnbd_expected_new(double r, double alpha, double a, double b, double t)
{
	long double z = (long double) t / ((long double) alpha + t),
				c = (long double) a + b - 1,
				term = 1,
				sum = 1;

	for (long k = 0; k < 10000000; k++)
	{
		long double ratio = ((long double) r + k) * ((long double) b + k) / ((c + k) * (k + 1.0L)) * z;

		term *= ratio;
		sum += term;
		if (k > 2 && ratio < 1 && term <= 1e-21L * (1 - ratio) * sum)
			break;
	}
	return (double) (c / ((long double) a - 1) * (1 - powl((long double) alpha / ((long double) alpha + t), r) * sum));
}

void
test_btyd(void)
{
	BtydRows	rows = {0};
	double		p[4] = {0.243, 4.414, 0.793, 2.426};

	/* Special functions at known values. */
	CHECK(fabs(digamma(1.0) + 0.57721566490153286) < 1e-14, "digamma(1) = -Euler gamma");
	CHECK(fabs(digamma(0.5) + 1.9635100260214235) < 1e-13, "digamma(1/2)");
	CHECK(fabs(digamma(10.0) - 2.2517525890667211) < 1e-14, "digamma(10)");
	CHECK(fabs(hyp2f1(1, 1, 2, 0.5) - 2 * log(2.0)) < 1e-14, "2F1(1,1;2;1/2) = 2 ln 2");
	CHECK(fabs(hyp2f1(0.5, 1, 1.5, 0.25) - atanh(0.5) / 0.5) < 1e-14, "2F1(1/2,1;3/2;z^2) = atanh(z)/z");
	CHECK(isnan(hyp2f1(1, 1, 2, 1.0)), "2F1 outside [0, 1) refused");
	/*
	 * BG/NBD expectations near a = 1, where the closed form is 0/0: the series
	 * without cancellation against the closed form in long double (1e-4 <=
	 * |a - 1| <= 9e-4), continuous through a = 1 (the limit), and the two
	 * sides of the switch at |a - 1| = 1e-3 agree.
	 */
	{
		const double hs[] = {1e-4, 3e-4, 9e-4, -1e-4, -9e-4};
		const double ts[] = {1, 39, 400};
		double		worst = 0,
					jump = 0;

		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 3; j++)
			{
				double		p[4] = {0.24, 4.41, 1 + hs[i], 2.43};
				double		ref = ref_bgnbd_expected_new(0.24, 4.41, 1 + hs[i], 2.43, ts[j]);

				worst = fmax(worst, fabs(bgnbd_expected_new(p, ts[j]) - ref) / ref);
			}
		for (int j = 0; j < 3; j++)
		{
			double		at1[4] = {0.24, 4.41, 1, 2.43},
						up[4] = {0.24, 4.41, 1 + 1e-9, 2.43},
						down[4] = {0.24, 4.41, 1 - 1e-9, 2.43},
						below[4] = {0.24, 4.41, 1 + 1e-3 * (1 - 1e-9), 2.43},
						above[4] = {0.24, 4.41, 1 + 1e-3 * (1 + 1e-9), 2.43};
			double		e1 = bgnbd_expected_new(at1, ts[j]);

			jump = fmax(jump, fmax(fabs(bgnbd_expected_new(up, ts[j]) - e1), fabs(bgnbd_expected_new(down, ts[j]) - e1)) / e1);
			jump = fmax(jump, fabs(bgnbd_expected_new(above, ts[j]) - bgnbd_expected_new(below, ts[j])) / e1);
		}
		CHECK(worst < 1e-12, "BG/NBD expectation near a = 1 equals the closed form in long double (worst relative %.2g)", worst);
		CHECK(jump < 1e-8, "... and is continuous through a = 1 and across the switch (largest step %.2g)", jump);
	}
	/*
	 * Euler's transformation (log_hyp2f1 goes that way first when a + b > c + 1)
	 * against the plain series (hyp2f1 goes that way first), on Pareto/NBD-like
	 * arguments c = a + 1 up to z = 1 - 1e-4 with a large a, where the plain
	 * series needs ~10^5 terms.
	 */
	{
		const double as[] = {3.5, 60.5, 900.5};
		const double bs[] = {2.5, 11.6, 50.55};
		const double zs[] = {0.1, 0.9, 0.999, 0.9999};
		double		worst = 0;

		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++)
				for (int k = 0; k < 4; k++)
				{
					double		e = log_hyp2f1(as[i], bs[j], as[i] + 1, zs[k]);
					double		d = log(hyp2f1(as[i], bs[j], as[i] + 1, zs[k]));
					double		rel = fabs(e - d) / fmax(1, fabs(d));

					worst = fmax(worst, isfinite(rel) ? rel : INFINITY);
				}
		CHECK(worst < 1e-13, "log 2F1 through Euler's transformation equals the plain series (worst relative %.2g)", worst);
	}
	/*
	 * 2F1(a, b; a + 1; z) by quadrature above z = 0.95 against the series summed
	 * in long double with a bound on its tail, for a from 0.3 to 3e4, b from 0.2
	 * to 150 and z up to 1 - 1e-5 (the plain double series drifts by up to 6e-13
	 * there; scipy and an exactly rounded sum agree with the quadrature).
	 */
	{
		const double as[] = {0.3, 1.7, 25.5, 900.5, 30000.5};
		const double bs[] = {0.2, 1.0, 3.55, 11.6, 60.5, 150.5};
		const double zs[] = {0.951, 0.97, 0.99, 0.995, 0.999, 0.9999, 0.99999};
		double		worst = 0;
		int			compared = 0;

		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 6; j++)
				for (int k = 0; k < 7; k++)
				{
					double		q,
								ref;

					if ((bs[j] + 40) / (1 - zs[k]) > 3e6)
						continue;	/* the reference would take too long */
					q = log_hyp2f1_c_a1(as[i], bs[j], zs[k]);
					ref = ref_log_hyp2f1_c_a1(as[i], bs[j], zs[k]);
					compared++;
					worst = fmax(worst, isfinite(q) ? fabs(q - ref) / fmax(1, fabs(ref)) : INFINITY);
				}
		CHECK(compared >= 180 && worst < 1e-14,
			  "2F1(a, b; a+1; z) by quadrature equals a long double series in %d cases (worst relative %.2g)", compared, worst);
	}

	/* Compaction merges duplicates and keeps the weight. */
	for (int i = 0; i < 5000; i++)
		btyd_rows_add(&rows, (double) (i % 7), (double) (i % 7), 10 + (i % 3), 1, &alloc);
	btyd_rows_compact(&rows, &alloc);
	CHECK(rows.n == 21 && btyd_rows_weight(&rows) == 5000, "5000 rows compact to %lld distinct", (long long) rows.n);

	/*
	 * Compaction in batches (each batch sorted, then merged with the sorted
	 * rows before it) gives what one sort gives: 200,000 pseudo-random rows
	 * over 40 x 50 x 60 keys, weights counted per key independently.
	 */
	{
		static int	counts[40][50][60];
		BtydRows	many = {0};
		uint64_t	seed = 12345;
		bool		ok = true;
		int64_t		distinct = 0;

		for (int i = 0; i < 200000; i++)
		{
			int			key[3];

			for (int d = 0; d < 3; d++)
			{
				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				key[d] = (int) ((seed >> 33) % (uint64_t) (d == 0 ? 40 : d == 1 ? 50 : 60));
			}
			/* skewed toward small keys, as purchase histories are */
			key[1] = key[1] * key[1] / 50;
			distinct += counts[key[0]][key[1]][key[2]]++ == 0;
			btyd_rows_add(&many, key[0], key[1], key[2], 1, &alloc);
		}
		btyd_rows_compact(&many, &alloc);
		for (int64_t i = 0; i < many.n; i++)
		{
			const BtydRow *r = &many.rows[i];

			ok &= r->w == counts[(int) r->x][(int) r->tx][(int) r->T];
			if (i > 0)
			{
				const BtydRow *q = &many.rows[i - 1];

				ok &= q->x < r->x || (q->x == r->x && (q->tx < r->tx || (q->tx == r->tx && q->T < r->T)));
			}
		}
		CHECK(ok && many.n == distinct && btyd_rows_weight(&many) == 200000,
			  "200,000 rows compacted in batches: %lld sorted distinct rows (%lld keys), weights = counts",
			  (long long) many.n, (long long) distinct);
	}

	/* P(alive) and expectations behave: no repeat purchase = alive; more time, more purchases. */
	CHECK(bgnbd_p_alive(p, 0, 0, 30) == 1, "x = 0 is alive");
	CHECK(bgnbd_p_alive(p, 3, 30, 30) > bgnbd_p_alive(p, 3, 5, 30), "a recent buyer is likelier alive");
	CHECK(bgnbd_expected(p, 52, 3, 30, 30) > bgnbd_expected(p, 26, 3, 30, 30), "expectations grow with the horizon");
	{
		double		sum = 0;

		for (int n = 0; n < 400; n++)
			sum += bgnbd_pmf_new(p, 39, n);
		CHECK(fabs(sum - 1) < 1e-9, "P(X(39) = n) sums to %.12f", sum);
	}

	/* The fit recovers the maximum of a data set drawn from its own expectation: LL at the fit >= LL near it. */
	{
		BtydRows	data = {0};
		BtydFit		fit;
		double		ll_fit = 0,
					ll_near = 0,
					q[4];

		/* Simulated BG/NBD customers: rate ~ Gamma(1, 1/5) (exponential), dropout ~ Beta(1, 2). */
		for (int i = 0; i < 5000; i++)
		{
			double		u1 = ((double) (rng() >> 11) + 0.5) / 9007199254740992.0;
			double		u2 = ((double) (rng() >> 11) + 0.5) / 9007199254740992.0;
			double		lambda = -log(u1) / 5.0;
			double		drop = 1 - sqrt(u2);
			double		T = 20 + (double) (rng() % 60);
			double		t = 0,
						x = 0,
						tx = 0;

			for (;;)
			{
				double		u = ((double) (rng() >> 11) + 0.5) / 9007199254740992.0;

				t += -log(u) / lambda;
				if (t > T)
					break;
				x += 1;
				tx = t;
				if (((double) (rng() >> 11) + 0.5) / 9007199254740992.0 < drop)
					break;
			}
			btyd_rows_add(&data, x, tx, T, 1, &alloc);
		}
		btyd_rows_compact(&data, &alloc);
		fit = btyd_fit_model(&bgnbd_spec, &data, 0, NULL);
		CHECK(fit.converged, "the fit converges (%d iterations)", fit.iterations);
		for (int k = 0; k < 4; k++)
			q[k] = fit.params[k] * (k % 2 ? 1.01 : 0.99);
		for (int64_t i = 0; i < data.n; i++)
		{
			ll_fit += data.rows[i].w * bgnbd_loglik(fit.params, data.rows[i].x, data.rows[i].tx, data.rows[i].T);
			ll_near += data.rows[i].w * bgnbd_loglik(q, data.rows[i].x, data.rows[i].tx, data.rows[i].T);
		}
		CHECK(fabs(ll_fit - fit.loglik) < 1e-6 * fabs(ll_fit), "reported LL %.6f = recomputed %.6f", fit.loglik, ll_fit);
		CHECK(ll_fit > ll_near, "the fit is a maximum (%.6f > %.6f)", ll_fit, ll_near);
	}
}

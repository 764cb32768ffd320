/*
 * Unit tests of covariate_math.c: compaction and scaled groups.
 */
#include "unit.h"

/*
 * Covariate fits with a known answer: customers of group B are those of group A with every time (or spend)
 * multiplied by c.  Their likelihood is A's at the rate (or spend) scale times c, up to a constant, so with a
 * dummy z = [customer in B] the maximum is the plain fit of A with the coefficient of that scale ln c (in the
 * models' signs) and every other coefficient 0.  Also: compaction merges whatever the order, -0 as 0.
 */
static double
uniform01(void)
{
	return ((double) (rng() >> 11) + 0.5) / 9007199254740992.0;
}

void
test_covariates(void)
{
	const double c = 2.0;
	const CovModelKind kinds[3] = {COV_BGNBD, COV_PNBD, COV_GG};
	CovRows		one = {1, 0, 0, 0, NULL},
				two = {1, 0, 0, 0, NULL};
	double		zero = 0.0,
				minus_zero = -0.0,
				unit = 1.0;

	for (int i = 0; i < 3000; i++)
	{
		int			j = 2999 - i;	/* the same rows backwards */
		double		zi = i % 3 == 0 ? unit : (i % 2 ? zero : minus_zero),
					zj = j % 3 == 0 ? unit : (j % 2 ? minus_zero : zero);

		cov_rows_add(&one, &zi, i % 5, i % 5 ? 10 + i % 7 : 0, 30, 1, &alloc);
		cov_rows_add(&two, &zj, j % 5, j % 5 ? 10 + j % 7 : 0, 30, 1, &alloc);
	}
	cov_rows_compact(&one);
	cov_rows_compact(&two);
	CHECK(one.n == two.n && memcmp(one.data, two.data, sizeof(double) * 5 * one.n) == 0 && one.n <= 2 * 5 * 7,
		  "compaction: %lld distinct rows whatever the order, -0 merged with 0", (long long) one.n);
	test_free(NULL, one.data);
	test_free(NULL, two.data);

	for (int m = 0; m < 3; m++)
	{
		CovModelKind kind = kinds[m];
		CovRows		rows = {1, kind == COV_GG ? 0 : 1, 0, 0, NULL};
		BtydRows	plain = {0, 0, NULL};
		CovFit		fit;
		BtydFit		a_only;
		int			nb = cov_base_model(kind)->n_params;
		double		worst_base = 0;

		for (int i = 0; i < 5000; i++)
		{
			/* BG/NBD customers as test_btyd draws them; spend: two exponentials of a rate ~ 0.02 + Exp(10) per transaction */
			double		lambda = -log(uniform01()) / 5.0,
						drop = 1 - sqrt(uniform01()),
						nu = 0.02 + -log(uniform01()) / 10,
						T = 20 + (double) (rng() % 60),
						t = 0,
						x = 0,
						tx = 0,
						spend = 0;
			double		za[2] = {0, 0},
						zb[2] = {1, 1};

			for (;;)
			{
				t += -log(uniform01()) / lambda;
				if (t > T)
					break;
				x += 1;
				tx = t;
				spend += (-log(uniform01()) - log(uniform01())) / nu;
				if (uniform01() < drop)
					break;
			}
			if (kind == COV_GG)
			{
				if (x == 0)
					continue;
				cov_rows_add(&rows, za, x, spend / x, 0, 1, &alloc);
				cov_rows_add(&rows, zb, x, spend / x * c, 0, 1, &alloc);
				btyd_rows_add(&plain, x, spend / x, 0, 1, &alloc);
			}
			else
			{
				cov_rows_add(&rows, za, x, tx, T, 1, &alloc);
				cov_rows_add(&rows, zb, x, tx * c, T * c, 1, &alloc);
				btyd_rows_add(&plain, x, tx, T, 1, &alloc);
			}
		}
		cov_rows_compact(&rows);
		btyd_rows_compact(&plain, &alloc);
		a_only = btyd_fit_model(kind == COV_BGNBD ? &bgnbd_spec : kind == COV_PNBD ? &pnbd_spec : &gg_spec, &plain, 0, NULL);
		cov_fit(kind, &rows, 0, true, &alloc, &fit);
		for (int p = 0; p < nb; p++)
			worst_base = fmax(worst_base, fabs(fit.fit.params[p] / a_only.params[p] - 1));
		CHECK(fit.fit.converged && worst_base < 1e-5, "model %d: base parameters are group A's plain fit (worst %.1e)", m, worst_base);
		if (kind == COV_BGNBD)
			CHECK(fabs(fit.fit.params[4] + log(c)) < 1e-5 && fabs(fit.fit.params[5]) < 1e-5 && fabs(fit.fit.params[6]) < 1e-5,
				  "BG/NBD: purchase coefficient %.8f = -ln 2, dropout %.1e %.1e = 0", fit.fit.params[4], fit.fit.params[5], fit.fit.params[6]);
		else if (kind == COV_PNBD)
			CHECK(fabs(fit.fit.params[4] + log(c)) < 1e-5 && fabs(fit.fit.params[5] + log(c)) < 1e-5,
				  "Pareto/NBD: purchase and dropout coefficients %.8f %.8f = -ln 2", fit.fit.params[4], fit.fit.params[5]);
		else
			CHECK(fabs(fit.fit.params[3] - log(c)) < 1e-5, "Gamma-Gamma: spend coefficient %.8f = ln 2", fit.fit.params[3]);
		CHECK(fit.has_cov && fit.cov[nb * fit.n + nb] > 0, "model %d: the coefficient has a variance", m);
		test_free(NULL, rows.data);
		test_free(NULL, plain.rows);
	}
}

/* sbg_math.c: the likelihood's gradient, the survival identities and DERL against loop sums. */
#include "unit.h"

void
test_sbg(void)
{
	const double models[][2] = {{0.704, 1.182}, {0.668, 3.806}, {2.5, 3.0}, {0.05, 40}};

	for (int m = 0; m < 4; m++)
	{
		const double *p = models[m];
		double		s_prev = 1;

		/* analytic gradient == central differences, cancelled and active histories */
		for (int k = 0; k < 30; k += 7)
			for (int churned = 0; churned <= 1; churned++)
			{
				double		g[2];

				sbg_loglik_grad(p, k, churned, g);
				for (int i = 0; i < 2; i++)
				{
					double		h = 1e-6 * p[i],
								up[2] = {p[0], p[1]},
								down[2] = {p[0], p[1]},
								num;

					up[i] += h;
					down[i] -= h;
					num = (sbg_loglik_grad(up, k, churned, NULL) - sbg_loglik_grad(down, k, churned, NULL)) / (2 * h);
					CHECK(fabs(num - g[i]) < 1e-6 * (1 + fabs(g[i])), "model %d k %d churned %d: d/dp%d %g vs %g", m, k, churned, i, g[i], num);
				}
			}
		/* S(t) = S(t-1) r(t) = S(t-1) - P(T = t); the likelihoods are log P(T = k+1) and log S(k) */
		for (int t = 1; t <= 200; t++)
		{
			double		s = sbg_survival(p, t);

			CHECK(fabs(s - s_prev * sbg_retention(p, t)) < 1e-12 * s_prev, "model %d: S(%d) = S(t-1) r(t)", m, t);
			CHECK(fabs(s - (s_prev - sbg_churn_probability(p, t))) < 1e-12, "model %d: S(%d) = S(t-1) - P(T=t)", m, t);
			CHECK(fabs(exp(sbg_loglik_grad(p, t - 1, true, NULL)) - sbg_churn_probability(p, t)) < 1e-14, "model %d: P(T=%d)", m, t);
			CHECK(fabs(exp(sbg_loglik_grad(p, t, false, NULL)) - s) < 1e-14, "model %d: S(%d)", m, t);
			s_prev = s;
		}
		/* DERL == sum_{j>=0} S(k+1+j)/S(k) (1+d)^-j, term by term */
		for (int k = 0; k <= 50; k += 10)
			for (double d = 0.3; d > 0.005; d /= 3)
			{
				double		term = (p[1] + k) / (p[0] + p[1] + k),
							sum = 0;

				for (int j = 0; j < 200000 && term > 1e-18 * sum; j++)
				{
					sum += term;
					term *= (p[1] + k + j + 1) / (p[0] + p[1] + k + j + 1) / (1 + d);
				}
				CHECK(fabs(sbg_derl(p, d, k) - sum) < 1e-10 * sum, "model %d k %d d %g: DERL %.15g vs %.15g", m, k, d, sbg_derl(p, d, k), sum);
				if (k == 0)
					CHECK(fabs(sbg_expected_payments_new(p, d) - (1 + sum / (1 + d))) < 1e-10 * sum, "model %d d %g: new", m, d);
			}
		/* undiscounted: (beta + k) / (alpha - 1), infinite when alpha <= 1 */
		CHECK(p[0] > 1 ? fabs(sbg_derl(p, 0, 4) - (p[1] + 4) / (p[0] - 1)) < 1e-14 : isinf(sbg_derl(p, 0, 4)),
			  "model %d: undiscounted DERL", m);
	}
}

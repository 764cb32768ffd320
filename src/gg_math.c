/*
 * gg_math.c: the Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and
 * CLV"): likelihood, fit and expected spend (see btyd_math.h), free of fmgr.
 */
#include "btyd_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double
gg_loglik(const double *prm, double x, double m)
{
	double		p = prm[0],
				q = prm[1],
				g = prm[2];

	return lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * log(g) + (p * x - 1) * log(m)
		+ p * x * log(x) - (p * x + q) * log(g + m * x);
}

static double
gg_objective(const double *theta, double *grad, const void *vctx)
{
	FitCtx	   *ctx = (FitCtx *) vctx;
	double		p = exp(theta[0]),
				q = exp(theta[1]),
				gm = exp(theta[2]);
	double		ll = 0,
				g[3] = {0, 0, 0};
	double		lg_q = lgamma(q),
				dg_q = digamma(q),
				log_g = log(gm);
	double		cur_x = -1,
				x_ll = 0,		/* the terms of one x: lgamma(px + q) - lgamma(px) + px log x */
				dx_p = 0,		/* x (digamma(px + q) - digamma(px) + log x) */
				dg_pxq = 0;

	cs_check_interrupts();
	for (int64_t i = 0; i < ctx->rows->n; i++)
	{
		const BtydRow *row = &ctx->rows->rows[i];
		double		x = row->x,
					m = row->tx,
					w = row->w;
		double		px = p * x,
					lgm = log(gm + m * x),
					lm = log(m);

		if (x != cur_x)
		{
			/* the rows are sorted by x: these depend on it alone */
			double		lx = log(x);

			cur_x = x;
			dg_pxq = digamma(px + q);
			x_ll = lgamma(px + q) - lgamma(px) + px * lx;
			dx_p = x * (dg_pxq - digamma(px) + lx);
		}
		ll += w * (x_ll - lg_q + q * log_g + (px - 1) * lm - (px + q) * lgm);
		g[0] += w * (dx_p + x * (lm - lgm));
		g[1] += w * (dg_pxq - dg_q + log_g - lgm);
		g[2] += w * (q / gm - (px + q) / (gm + m * x));
	}
	{
		double		params[3] = {p, q, gm};

		return penalised_objective(ctx, ll, g, params, 3, grad);
	}
}

static double
positive_or_one(double v)
{
	return isfinite(v) && v > 0 ? v : 1;
}

/* p = q = 1, gamma at the mean spend */
static void
gg_fit_start(const BtydRows *rows, double *start)
{
	start[0] = start[1] = 1;
	start[2] = positive_or_one(btyd_rows_mean_tx(rows));
}

const BtydModelSpec gg_spec = {gg_objective, 3, {"p", "q", "gamma"}, 0x3, gg_fit_start};	/* shapes: p, q */

double
gg_expected_spend(const double *prm, double x, double m)
{
	double		p = prm[0],
				q = prm[1],
				g = prm[2];

	if (q <= 1)
		return NAN;
	return p * (g + x * m) / (p * x + q - 1);
}

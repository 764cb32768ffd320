/*
 * special_math.h: special functions of the BTYD models, free of fmgr:
 * digamma, the Gauss hypergeometric function 2F1 (series, Euler's
 * transformation, series in 1 - z near z = 1, quadrature for c = a + 1),
 * and log-space sums.
 */
#ifndef SPECIAL_MATH_H
#define SPECIAL_MATH_H

#include <math.h>

/* Terms a 2F1 series may take before it counts as not converging. */
#define HYP2F1_MAX_TERMS 2000000

/* Gauss hypergeometric 2F1(a, b; c; z) and its log for 0 <= z < 1; NaN if their series do not converge. */
double		hyp2f1(double a, double b, double c, double z);
double		log_hyp2f1(double a, double b, double c, double z);
double		log_hyp2f1_c_a1(double a, double b, double z);	/* log 2F1(a, b; a + 1; z), any z in [0, 1) */

/* log 2F1(a, b; a + 1; z) and its partial derivatives in a, b and z. */
typedef struct Log2F1
{
	double		v,
				da,
				db,
				dz;
} Log2F1;
Log2F1		log_hyp2f1_c_a1_grad(double a, double b, double z);

double		digamma(double x);

/* Regularized upper incomplete gamma Q(a, x), a > 0, x >= 0; the chi-square upper tail is Q(df / 2, x / 2). */
double		gamma_q(double a, double x);

/* log(exp(u) + exp(v)) without overflow. */
static inline double
logaddexp(double u, double v)
{
	double		m = u > v ? u : v;

	if (m == -INFINITY)
		return m;
	return m + log(exp(u - m) + exp(v - m));
}

/*
 * log(exp(u) + exp(v)) and the two terms' shares wu = e^u / (e^u + e^v), wv
 * = 1 - wu, from one exponential; one of u, v may be -Inf.
 */
static inline double
logaddexp_shares(double u, double v, double *wu, double *wv)
{
	double		e;

	if (v > u)
	{
		e = exp(u - v);
		*wv = 1 / (1 + e);
		*wu = e * *wv;
		return v + log1p(e);
	}
	e = exp(v - u);
	*wu = 1 / (1 + e);
	*wv = e * *wu;
	return u + log1p(e);
}

/*
 * log(exp(u) - exp(v)) for u >= v, -Inf when equal, and the ratio e^(v - u)
 * it takes (for a caller's derivatives: d/du = 1 / (1 - ratio)).
 */
static inline double
logsubexp_ratio(double u, double v, double *ratio)
{
	if (v == -INFINITY)
	{
		*ratio = 0;
		return u;
	}
	*ratio = exp(v - u);
	return *ratio >= 1 ? -INFINITY : u + log1p(-*ratio);
}

static inline double
logsubexp(double u, double v)
{
	double		ratio;

	return logsubexp_ratio(u, v, &ratio);
}

#endif

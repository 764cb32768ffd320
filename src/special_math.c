/*
 * special_math.c: digamma and the Gauss hypergeometric function (see
 * special_math.h), free of fmgr.
 */
#include "special_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cs_math.h"

double
digamma(double x)
{
	double		result = 0,
				inv,
				inv2;

	if (x <= 0 && floor(x) == x)
		return NAN;
	if (x < 0)					/* reflection */
		return digamma(1 - x) - M_PI / tan(M_PI * x);
	while (x < 10)
	{
		result -= 1 / x;
		x += 1;
	}
	inv = 1 / x;
	inv2 = inv * inv;
	/* Asymptotic series; the first omitted term is below 1e-16 for x >= 10. */
	return result + log(x) - 0.5 * inv
		- inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240
				  - inv2 * (1.0 / 132 - inv2 * (691.0 / 32760 - inv2 / 12.0))))));
}

/* The sum of the 2F1 series, or NaN when it has not converged within HYP2F1_MAX_TERMS terms. */
static double
hyp2f1_series(double a, double b, double c, double z)
{
	double		term = 1,
				sum = 1;

	for (int k = 0; k < HYP2F1_MAX_TERMS; k++)
	{
		double		denom = (c + k) * (k + 1);
		double		ratio;

		if ((k & 4095) == 4095)
			cs_check_interrupts();
		if (denom == 0)
			return NAN;
		ratio = (a + k) * (b + k) / denom * z;
		term *= ratio;
		sum += term;
		if (!isfinite(sum))
			return NAN;
		/* the tail after this term is below term * ratio / (1 - ratio) once the ratios fall below 1 */
		if (k > 2 && fabs(ratio) < 1 && fabs(term) <= 1e-17 * (1 - fabs(ratio)) * fabs(sum))
			return sum;
	}
	return NAN;
}

static double hyp2f1_near_one(double a, double b, double c, double w);

/* log((1 - z)^(c-a-b) 2F1(c-a, c-b; c; z)), Euler's transformation of 2F1(a, b; c; z). */
static double
hyp2f1_euler_log(double a, double b, double c, double z)
{
	return (c - a - b) * log1p(-z) + log(hyp2f1_series(c - a, c - b, c, z));
}

/*
 * log 2F1(a, b; c; z) for 0 <= z < 1.  The series' terms grow for about
 * (a + b - c - 1) z / (1 - z) terms before they fall, which near z = 1 with a
 * large a or b (the Pareto/NBD likelihood at large s or beta) takes millions
 * of terms.  Euler's transformation turns that growth into decay; its terms
 * are positive when c > a > 0 and c > b > 0, so it loses no precision.  The
 * series expected to be shorter goes first, the other if it does not converge.
 */
double
log_hyp2f1(double a, double b, double c, double z)
{
	bool		euler_ok = c > a && c > b && a > 0 && b > 0;
	double		v;

	if (z < 0 || z >= 1 || !isfinite(z))
		return NAN;
	if (euler_ok && a + b - c - 1 > 0)
	{
		v = hyp2f1_euler_log(a, b, c, z);
		return isnan(v) ? log(hyp2f1_series(a, b, c, z)) : v;
	}
	v = log(hyp2f1_series(a, b, c, z));
	if (isnan(v) && euler_ok)
		v = hyp2f1_euler_log(a, b, c, z);
	if (isnan(v) && z > 0.5 && a > 0 && b > 0 && c > 0)	/* series in 1 - z, exact for z > 0.5 */
		v = log(hyp2f1_near_one(a, b, c, 1 - z));
	return v;
}

/*
 * Gauss-Legendre nodes and weights on [-1, 1] (GL_POINTS of them), computed
 * once by Newton's method on the Legendre polynomial.
 */
#define GL_POINTS 12
static double gl_node[GL_POINTS],
			gl_weight[GL_POINTS];

static void
gauss_legendre_init(void)
{
	if (gl_weight[0] != 0)
		return;
	for (int i = 0; i < (GL_POINTS + 1) / 2; i++)
	{
		double		x = cos(M_PI * (i + 0.75) / (GL_POINTS + 0.5)),
					dp = 1;

		for (int iter = 0; iter < 100; iter++)
		{
			double		p0 = 1,
						p1 = x,
						dx;

			for (int k = 2; k <= GL_POINTS; k++)
			{
				double		p2 = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;

				p0 = p1;
				p1 = p2;
			}
			dp = GL_POINTS * (x * p1 - p0) / (x * x - 1);
			dx = p1 / dp;
			x -= dx;
			if (fabs(dx) < 1e-16)
				break;
		}
		gl_node[i] = -x;
		gl_node[GL_POINTS - 1 - i] = x;
		gl_weight[i] = gl_weight[GL_POINTS - 1 - i] = 2 / ((1 - x * x) * dp * dp);
	}
}

/*
 * log 2F1(a, b; a + 1; z) for 0 < z < 1, a > 0, b > 0, by quadrature, for
 * where the series are long: z near 1 with a large a (the Pareto/NBD
 * likelihood when s and beta grow together), where they need millions of
 * terms.  With t = exp(-w / a),
 *   2F1(a, b; a+1; z) = a int_0^1 t^(a-1) (1 - z t)^(-b) dt
 *                     = int_0^inf exp(-w) (1 - z exp(-w/a))^(-b) dw.
 * The integrand decreases, falls like exp(-w) and near w = 0 like
 * (1 + w/h)^(-b), h = a (1 - z) / z, so on the scale h / b: 12-point
 * Gauss-Legendre on [0, min(h / (8 max(b, 1)), 1)] and on intervals doubling
 * from there up to w = 45 (the rest is below 1e-19 of the integral) resolves
 * it; sums are taken in log space.
 */
static Log2F1
log_hyp2f1_c_a1_quadrature(double a, double b, double z, bool grad)
{
	double		lo = 0,
				hi,
				logs[64 * GL_POINTS],
				d_a[64 * GL_POINTS],
				d_b[64 * GL_POINTS],
				d_z[64 * GL_POINTS],
				m = -INFINITY,
				sum = 0;
	Log2F1		f = {0, 0, 0, 0};
	int			n = 0;

	gauss_legendre_init();
	hi = fmin(a * (1 - z) / z / (8 * fmax(b, 1)), 1);
	while (lo < 45 && n + GL_POINTS <= 64 * GL_POINTS)
	{
		double		mid = (lo + hi) / 2,
					half = (hi - lo) / 2;

		for (int i = 0; i < GL_POINTS; i++)
		{
			double		w = mid + half * gl_node[i];
			double		em1 = expm1(-w / a);
			/* q = 1 - z exp(-w/a) = (1 - z) - z expm1(-w/a), without cancellation */
			double		q = (1 - z) - z * em1;
			double		l = log(half * gl_weight[i]) - w - b * log(q);

			logs[n] = l;
			if (grad)
			{
				/* derivatives of the log integrand -w - b log q */
				d_a[n] = b * z * (1 + em1) * w / (a * a * q);
				d_b[n] = -log(q);
				d_z[n] = b * (1 + em1) / q;
			}
			n++;
			m = fmax(m, l);
		}
		lo = hi;
		hi = fmin(2 * hi, 45);
	}
	for (int i = 0; i < n; i++)
	{
		double		e = exp(logs[i] - m);

		sum += e;
		if (grad)
		{
			f.da += e * d_a[i];
			f.db += e * d_b[i];
			f.dz += e * d_z[i];
		}
	}
	f.v = m + log(sum);
	f.da /= sum;
	f.db /= sum;
	f.dz /= sum;
	return f;
}

/*
 * The series of 2F1(a, b; a+1; z) with the derivatives of its log: term k is
 * prod_{j<k} (a+j)(b+j) z / ((a+1+j)(j+1)), so d log(term k) is
 * sum_{j<k} (1/(a+j) - 1/(a+1+j)) in a, sum_{j<k} 1/(b+j) in b and k/z in z.
 */
static Log2F1
log_hyp2f1_c_a1_series(double a, double b, double z, bool grad)
{
	double		term = 1,
				sum = 1,
				la = 0,
				lb = 0,
				sa = 0,
				sb = 0,
				sz = 0;
	Log2F1		f;

	for (int k = 0; k < HYP2F1_MAX_TERMS; k++)
	{
		double		ratio = (a + k) * (b + k) / ((a + 1 + k) * (k + 1.0)) * z;

		if ((k & 4095) == 4095)
			cs_check_interrupts();
		term *= ratio;
		sum += term;
		if (grad)
		{
			la += 1 / (a + k) - 1 / (a + 1 + k);
			lb += 1 / (b + k);
			sa += term * la;
			sb += term * lb;
			sz += term * (k + 1);
		}
		if (!isfinite(sum))
			break;
		if (k > 2 && ratio < 1 && term <= 1e-17 * (1 - ratio) * sum)
		{
			f.v = log(sum);
			f.da = sa / sum;
			f.db = sb / sum;
			f.dz = z > 0 ? sz / (z * sum) : a * b / (a + 1);
			return f;
		}
	}
	f.v = f.da = f.db = f.dz = NAN;
	return f;
}

/*
 * log 2F1(a, b; a + 1; z) and, with grad, its partial derivatives (else
 * zero), for 0 <= z < 1, a > 0, b > 0: the series where it is short (z <=
 * 0.95 and b z / (1 - z) < 2000), quadrature elsewhere.  The value is the
 * same with or without grad.
 */
static Log2F1
log_hyp2f1_c_a1_of(double a, double b, double z, bool grad)
{
	if (z < 0 || z >= 1 || !isfinite(z) || !(a > 0) || !(b > 0))
	{
		Log2F1		nan = {NAN, NAN, NAN, NAN};

		return nan;
	}
	if (z == 0)
	{
		Log2F1		one = {0, 0, 0, a * b / (a + 1)};

		return one;
	}
	/* the series' terms grow for about b z / (1 - z) terms first: short only for z and b not too large */
	return z <= 0.95 && (b + 1) * z / (1 - z) < 2000 ? log_hyp2f1_c_a1_series(a, b, z, grad)
		: log_hyp2f1_c_a1_quadrature(a, b, z, grad);
}

Log2F1
log_hyp2f1_c_a1_grad(double a, double b, double z)
{
	return log_hyp2f1_c_a1_of(a, b, z, true);
}

double
log_hyp2f1_c_a1(double a, double b, double z)
{
	return log_hyp2f1_c_a1_of(a, b, z, false).v;
}

/*
 * Near z = 1 the series needs about 37 / (1 - z) terms (NaN beyond 0.99999 for
 * 2F1(1, 1; 2; z)) and sums rounding errors all the way.  Within
 * HYP2F1_NEAR_ONE of 1 (and wherever the series fails) 2F1 is computed from
 * series in w = 1 - z, which converge at once (Abramowitz & Stegun 15.3.6,
 * 15.3.10-12); farther away they can cancel badly for large a, b and the
 * series in z is the accurate one.  With d = c - a - b:
 *   d not an integer:  G(c)G(d)/(G(c-a)G(c-b)) F(a, b; 1-d; w)
 *                      + w^d G(c)G(-d)/(G(a)G(b)) F(c-a, c-b; 1+d; w);
 *   d = m = 0, 1, 2, ...: a finite sum and a series with digamma terms and log w
 *                      (15.3.11; m = 0 is 15.3.10);
 *   d a negative integer: Euler's transformation first, 2F1 = w^d F(c-a, c-b; c; z).
 * Within NEAR_INTEGER of an integer the first form cancels (its two terms are
 * of order 1/d), so 2F1 is interpolated in c through the integer form and the
 * first form at d = m +- h, m +- 2h (h = 2 NEAR_INTEGER, where the first
 * form loses about 1e-16 / (h |log w|)); the derivatives in c grow like
 * log(w)^k, so the quartic's error stays far below 1e-10 down to w = 1e-12.
 */
#define HYP2F1_NEAR_ONE 1e-3
#define NEAR_INTEGER 1e-5

/* log|Gamma(x)| and the sign of Gamma(x), 0 at its poles. */
static double
log_abs_gamma(double x, int *sign)
{
	if (x <= 0 && x == floor(x))
	{
		*sign = 0;
		return INFINITY;
	}
	*sign = x > 0 || fmod(floor(x), 2.0) == 0 ? 1 : -1;
	return lgamma(x);
}

/* sign * exp(log_scale + log G(n1) + log G(n2) - log G(d1) - log G(d2)); 0 when a denominator is at a pole. */
static double
gamma_ratio(double log_scale, double n1, double n2, double d1, double d2)
{
	int			s1,
				s2,
				s3,
				s4;
	double		l = log_scale + log_abs_gamma(n1, &s1) + log_abs_gamma(n2, &s2);
	double		m3 = log_abs_gamma(d1, &s3),
				m4 = log_abs_gamma(d2, &s4);

	if (s3 == 0 || s4 == 0)
		return 0;
	if (s1 == 0 || s2 == 0)
		return NAN;
	return s1 * s2 * s3 * s4 * exp(l - m3 - m4);
}

/* 15.3.6: d = c - a - b not an integer. */
static double
hyp2f1_w_general(double a, double b, double c, double w)
{
	double		d = c - a - b,
				lw = log(w),
				p = gamma_ratio(0, c, d, c - a, c - b),
				q = gamma_ratio(d * lw, c, -d, a, b);

	return (p == 0 ? 0 : p * hyp2f1_series(a, b, 1 - d, w))
		+ (q == 0 ? 0 : q * hyp2f1_series(c - a, c - b, 1 + d, w));
}

/* 15.3.11 (m = 0: 15.3.10): c = a + b + m, m = 0, 1, 2, ... */
static double
hyp2f1_w_integer(double a, double b, int m, double w)
{
	double		c = a + b + m,
				lw = log(w),
				finite = 0,
				term = 1,
				sum = 0,
				psi_n1 = digamma(1),
				psi_nm1 = digamma(m + 1),
				psi_anm = digamma(a + m),
				psi_bnm = digamma(b + m);

	for (int n = 0; n < m; n++)
	{
		finite += term;
		term *= (a + n) * (b + n) / ((n + 1) * (1.0 - m + n)) * w;
	}
	if (m > 0)
		finite *= gamma_ratio(0, m, c, a + m, b + m);
	/* term_n = (a+m)_n (b+m)_n / (n! (n+m)!) w^n, times the bracket */
	term = exp(-lgamma(m + 1.0));
	for (int n = 0; n < HYP2F1_MAX_TERMS; n++)
	{
		double		bracket = lw - psi_n1 - psi_nm1 + psi_anm + psi_bnm,
					ratio = (a + m + n) * (b + m + n) / ((n + 1.0) * (n + m + 1.0)) * w;

		sum += term * bracket;
		if (!isfinite(sum))
			return NAN;
		if (n > 2 && fabs(ratio) < 1 && fabs(term * ratio * (fabs(bracket) + 1)) <= 1e-17 * (1 - fabs(ratio)) * fabs(sum))
			return finite - (m % 2 ? -1 : 1) * gamma_ratio(m * lw, c, 1, a, b) * sum;
		psi_n1 += 1 / (n + 1.0);
		psi_nm1 += 1 / (n + m + 1.0);
		psi_anm += 1 / (a + m + n);
		psi_bnm += 1 / (b + m + n);
		term *= ratio;
	}
	return NAN;
}

/* 2F1(a, b; c; 1 - w) for small w > 0 from series in w; a and b not non-positive integers. */
static double
hyp2f1_near_one(double a, double b, double c, double w)
{
	double		d = c - a - b,
				m = round(d);

	if (fabs(d - m) >= NEAR_INTEGER)
		return hyp2f1_w_general(a, b, c, w);
	if (m < 0)					/* Euler: 2F1(a, b; c; z) = w^d 2F1(c - a, c - b; c; z), whose d is -d */
		return exp(d * log(w)) * hyp2f1_near_one(c - a, c - b, c, w);
	if (d == m)
		return hyp2f1_w_integer(a, b, (int) m, w);
	{
		/* Lagrange interpolation in s = c - (a + b + m) through s = -2h, -h, 0, h, 2h, at s = d - m */
		const double h = 2 * NEAR_INTEGER;
		double		s = d - m,
					v = 0;

		for (int i = -2; i <= 2; i++)
		{
			double		fi = i == 0 ? hyp2f1_w_integer(a, b, (int) m, w)
				: hyp2f1_w_general(a, b, a + b + m + i * h, w),
						li = 1;

			for (int j = -2; j <= 2; j++)
				if (j != i)
					li *= (s - j * h) / ((i - j) * h);
			v += fi * li;
		}
		return v;
	}
}

/* 2F1(a, b; c; z) for 0 <= z < 1: from series in 1 - z near 1, else the series (Euler's transformation when it does not converge). */
double
hyp2f1(double a, double b, double c, double z)
{
	double		v = NAN;
	bool		polynomial = (a <= 0 && a == floor(a)) || (b <= 0 && b == floor(b));

	bool		near_one_ok = z > 0.5 && !polynomial && !(c <= 0 && c == floor(c));

	if (z < 0 || z >= 1 || !isfinite(z))
		return NAN;
	if (near_one_ok && 1 - z < HYP2F1_NEAR_ONE)	/* 1 - z is exact for z > 0.5 */
		return hyp2f1_near_one(a, b, c, 1 - z);
	v = hyp2f1_series(a, b, c, z);
	if (isnan(v) && c > a && c > b && a > 0 && b > 0)
		v = exp(hyp2f1_euler_log(a, b, c, z));
	if (isnan(v) && near_one_ok)
		v = hyp2f1_near_one(a, b, c, 1 - z);
	return v;
}

/*
 * The regularized upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a), a > 0, x >= 0: the series of P(a, x)
 * below x = a + 1, the continued fraction of Q (modified Lentz) above, each to double precision.
 */
double
gamma_q(double a, double x)
{
	double		log_prefix;

	if (x <= 0)
		return 1;
	log_prefix = a * log(x) - x - lgamma(a);
	if (x < a + 1)
	{
		double		term = 1 / a,
					sum = term;

		for (int n = 1; n < 100000; n++)
		{
			term *= x / (a + n);
			sum += term;
			if (fabs(term) < fabs(sum) * 1e-17)
				break;
		}
		return 1 - sum * exp(log_prefix);
	}
	else
	{
		double		tiny = 1e-300,
					b = x + 1 - a,
					c = 1 / tiny,
					d = 1 / b,
					h = d;

		for (int n = 1; n < 100000; n++)
		{
			double		an = -n * (n - a),
						delta;

			b += 2;
			d = an * d + b;
			if (fabs(d) < tiny)
				d = tiny;
			c = b + an / c;
			if (fabs(c) < tiny)
				c = tiny;
			d = 1 / d;
			delta = d * c;
			h *= delta;
			if (fabs(delta - 1) < 1e-17)
				break;
		}
		return exp(log_prefix) * h;
	}
}

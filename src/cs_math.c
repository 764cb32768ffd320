/*
 * cs_math.c: the shared pieces of the fmgr-free math (see cs_math.h).
 */
#include "cs_math.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void		(*cs_interrupt_hook) (void) = NULL;

void *
cs_grow(const CsAllocator *a, void *old, size_t old_size, size_t new_size)
{
	void	   *p = a->alloc(a->ctx, new_size);

	if (old != NULL)
	{
		memcpy(p, old, old_size);
		a->free(a->ctx, old);
	}
	return p;
}

void
cs_sum_add(CsSum *s, double x)
{
	double		t = s->sum + x;

	if (fabs(s->sum) >= fabs(x))
		s->comp += (s->sum - t) + x;
	else
		s->comp += (x - t) + s->sum;
	s->sum = t;
}

double
cs_sum_value(const CsSum *s)
{
	return s->sum + s->comp;
}

void
cs_sum_merge(CsSum *dst, const CsSum *src)
{
	cs_sum_add(dst, src->sum);
	dst->comp += src->comp;
}

static const int64_t pow10_i64[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
	INT64_C(10000000000), INT64_C(100000000000), INT64_C(1000000000000), INT64_C(10000000000000),
	INT64_C(100000000000000), INT64_C(1000000000000000), INT64_C(10000000000000000),
	INT64_C(100000000000000000), INT64_C(1000000000000000000)};

/* units * 10^(to - from) into *out; false on overflow. */
static bool
rescale(int64_t units, int64_t from, int64_t to, int64_t *out)
{
	return !__builtin_mul_overflow(units, pow10_i64[to - from], out);
}

/* From now on a compensated double sum. */
static void
money_inexact(CsMoney *m)
{
	if (!m->inexact)
	{
		double		v = cs_money_value(m);

		m->u.approx = (CsSum) {v, 0};
		m->inexact = 1;
	}
}

/* Adds units * 10^-scale exactly when it can; false when the sum must become inexact. */
static bool
money_add_exact(CsMoney *m, int64_t units, int64_t scale)
{
	int64_t		a = m->u.exact.units,
				b = units,
				sum;
	int64_t		to = m->u.exact.scale > scale ? m->u.exact.scale : scale;

	if (!rescale(a, m->u.exact.scale, to, &a) || !rescale(b, scale, to, &b) || __builtin_add_overflow(a, b, &sum))
		return false;
	m->u.exact.units = sum;
	m->u.exact.scale = to;
	return true;
}

void
cs_money_add(CsMoney *m, CsAmount a)
{
	if (!m->inexact && a.exact && money_add_exact(m, a.units, a.scale))
		return;
	money_inexact(m);
	cs_sum_add(&m->u.approx, a.value);
}

void
cs_money_merge(CsMoney *dst, const CsMoney *src)
{
	CsMoney		s = *src;

	if (!dst->inexact && !s.inexact && money_add_exact(dst, s.u.exact.units, s.u.exact.scale))
		return;
	money_inexact(dst);
	money_inexact(&s);
	cs_sum_merge(&dst->u.approx, &s.u.approx);
}

double
cs_money_value(const CsMoney *m)
{
	static const double pow10_d[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
		1e14, 1e15, 1e16, 1e17, 1e18};
	char		buf[48];
	int64_t		mag;

	if (m->inexact)
		return cs_sum_value(&m->u.approx);
	/* Both exact in a double: one correctly rounded division, the double PostgreSQL's numeric gives. */
	mag = m->u.exact.units < 0 ? -m->u.exact.units : m->u.exact.units;
	if (mag <= (INT64_C(1) << 53))
		return (double) m->u.exact.units / pow10_d[m->u.exact.scale];
	/* Beyond 2^53 units: the decimal read back, correctly rounded by strtod. */
	snprintf(buf, sizeof(buf), "%" PRId64 "e-%d", m->u.exact.units, (int) m->u.exact.scale);
	return strtod(buf, NULL);
}

double
cs_money_difference(const CsMoney *a, const CsMoney *b)
{
	CsMoney		d = *a;

	if (!a->inexact && !b->inexact && b->u.exact.units != INT64_MIN
		&& money_add_exact(&d, -b->u.exact.units, b->u.exact.scale))
		return cs_money_value(&d);
	return cs_money_value(a) - cs_money_value(b);
}

bool
cs_money_valid(const CsMoney *m)
{
	if (m->inexact == 0)
		return m->u.exact.scale >= 0 && m->u.exact.scale <= CS_MONEY_MAX_SCALE;
	return m->inexact == 1 && !isnan(m->u.approx.sum) && !isnan(m->u.approx.comp);
}

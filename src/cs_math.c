/*
 * cs_math.c: the shared pieces of the fmgr-free math (see cs_math.h).
 */
#include "cs_math.h"

#include <math.h>

void		(*cs_interrupt_hook) (void) = NULL;

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

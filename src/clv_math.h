/*
 * clv_math.h: customer-lifetime-value formulas of the retention model, free
 * of fmgr.
 *
 * A customer yields margin m per period (growing by g per period), stays from
 * one period to the next with probability r and cash is discounted by d per
 * period.  The k-th paid period (k = 1..N) brings m (1 + g)^(k-1).  With
 * q = r (1 + g) / (1 + d) and S = sum_{k=0}^{N-1} q^k the timing conventions are
 *   CLV_START:      m S              cash at the start of each period, the first certain
 *   CLV_END:        m r / (1+d) S    cash at the end of each period, paid only if retained
 *   CLV_END_FIRST:  m / (1+d) S      cash at the end of each period, the first certain
 * N may be infinite when q < 1: then S = 1 / (1 - q), e.g. CLV_END = m r / (1 + d - r).
 */
#ifndef CLV_MATH_H
#define CLV_MATH_H

#include <stdbool.h>

typedef enum ClvTiming
{
	CLV_START = 0,
	CLV_END = 1,
	CLV_END_FIRST = 2
} ClvTiming;

/* -1 when the name is unknown. */
int			clv_parse_timing(const char *name);

/* Periods per year of 'year', 'quarter', 'month', 'week' (365.2425/7), 'day' (365.2425); -1 if unknown. */
double		clv_periods_per_year(const char *name);

/* (1 + annual)^(1 / periods_per_year) - 1, computed without cancellation. */
double		clv_period_rate(double annual, double periods_per_year);

/* sum_{t=0}^{n-1} q^t; n < 0 means infinity (requires 0 <= q < 1).  May overflow to Inf. */
double		clv_geometric_sum(double q, double n);

/*
 * CLV of the retention model; periods < 0 means an infinite horizon.  The
 * caller validates the inputs; the result may be +/-Inf on overflow.
 */
double		clv_retention(double margin, double retention, double discount, double periods,
						  ClvTiming timing, double growth);

/* Value at the reference day of a cash flow on day, at an annual rate (years of 365.2425 days). */
double		clv_discount_factor(double days_before_reference, double annual_rate, bool continuous);

#endif

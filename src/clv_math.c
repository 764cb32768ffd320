/*
 * clv_math.c: retention-model CLV formulas (see clv_math.h).
 */
#include "clv_math.h"

#include <math.h>
#include <string.h>

#define DAYS_PER_YEAR 365.2425

int
clv_parse_timing(const char *name)
{
	if (strcmp(name, "start") == 0)
		return CLV_START;
	if (strcmp(name, "end") == 0)
		return CLV_END;
	if (strcmp(name, "end_first") == 0)
		return CLV_END_FIRST;
	return -1;
}

double
clv_periods_per_year(const char *name)
{
	if (strcmp(name, "year") == 0)
		return 1;
	if (strcmp(name, "quarter") == 0)
		return 4;
	if (strcmp(name, "month") == 0)
		return 12;
	if (strcmp(name, "week") == 0)
		return DAYS_PER_YEAR / 7;
	if (strcmp(name, "day") == 0)
		return DAYS_PER_YEAR;
	return -1;
}

double
clv_period_rate(double annual, double periods_per_year)
{
	return expm1(log1p(annual) / periods_per_year);
}

double
clv_geometric_sum(double q, double n)
{
	if (n < 0)
		return 1.0 / (1.0 - q);
	if (n == 0)
		return 0.0;
	if (q == 0)
		return 1.0;
	if (q > 0 && fabs(q - 1.0) < 1e-12)
		return n;				/* the limit; (1 - q^n) / (1 - q) loses all digits here */
	if (q > 0)
		return expm1(n * log(q)) / (q - 1.0);
	return (1.0 - pow(q, n)) / (1.0 - q);
}

double
clv_retention(double margin, double retention, double discount, double periods,
			  ClvTiming timing, double growth)
{
	double		q = retention * (1.0 + growth) / (1.0 + discount);
	double		s = clv_geometric_sum(q, periods);

	switch (timing)
	{
		case CLV_END:
			return margin * retention / (1.0 + discount) * s;
		case CLV_END_FIRST:
			return margin * s / (1.0 + discount);
		default:
			return margin * s;
	}
}

double
clv_discount_factor(double days_before_reference, double annual_rate, bool continuous)
{
	double		years = days_before_reference / DAYS_PER_YEAR;

	return continuous ? exp(annual_rate * years) : exp(years * log1p(annual_rate));
}

/*
 * model_choice.c: the chi-square upper tail the likelihood-ratio test of nested fits reads its p-value from
 * (btyd_lr_test in SQL; math in special_math.c).
 */
#include "postgres.h"

#include <math.h>

#include "cs_util.h"
#include "fmgr.h"
#include "special_math.h"

/* chi_square_upper_tail(statistic, df): P(X >= statistic) for X ~ chi-square with df degrees of freedom. */
PG_FUNCTION_INFO_V1(chi_square_upper_tail);
Datum
chi_square_upper_tail(PG_FUNCTION_ARGS)
{
	double		x = PG_GETARG_FLOAT8(0),
				df = PG_GETARG_FLOAT8(1);

	cs_check_finite(x, "statistic");
	cs_check_finite(df, "df");
	if (x < 0 || df <= 0 || df > 1e6)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a chi-square tail needs a statistic >= 0 and degrees of freedom in (0, 1e6]"),
				 errdetail("Got statistic %g, df %g.", x, df)));
	PG_RETURN_FLOAT8(gamma_q(df / 2, x / 2));
}

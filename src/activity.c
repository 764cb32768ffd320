/*
 * activity.c: the purchase_activity aggregate, rfm_summary's state reported as
 * a bit string of active periods (bit k = bought in the k-th period after the
 * first purchase period).
 *
 * purchase_activity(ordered_at, amount, as_of, granularity [, zone]) -> varbit
 */
#include "postgres.h"

#include "cs_util.h"
#include "rfm.h"
#include "rfm_math.h"
#include "utils/varbit.h"

/* purchase_activity(ordered_at, amount, as_of, granularity [, zone]) */
PG_FUNCTION_INFO_V1(rfm_activity_trans);
Datum
rfm_activity_trans(PG_FUNCTION_ARGS)
{
	return rfm_summary_trans_at(fcinfo, "purchase_activity", 4, -1, 5);	/* no unit */
}

/* purchase_activity: the same state, reported as a bit string of active periods. */
PG_FUNCTION_INFO_V1(rfm_activity_final);
Datum
rfm_activity_final(PG_FUNCTION_ARGS)
{
	RfmState   *st;
	int64		nbits;
	VarBit	   *result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	st = (RfmState *) PG_GETARG_POINTER(0);
	nbits = rfm_activity_length(st);
	if (nbits == 0)
		PG_RETURN_NULL();
	cs_check_activity_length(nbits, "purchase_activity");
	result = (VarBit *) palloc0(VARBITTOTALLEN(nbits));
	SET_VARSIZE(result, VARBITTOTALLEN(nbits));
	VARBITLEN(result) = (int32) nbits;
	rfm_activity_bits(st, VARBITS(result));
	PG_RETURN_VARBIT_P(result);
}

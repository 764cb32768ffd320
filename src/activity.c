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
	return rfm_summary_trans_at(fcinfo, "purchase_activity", 3, 4, -1, 5);	/* no unit */
}

static Datum
activity_datum(const RfmState *st)
{
	int64		nbits = rfm_activity_length(st);
	VarBit	   *result;

	if (nbits == 0)
		return (Datum) 0;
	cs_check_activity_length(nbits, "purchase_activity");
	result = (VarBit *) palloc0(VARBITTOTALLEN(nbits));
	SET_VARSIZE(result, VARBITTOTALLEN(nbits));
	VARBITLEN(result) = (int32) nbits;
	rfm_activity_bits(st, VARBITS(result));
	return PointerGetDatum(result);
}

/* purchase_activity: the rfm_summary state, reported as a bit string of active periods. */
PG_FUNCTION_INFO_V1(rfm_activity_final);
Datum
rfm_activity_final(PG_FUNCTION_ARGS)
{
	RfmState	st;
	Datum		result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	rfm_state_read(PG_GETARG_DATUM(0), &st);
	result = activity_datum(&st);
	if (result == (Datum) 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/* rfm_state_activity(state, as_of, granularity) -> varbit */
PG_FUNCTION_INFO_V1(rfm_state_activity);
Datum
rfm_state_activity(PG_FUNCTION_ARGS)
{
	RfmState	st;
	Datum		result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	rfm_state_close(fcinfo, &st, "rfm_state_activity", 2, -1);
	result = activity_datum(&st);
	if (result == (Datum) 0)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

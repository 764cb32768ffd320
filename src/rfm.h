/*
 * rfm.h: the rfm_summary transition, shared with purchase_activity (activity.c).
 */
#ifndef CS_RFM_H
#define CS_RFM_H

#include "fmgr.h"

#include "rfm_math.h"

/*
 * Transition over (ordered_at, amount, ...) with as_of, the knobs and the zone
 * at the given argument numbers; -1 for an argument the aggregate does not
 * have (no as_of: an open state).
 */
extern Datum rfm_summary_trans_at(FunctionCallInfo fcinfo, const char *fname, int as_of_argno,
								  int granularity_argno, int unit_argno, int zone_argno);

/* A copy of the state in argument 0, closed at as_of (argument 1) with the knobs at the given arguments. */
extern void rfm_state_close(FunctionCallInfo fcinfo, RfmState *st, const char *fname, int granularity_argno,
							int unit_argno);

/* A copy of a state value, checked. */
extern void rfm_state_read(Datum value, RfmState *st);

/* The number of score bins, checked (score.c): 22023 outside 2..100. */
extern void score_check_bins(int32 bins);

#endif

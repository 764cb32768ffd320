/*
 * rfm.h: the rfm_summary transition, shared with purchase_activity (activity.c).
 */
#ifndef CS_RFM_H
#define CS_RFM_H

#include "fmgr.h"

/*
 * Transition over (ordered_at, amount, as_of, ...) with the knobs and the zone
 * at the given argument numbers; -1 for a knob the aggregate does not have.
 */
extern Datum rfm_summary_trans_at(FunctionCallInfo fcinfo, const char *fname, int granularity_argno,
								  int unit_argno, int zone_argno);

#endif

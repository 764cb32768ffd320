/*
 * lifecycle_math.h: lifecycle stages and activity gaps, free of fmgr.
 */
#ifndef LIFECYCLE_MATH_H
#define LIFECYCLE_MATH_H

#include <stdbool.h>
#include <stdint.h>

typedef enum LifecycleStage
{
	STAGE_PROSPECT = 0,
	STAGE_NEW,
	STAGE_ACTIVE,
	STAGE_AT_RISK,
	STAGE_LAPSED,
	STAGE_REACTIVATED
} LifecycleStage;

extern const char *const lifecycle_stage_names[];

typedef struct LifecycleInput
{
	int64_t		orders;
	int32_t		first_day;		/* days; valid when orders > 0 */
	int32_t		last_day;
	int32_t		as_of;
	int32_t		new_days;		/* first order within this many days: new */
	int32_t		churn_days;		/* no order for more than this many days: lapsed */
	double		at_risk_factor; /* gap > factor * typical gap: at risk */
	double		default_gap_days;	/* typical gap of one-order customers */
	bool		has_reactivation;
	int32_t		reactivation_day;	/* last purchase after a lapse */
	bool		has_p_alive;
	double		p_alive;
	double		p_alive_threshold;
} LifecycleInput;

/*
 * Precedence: prospect (no orders), lapsed (gap > churn_days), new (first
 * order within new_days), reactivated (bought again after a lapse, within
 * new_days), at risk (P(alive) below the threshold when given, else gap >
 * factor * typical gap), active.
 */
LifecycleStage lifecycle_stage(const LifecycleInput *in);

/*
 * Offset of the last set bit whose distance from the previous set bit
 * exceeds gap (a return after a lapse), or -1.  bits MSB-first (bit varying).
 */
int64_t		last_return_after_gap(const uint8_t *bits, int64_t nbits, int64_t gap);

#endif

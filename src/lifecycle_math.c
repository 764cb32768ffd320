/*
 * lifecycle_math.c: lifecycle stages (see lifecycle_math.h).
 */
#include "lifecycle_math.h"

#include "cs_math.h"

const char *const lifecycle_stage_names[] = {
	"prospect", "new", "active", "at risk", "lapsed", "reactivated"
};

LifecycleStage
lifecycle_stage(const LifecycleInput *in)
{
	int32_t		gap;
	double		typical;

	if (in->orders <= 0)
		return STAGE_PROSPECT;
	gap = in->as_of - in->last_day;
	if (gap > in->churn_days)
		return STAGE_LAPSED;
	if (in->as_of - in->first_day <= in->new_days)
		return STAGE_NEW;
	if (in->has_reactivation && in->as_of - in->reactivation_day <= in->new_days)
		return STAGE_REACTIVATED;
	if (in->has_p_alive)
		return in->p_alive < in->p_alive_threshold ? STAGE_AT_RISK : STAGE_ACTIVE;
	typical = in->orders > 1 && in->last_day > in->first_day
		? (double) (in->last_day - in->first_day) / (double) (in->orders - 1)
		: in->default_gap_days;
	return gap > in->at_risk_factor * typical ? STAGE_AT_RISK : STAGE_ACTIVE;
}

int64_t
last_return_after_gap(const uint8_t *bits, int64_t nbits, int64_t gap)
{
	int64_t		prev = -1;
	int64_t		found = -1;

	for (int64_t k = 0; k < nbits; k++)
	{
		if ((k & 0xFFFFF) == 0xFFFFF)
			cs_check_interrupts();
		if (!activity_bit(bits, k))
			continue;
		if (prev >= 0 && k - prev > gap)
			found = k;
		prev = k;
	}
	return found;
}

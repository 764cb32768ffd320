/*
 * Unit tests of lifecycle_math.c: stages by precedence.
 */
#include "unit.h"

void
test_lifecycle(void)
{
	uint8_t		bits[64] = {0};
	LifecycleInput in = {.orders = 5, .first_day = 0, .last_day = 400, .as_of = 420, .new_days = 90,
	.churn_days = 365, .at_risk_factor = 2, .default_gap_days = 90};

	/* Purchases on days 0, 2, 400, 401. */
	bits[0] = 0xA0;
	bits[50] = 0x80;
	bits[50] |= 0x40;
	CHECK(last_return_after_gap(bits, 402, 365) == 400, "return on day 400");
	CHECK(last_return_after_gap(bits, 402, 398) == -1, "no gap longer than 398 days");
	CHECK(last_return_after_gap(bits, 3, 1) == 2, "a gap of 2 days exceeds 1");

	CHECK(lifecycle_stage(&in) == STAGE_ACTIVE, "gap 20 days, typical 100: active");
	in.as_of = 601;
	CHECK(lifecycle_stage(&in) == STAGE_AT_RISK, "gap 201 days, typical 100: at risk");
	in.as_of = 766;
	CHECK(lifecycle_stage(&in) == STAGE_LAPSED, "gap 366 days: lapsed");
	in.as_of = 420;
	in.has_reactivation = true;
	in.reactivation_day = 400;
	CHECK(lifecycle_stage(&in) == STAGE_REACTIVATED, "back 20 days ago: reactivated");
	in.has_p_alive = true;
	in.p_alive = 0.2;
	in.p_alive_threshold = 0.5;
	in.reactivation_day = 100;
	CHECK(lifecycle_stage(&in) == STAGE_AT_RISK, "P(alive) below threshold: at risk");
	in.first_day = 350;
	CHECK(lifecycle_stage(&in) == STAGE_NEW, "first order 70 days ago: new before anything else");
	in.orders = 0;
	CHECK(lifecycle_stage(&in) == STAGE_PROSPECT, "no orders: prospect");
}

/*
 * retention_math.h: period-over-period retention counts, free of fmgr.
 *
 * Input per customer: an activity bit string, bit k = "bought in the k-th
 * period since acquisition" (bit 0, the acquisition period, is set), its
 * length the number of periods observed up to as_of.  Counts by offset k:
 *   observed[k]   customers observed in period k
 *   active[k]     customers active in period k
 *   at_risk[k]    customers active in k and observed in k + 1
 *   retained[k]   customers active in k and in k + 1
 * Period-over-period retention at k is retained[k] / at_risk[k]; the pooled
 * rate is sum retained / sum at_risk.
 */
#ifndef RETENTION_MATH_H
#define RETENTION_MATH_H

#include <stddef.h>
#include <stdint.h>

#include "cs_math.h"

/*
 * Longest activity bit string purchase_activity makes and retention_curve
 * takes: 100,000 periods (274 years of days).  A longer span is a far-off
 * as_of, not history, and would cost 32 bytes per period per group.
 */
#define CS_MAX_ACTIVITY_PERIODS 100000

typedef struct RetentionCounts
{
	int64_t		customers;
	int32_t		len;			/* offsets counted: 0..len-1 */
	int32_t		cap;
	int64_t    *observed;		/* four arrays of cap elements in one allocation */
	int64_t    *active;
	int64_t    *at_risk;
	int64_t    *retained;
} RetentionCounts;

void		retention_init(RetentionCounts *rc);
/* bits: MSB-first bytes as in PostgreSQL's bit varying. */
void		retention_add(RetentionCounts *rc, const uint8_t *bits, int32_t nbits, const CsAllocator *a);
void		retention_combine(RetentionCounts *dst, const RetentionCounts *src, const CsAllocator *a);
double		retention_pooled_rate(const RetentionCounts *rc);	/* NaN when nothing is at risk */

size_t		retention_serial_size(const RetentionCounts *rc);
void		retention_serialize(const RetentionCounts *rc, char *buf);
int			retention_deserialize(RetentionCounts *rc, const char *buf, size_t len, const CsAllocator *a);

#endif

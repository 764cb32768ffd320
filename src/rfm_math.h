/*
 * rfm_math.h: per-customer purchase summary, free of fmgr.
 *
 * Days are PostgreSQL day numbers (DateADT: days since 2000-01-01).  A
 * purchase period is a day, a Monday-based ISO week or a calendar month,
 * identified by an integer period index.  The state is flat apart from one
 * bitmap of distinct purchase days, whose size depends on the span of days a
 * customer bought in, never on the number of orders; purchase periods of any
 * granularity are read off it when the state is finalised, so a state can be
 * finalised with a granularity, a unit and an as_of chosen later.
 */
#ifndef RFM_MATH_H
#define RFM_MATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_math.h"

typedef enum RfmGranularity
{
	RFM_GRAN_DAY = 0,
	RFM_GRAN_WEEK = 1,
	RFM_GRAN_MONTH = 2
} RfmGranularity;

typedef enum RfmUnit
{
	RFM_UNIT_DAY = 0,
	RFM_UNIT_WEEK = 1,
	RFM_UNIT_MONTH = 2
} RfmUnit;

/* Mean Gregorian month in days (365.2425 / 12). */
#define RFM_DAYS_PER_MONTH 30.436875

/* A set of integer indices kept as a bitmap over [base, base + 64 * nwords). */
typedef struct PeriodSet
{
	int64_t		base;			/* multiple of 64 */
	int32_t		nwords;
	int32_t		spare;			/* zero: the serial form has no padding */
	uint64_t   *words;
} PeriodSet;

#define RFM_GRANULARITIES 3

/* as_of of an open state (rfm_state): no row is excluded, as_of is given when it is finalised. */
#define RFM_OPEN_AS_OF INT32_MAX

typedef struct RfmState
{
	int32_t		granularity;	/* how the state is finalised (rfm_summary's knobs) */
	int32_t		unit;
	int32_t		as_of;			/* last day of the observation window, or RFM_OPEN_AS_OF */
	uint32_t	zone;			/* time zone the days were taken in: 0 = session TimeZone (cs_order_zone) */
	int64_t		orders;			/* rows with amount >= 0 on or before as_of */
	int64_t		refund_rows;	/* rows with amount < 0 on or before as_of */
	int64_t		skipped_rows;	/* rows with a NULL day or amount */
	int64_t		excluded_rows;	/* rows after as_of */
	int32_t		first_day;		/* valid when orders > 0 */
	int32_t		last_day;
	int32_t		last_row_day;	/* latest day of a counted row, refunds included; valid when orders + refund_rows > 0 */
	int32_t		reserved;
	CsMoney		revenue;		/* sum of purchase amounts */
	CsMoney		refunds;		/* sum of -amount over refunds (>= 0) */
	CsMoney		first_revenue[RFM_GRANULARITIES];	/* purchase amounts in the first day, week, month */
	PeriodSet	days;			/* distinct purchase days */
} RfmState;

typedef struct RfmResult
{
	int32_t		first_day;
	int32_t		last_day;
	int64_t		orders;
	int64_t		purchase_days;
	int64_t		refund_rows;
	int32_t		recency_days;
	int32_t		tenure_days;
	double		revenue;
	double		refunds;
	double		monetary_total;
	double		monetary_avg;
	int64_t		frequency;
	double		recency;
	double		T;
	double		monetary_value;
	int64_t		skipped_rows;
	int64_t		excluded_rows;
} RfmResult;

/* Parsing of the knobs; return -1 when the name is unknown. */
int			rfm_parse_granularity(const char *name);
int			rfm_parse_unit(const char *name);

/* Calendar helpers on PostgreSQL day numbers. */
int64_t		rfm_period_index(int32_t day, int granularity);
int32_t		rfm_period_start(int64_t period, int granularity);

void		periodset_add(PeriodSet *set, int64_t idx, const CsAllocator *a);
void		periodset_union(PeriodSet *dst, const PeriodSet *src, const CsAllocator *a);
int64_t		periodset_count(const PeriodSet *set);
/* Drops the all-zero words at both ends (the canonical form of a set). */
void		periodset_trim(PeriodSet *set);
bool		periodset_contains(const PeriodSet *set, int64_t idx);

/* as_of = RFM_OPEN_AS_OF: an open state, for rfm_state. */
void		rfm_state_init(RfmState *st, int granularity, int unit, int32_t as_of);
void		rfm_state_add(RfmState *st, int32_t day, CsAmount amount, const CsAllocator *a);
/* Days from the first to the last purchase day once a row, or another state, is added: what the day set covers. */
int64_t		rfm_state_span_after(const RfmState *st, int32_t day, CsAmount amount);
int64_t		rfm_state_span_union(const RfmState *a, const RfmState *b);
void		rfm_state_combine(RfmState *dst, const RfmState *src, const CsAllocator *a);

/*
 * Activity bits of the purchase periods from the first purchase period to the
 * as_of period (bit k = bought in period first + k), MSB-first into bits,
 * which must hold rfm_activity_length() bits; 0 when there is no purchase.
 */
int64_t		rfm_activity_length(const RfmState *st);

void		rfm_activity_bits(const RfmState *st, uint8_t *bits);

/* Whether the stored knobs and as_of are valid values (input of a state's text form). */
bool		rfm_state_valid(const RfmState *st);

/* false when the state holds no counted row (the aggregate then returns NULL). */
bool		rfm_state_result(const RfmState *st, RfmResult *out);

/*
 * Serial form: the fixed part of RfmState (the set's pointer cleared), then the
 * set's words.  rfm_state_deserialize copies; rfm_state_view points the set
 * into buf instead (buf must be 8-byte aligned and outlive st).  Both return
 * false on a malformed buffer.
 */
size_t		rfm_state_serial_size(const RfmState *st);
void		rfm_state_serialize(const RfmState *st, char *buf);
bool		rfm_state_deserialize(RfmState *st, const char *buf, size_t len, const CsAllocator *a);
bool		rfm_state_view(RfmState *st, const char *buf, size_t len);

#endif

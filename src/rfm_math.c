/*
 * rfm_math.c: per-customer purchase summary (see rfm_math.h), free of fmgr.
 */
#include "rfm_math.h"

#include <math.h>
#include <string.h>

#define UNIX_DAY_OF_PG_EPOCH 10957	/* 2000-01-01 counted from 1970-01-01 */
#define PERIODSET_HEADROOM_WORDS 4

int
rfm_parse_granularity(const char *name)
{
	if (strcmp(name, "day") == 0)
		return RFM_GRAN_DAY;
	if (strcmp(name, "week") == 0)
		return RFM_GRAN_WEEK;
	if (strcmp(name, "month") == 0)
		return RFM_GRAN_MONTH;
	return -1;
}

int
rfm_parse_unit(const char *name)
{
	if (strcmp(name, "day") == 0 || strcmp(name, "days") == 0)
		return RFM_UNIT_DAY;
	if (strcmp(name, "week") == 0 || strcmp(name, "weeks") == 0)
		return RFM_UNIT_WEEK;
	if (strcmp(name, "month") == 0 || strcmp(name, "months") == 0)
		return RFM_UNIT_MONTH;
	return -1;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t		q = a / b;

	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Proleptic Gregorian calendar on day numbers (H. Hinnant's algorithms). */
static void
civil_from_day(int32_t pgday, int64_t *y, int *m)
{
	int64_t		z = (int64_t) pgday + UNIX_DAY_OF_PG_EPOCH + 719468;
	int64_t		era = floor_div(z, 146097);
	int64_t		doe = z - era * 146097;
	int64_t		yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t		doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t		mp = (5 * doy + 2) / 153;

	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int32_t
day_from_civil(int64_t y, int m, int d)
{
	int64_t		era,
				yoe,
				doy,
				doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t) (era * 146097 + doe - 719468 - UNIX_DAY_OF_PG_EPOCH);
}

int64_t
rfm_period_index(int32_t day, int granularity)
{
	int64_t		y;
	int			m;

	switch (granularity)
	{
		case RFM_GRAN_WEEK:
			/* 2000-01-03 (day 2) is a Monday: weeks run Monday..Sunday. */
			return floor_div((int64_t) day + 5, 7);
		case RFM_GRAN_MONTH:
			civil_from_day(day, &y, &m);
			return y * 12 + (m - 1);
		default:
			return day;
	}
}

int32_t
rfm_period_start(int64_t period, int granularity)
{
	switch (granularity)
	{
		case RFM_GRAN_WEEK:
			return (int32_t) (period * 7 - 5);
		case RFM_GRAN_MONTH:
			return day_from_civil(floor_div(period, 12), (int) (period - floor_div(period, 12) * 12) + 1, 1);
		default:
			return (int32_t) period;
	}
}

/*
 * Make the set cover [lo, hi) (lo, hi multiples of 64), keeping its bits.
 * With spare, a set that grows gets headroom on the side that grew:
 * PERIODSET_HEADROOM_WORDS (a typical customer, whose orders arrive in time
 * order, grows it once per 256 periods and stays within 4 words of her span)
 * or a quarter of its size once that is larger, so a customer whose orders
 * lie far apart costs amortised linear time and memory in her span, not
 * quadratic.  The old words are freed.
 */
static void
periodset_cover(PeriodSet *set, int64_t lo, int64_t hi, bool spare, const CsAllocator *a)
{
	int64_t		cur_lo = set->base;
	int64_t		cur_hi = set->base + 64 * (int64_t) set->nwords;
	int64_t		nwords;
	uint64_t   *words;

	if (set->nwords > 0)
	{
		int64_t		headroom = !spare ? 0 : set->nwords / 4 > PERIODSET_HEADROOM_WORDS ? set->nwords / 4 : PERIODSET_HEADROOM_WORDS;

		if (lo >= cur_lo && hi <= cur_hi)
			return;
		lo = lo < cur_lo ? lo - 64 * headroom : cur_lo;
		hi = hi > cur_hi ? hi + 64 * headroom : cur_hi;
	}
	nwords = (hi - lo) / 64;
	words = a->alloc(a->ctx, sizeof(uint64_t) * (size_t) nwords);
	memset(words, 0, sizeof(uint64_t) * (size_t) nwords);
	if (set->nwords > 0)
	{
		memcpy(words + (cur_lo - lo) / 64, set->words, sizeof(uint64_t) * (size_t) set->nwords);
		a->free(a->ctx, set->words);
	}
	set->base = lo;
	set->nwords = (int32_t) nwords;
	set->words = words;
}

void
periodset_add(PeriodSet *set, int64_t idx, const CsAllocator *a)
{
	int64_t		off;

	if (set->nwords == 0 || idx < set->base || idx >= set->base + 64 * (int64_t) set->nwords)
	{
		int64_t		lo = floor_div(idx, 64) * 64;

		periodset_cover(set, lo, lo + 64, true, a);
	}
	off = idx - set->base;
	set->words[off / 64] |= UINT64_C(1) << (off % 64);
}

void
periodset_union(PeriodSet *dst, const PeriodSet *src, const CsAllocator *a)
{
	int64_t		shift;

	if (src->nwords == 0)
		return;
	periodset_cover(dst, src->base, src->base + 64 * (int64_t) src->nwords, false, a);
	shift = (src->base - dst->base) / 64;
	for (int32_t i = 0; i < src->nwords; i++)
		dst->words[shift + i] |= src->words[i];
}

int64_t
periodset_count(const PeriodSet *set)
{
	int64_t		n = 0;

	for (int32_t i = 0; i < set->nwords; i++)
		n += __builtin_popcountll(set->words[i]);
	return n;
}

void
periodset_trim(PeriodSet *set)
{
	int32_t		lo = 0;
	int32_t		hi = set->nwords;

	while (lo < hi && set->words[lo] == 0)
		lo++;
	while (hi > lo && set->words[hi - 1] == 0)
		hi--;
	set->base += 64 * (int64_t) lo;
	set->nwords = hi - lo;
	set->words = hi > lo ? set->words + lo : NULL;
}

bool
periodset_contains(const PeriodSet *set, int64_t idx)
{
	int64_t		off = idx - set->base;

	if (set->nwords == 0 || off < 0 || off >= 64 * (int64_t) set->nwords)
		return false;
	return (set->words[off / 64] >> (off % 64)) & 1;
}

void
rfm_state_init(RfmState *st, int granularity, int unit, int32_t as_of)
{
	memset(st, 0, sizeof(*st));
	st->granularity = granularity;
	st->unit = unit;
	st->as_of = as_of;
}

/* Whether day falls in the first period of granularity g of a customer whose first purchase is first_day. */
static bool
in_first_period(int32_t day, int32_t first_day, int g)
{
	/* No week or month spans more than 31 days: the calendar is only consulted near the first day. */
	if ((int64_t) day - first_day > 31)
		return false;
	return rfm_period_index(day, g) == rfm_period_index(first_day, g);
}

/* Days from the first to the last purchase day, 0 before the first purchase. */
static int64_t
rfm_state_span(const RfmState *st)
{
	return st->orders == 0 ? 0 : (int64_t) st->last_day - st->first_day + 1;
}

int64_t
rfm_state_span_after(const RfmState *st, int32_t day, CsAmount amount)
{
	if (day > st->as_of || amount.value < 0)
		return rfm_state_span(st);	/* not a purchase day of the state */
	if (st->orders == 0)
		return 1;
	return (int64_t) (day > st->last_day ? day : st->last_day) - (day < st->first_day ? day : st->first_day) + 1;
}

int64_t
rfm_state_span_union(const RfmState *a, const RfmState *b)
{
	if (a->orders == 0 || b->orders == 0)
		return rfm_state_span(a->orders == 0 ? b : a);
	return (int64_t) (a->last_day > b->last_day ? a->last_day : b->last_day)
		- (a->first_day < b->first_day ? a->first_day : b->first_day) + 1;
}

void
rfm_state_add(RfmState *st, int32_t day, CsAmount amount, const CsAllocator *a)
{
	if (day > st->as_of)
	{
		st->excluded_rows++;
		return;
	}
	if ((st->orders == 0 && st->refund_rows == 0) || day > st->last_row_day)
		st->last_row_day = day;
	if (amount.value < 0)
	{
		CsAmount	refund = {-amount.value, -amount.units, amount.scale, amount.exact && amount.units != INT64_MIN};

		st->refund_rows++;
		cs_money_add(&st->refunds, refund);
		return;
	}

	if (st->orders == 0 || day < st->first_day)
	{
		for (int g = 0; g < RFM_GRANULARITIES; g++)
			if (st->orders == 0 || !in_first_period(st->first_day, day, g))
				st->first_revenue[g] = cs_money_zero();
		st->first_day = day;
	}
	if (st->orders == 0 || day > st->last_day)
		st->last_day = day;
	for (int g = 0; g < RFM_GRANULARITIES; g++)
		if (in_first_period(day, st->first_day, g))
			cs_money_add(&st->first_revenue[g], amount);
	st->orders++;
	cs_money_add(&st->revenue, amount);
	periodset_add(&st->days, day, a);
}

void
rfm_state_combine(RfmState *dst, const RfmState *src, const CsAllocator *a)
{
	bool		dst_rows = dst->orders > 0 || dst->refund_rows > 0;

	if ((src->orders > 0 || src->refund_rows > 0) && (!dst_rows || src->last_row_day > dst->last_row_day))
		dst->last_row_day = src->last_row_day;
	if (src->orders > 0)
	{
		for (int g = 0; g < RFM_GRANULARITIES; g++)
		{
			int64_t		s = rfm_period_index(src->first_day, g);
			int64_t		d = rfm_period_index(dst->first_day, g);

			if (dst->orders == 0 || s < d)
				dst->first_revenue[g] = src->first_revenue[g];
			else if (s == d)
				cs_money_merge(&dst->first_revenue[g], &src->first_revenue[g]);
		}
		if (dst->orders == 0 || src->first_day < dst->first_day)
			dst->first_day = src->first_day;
		if (dst->orders == 0 || src->last_day > dst->last_day)
			dst->last_day = src->last_day;
	}
	dst->orders += src->orders;
	dst->refund_rows += src->refund_rows;
	dst->skipped_rows += src->skipped_rows;
	dst->excluded_rows += src->excluded_rows;
	cs_money_merge(&dst->revenue, &src->revenue);
	cs_money_merge(&dst->refunds, &src->refunds);
	periodset_union(&dst->days, &src->days, a);
}

/*
 * Calls visit(period, arg) for each distinct purchase period, in increasing
 * order: the purchase days are visited in order, so a period repeats only on
 * consecutive days.
 */
static void
for_each_period(const RfmState *st, void (*visit) (int64_t period, void *arg), void *arg)
{
	const PeriodSet *set = &st->days;
	int64_t		prev = 0;
	bool		any = false;

	for (int32_t w = 0; w < set->nwords; w++)
	{
		uint64_t	bits = set->words[w];

		if ((w & 1023) == 0)
			cs_check_interrupts();
		while (bits != 0)
		{
			int			b = __builtin_ctzll(bits);
			int64_t		period = rfm_period_index((int32_t) (set->base + 64 * (int64_t) w + b), st->granularity);

			bits &= bits - 1;
			if (!any || period != prev)
				visit(period, arg);
			prev = period;
			any = true;
		}
	}
}

static void
count_period(int64_t period, void *arg)
{
	(void) period;
	(*(int64_t *) arg)++;
}

typedef struct ActivityBits
{
	int64_t		first;
	uint8_t    *bits;
} ActivityBits;

static void
set_activity_bit(int64_t period, void *arg)
{
	ActivityBits *ab = arg;
	int64_t		k = period - ab->first;

	ab->bits[k / 8] |= (uint8_t) (0x80 >> (k % 8));	/* the inverse of activity_bit */
}

int64_t
rfm_activity_length(const RfmState *st)
{
	if (st->orders == 0)
		return 0;
	return rfm_period_index(st->as_of, st->granularity) - rfm_period_index(st->first_day, st->granularity) + 1;
}

void
rfm_activity_bits(const RfmState *st, uint8_t *bits)
{
	ActivityBits ab = {rfm_period_index(st->first_day, st->granularity), bits};

	memset(bits, 0, (size_t) ((rfm_activity_length(st) + 7) / 8));
	if (st->orders > 0)
		for_each_period(st, set_activity_bit, &ab);
}

/* Distance between two period starts, in the reporting unit. */
static double
period_distance(const RfmState *st, int64_t from, int64_t to)
{
	double		days;

	if (st->unit == RFM_UNIT_MONTH && st->granularity == RFM_GRAN_MONTH)
		return (double) (to - from);
	days = (double) rfm_period_start(to, st->granularity) - (double) rfm_period_start(from, st->granularity);
	switch (st->unit)
	{
		case RFM_UNIT_WEEK:
			return days / 7.0;
		case RFM_UNIT_MONTH:
			return days / RFM_DAYS_PER_MONTH;
		default:
			return days;
	}
}

bool
rfm_state_result(const RfmState *st, RfmResult *out)
{
	int64_t		first_period;

	memset(out, 0, sizeof(*out));
	if (st->orders == 0 && st->refund_rows == 0)
		return false;

	out->orders = st->orders;
	out->refund_rows = st->refund_rows;
	out->skipped_rows = st->skipped_rows;
	out->excluded_rows = st->excluded_rows;
	out->revenue = cs_money_value(&st->revenue);
	out->refunds = cs_money_value(&st->refunds);
	out->monetary_total = cs_money_difference(&st->revenue, &st->refunds);
	if (st->orders == 0)
		return true;

	out->first_day = st->first_day;
	out->last_day = st->last_day;
	out->purchase_days = periodset_count(&st->days);
	out->recency_days = st->as_of - st->last_day;
	out->tenure_days = st->as_of - st->first_day;
	out->monetary_avg = out->monetary_total / (double) st->orders;

	if (st->granularity == RFM_GRAN_DAY)
		out->frequency = out->purchase_days;
	else
		for_each_period(st, count_period, &out->frequency);
	out->frequency--;
	first_period = rfm_period_index(st->first_day, st->granularity);
	out->recency = period_distance(st, first_period, rfm_period_index(st->last_day, st->granularity));
	out->T = period_distance(st, first_period, rfm_period_index(st->as_of, st->granularity));
	out->monetary_value = out->frequency > 0
		? cs_money_difference(&st->revenue, &st->first_revenue[st->granularity]) / (double) out->frequency
		: 0.0;
	return true;
}

bool
rfm_state_valid(const RfmState *st)
{
	bool		rows = st->orders > 0 || st->refund_rows > 0;

	return st->granularity >= 0 && st->granularity < RFM_GRANULARITIES
		&& st->unit >= RFM_UNIT_DAY && st->unit <= RFM_UNIT_MONTH
		&& st->orders >= 0 && st->refund_rows >= 0 && st->skipped_rows >= 0 && st->excluded_rows >= 0
		&& st->days.nwords >= 0 && st->days.base % 64 == 0 && st->days.spare == 0 && st->reserved == 0
		&& cs_money_valid(&st->revenue) && cs_money_valid(&st->refunds) && cs_money_valid(&st->first_revenue[0])
		&& cs_money_valid(&st->first_revenue[1]) && cs_money_valid(&st->first_revenue[2])
		&& (st->orders == 0) == (st->days.nwords == 0)
		&& (!rows || st->last_row_day <= st->as_of)
		&& (st->orders == 0 || (st->first_day <= st->last_day && st->last_day <= st->last_row_day
								&& periodset_contains(&st->days, st->first_day)
								&& periodset_contains(&st->days, st->last_day)));
}

/*
 * PostgreSQL moves serialised states between processes of one server build,
 * and stored states carry a format mark checked by the SQL glue, so the
 * native layout is fine.
 */
size_t
rfm_state_serial_size(const RfmState *st)
{
	return sizeof(RfmState) + sizeof(uint64_t) * (size_t) st->days.nwords;
}

void
rfm_state_serialize(const RfmState *st, char *buf)
{
	RfmState	fixed = *st;

	fixed.days.words = NULL;
	memcpy(buf, &fixed, sizeof(fixed));
	if (st->days.nwords > 0)
		memcpy(buf + sizeof(fixed), st->days.words, sizeof(uint64_t) * (size_t) st->days.nwords);
}

/* The fixed part of buf into st, when len is the size it announces. */
static bool
read_fixed(RfmState *st, const char *buf, size_t len)
{
	if (len < sizeof(RfmState))
		return false;
	memcpy(st, buf, sizeof(RfmState));
	st->days.words = NULL;
	return st->days.nwords >= 0 && len == sizeof(RfmState) + sizeof(uint64_t) * (size_t) st->days.nwords;
}

bool
rfm_state_deserialize(RfmState *st, const char *buf, size_t len, const CsAllocator *a)
{
	size_t		bytes;

	if (!read_fixed(st, buf, len))
		return false;
	bytes = sizeof(uint64_t) * (size_t) st->days.nwords;
	if (bytes > 0)
	{
		st->days.words = a->alloc(a->ctx, bytes);
		memcpy(st->days.words, buf + sizeof(RfmState), bytes);
	}
	return true;
}

bool
rfm_state_view(RfmState *st, const char *buf, size_t len)
{
	if (!read_fixed(st, buf, len))
		return false;
	if (st->days.nwords > 0)
		st->days.words = (uint64_t *) (void *) (buf + sizeof(RfmState));
	return true;
}

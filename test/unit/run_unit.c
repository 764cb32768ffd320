/*
 * Unit and property tests of the fmgr-free math (src/rfm_math.c, src/score_math.c), no server.
 * Each test function is one case made of many checks; prints a line per case
 * and "unit: N passed, N failed" (cases); exits non-zero on a failure.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btyd_math.h"
#include "covariate_math.h"
#include "clv_math.h"
#include "lifecycle_math.h"
#include "retention_math.h"
#include "rfm_math.h"
#include "score_math.h"
#include "kmeans_math.h"

static int	passed,
			failed;			/* checks, within the running case */

#define CHECK(cond, ...) do { \
	if (cond) passed++; \
	else { failed++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

/* Counts live and peak bytes, so tests can bound what a state holds; a size header precedes each block. */
typedef struct MemCount
{
	size_t		live;
	size_t		peak;
	size_t		total;
} MemCount;

static void *
test_alloc(void *ctx, size_t size)
{
	MemCount   *m = ctx;
	size_t	   *block = malloc(sizeof(size_t) + size);

	if (block == NULL)
	{
		printf("out of memory\n");
		exit(2);
	}
	block[0] = size;
	if (m != NULL)
	{
		m->live += size;
		m->total += size;
		if (m->live > m->peak)
			m->peak = m->live;
	}
	return block + 1;
}

static void
test_free(void *ctx, void *ptr)
{
	MemCount   *m = ctx;
	size_t	   *block = (size_t *) ptr - 1;

	if (m != NULL)
		m->live -= block[0];
	free(block);
}

static const CsAllocator alloc = {test_alloc, test_free, NULL};

/* xorshift64*, fixed seed: the same cases every run. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void
test_calendar(void)
{
	/* Known day numbers (days since 2000-01-01). */
	CHECK(rfm_period_start(rfm_period_index(0, RFM_GRAN_MONTH), RFM_GRAN_MONTH) == 0, "2000-01 starts on day 0");
	CHECK(rfm_period_index(59, RFM_GRAN_MONTH) == 2000 * 12 + 1, "2000-02-29 is in February 2000");
	CHECK(rfm_period_index(60, RFM_GRAN_MONTH) == 2000 * 12 + 2, "2000-03-01 is in March 2000");
	CHECK(rfm_period_index(-1, RFM_GRAN_MONTH) == 1999 * 12 + 11, "1999-12-31 is in December 1999");
	CHECK(rfm_period_start(2024 * 12 + 0, RFM_GRAN_MONTH) == 8766, "2024-01-01 is day 8766");
	CHECK(rfm_period_start(rfm_period_index(2, RFM_GRAN_WEEK), RFM_GRAN_WEEK) == 2, "2000-01-03 is a Monday");
	CHECK(rfm_period_start(rfm_period_index(1, RFM_GRAN_WEEK), RFM_GRAN_WEEK) == -5, "2000-01-02 belongs to the week of 1999-12-27");

	/* Every day lies in [start(p), start(p + 1)) of its period; weeks are 7 days, months 28..31. */
	for (int32_t d = -800000; d <= 800000; d += 7)
	{
		for (int g = RFM_GRAN_DAY; g <= RFM_GRAN_MONTH; g++)
		{
			int64_t		p = rfm_period_index(d, g);
			int32_t		lo = rfm_period_start(p, g);
			int32_t		hi = rfm_period_start(p + 1, g);
			int32_t		len = hi - lo;
			int			ok = lo <= d && d < hi &&
				(g == RFM_GRAN_DAY ? len == 1 : g == RFM_GRAN_WEEK ? len == 7 : (len >= 28 && len <= 31));

			if (!ok || d % 7001 == 0)
				CHECK(ok, "day %d granularity %d: period [%d, %d)", d, g, lo, hi);
		}
	}
}

static void
test_periodset(void)
{
	for (int round = 0; round < 200; round++)
	{
		PeriodSet	a = {0},
					b = {0};
		static char seen[4000];
		int64_t		expected = 0;
		int			span = 1 + (int) (rng() % 3000);
		int			offset = (int) (rng() % 100000) - 50000;

		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < 300; i++)
		{
			int			k = (int) (rng() % span);

			if (!seen[k])
				expected++;
			seen[k] = 1;
			periodset_add((i % 2) ? &a : &b, offset + k, &alloc);
		}
		periodset_union(&a, &b, &alloc);
		CHECK(periodset_count(&a) == expected, "union of halves counts %lld distinct, expected %lld",
			  (long long) periodset_count(&a), (long long) expected);
		/*
		 * Each half has at most max(4, a quarter of its size) spare words a
		 * side; the union adds none.
		 */
		CHECK(a.nwords <= (span / 64 + 2) * 3 / 2 + 4 * 4, "set of span %d uses %d words", span, a.nwords);
		CHECK(span > 16 * 64 || a.nwords <= span / 64 + 2 + 4 * 4, "a small set of span %d uses %d words, at most 4 spare a side", span, a.nwords);
	}

	/*
	 * One customer, 8,000 orders 400 days apart (a span of 3.2M days, 391 kB
	 * of bits): in time order, reversed and shuffled, the state's peak memory
	 * stays within a small multiple of its final size, and all it ever
	 * allocated is linear in the span (geometric growth, old blocks freed).
	 */
	for (int order = 0; order < 3; order++)
	{
		MemCount	m = {0};
		CsAllocator counted = {test_alloc, test_free, &m};
		RfmState	st;
		static int32_t days[8000];
		RfmResult	res;

		for (int i = 0; i < 8000; i++)
			days[i] = -1600000 + 400 * (order == 1 ? 7999 - i : i);
		if (order == 2)
			for (int i = 7999; i > 0; i--)
			{
				int			j = (int) (rng() % (uint64_t) (i + 1));
				int32_t		t = days[i];

				days[i] = days[j];
				days[j] = t;
			}
		rfm_state_init(&st, RFM_GRAN_MONTH, RFM_UNIT_DAY, 1600000);
		for (int i = 0; i < 8000; i++)
			rfm_state_add(&st, days[i], cs_amount_double(10), &counted);
		CHECK(rfm_state_result(&st, &res) && res.purchase_days == 8000 && res.frequency == 7999,
			  "8000 orders 400 days apart: 8000 purchase days, frequency 7999");
		CHECK(m.peak < 2 * 1024 * 1024, "order %d: peak %zu bytes, under 2 MB", order, m.peak);
		CHECK(m.total < 4 * 1024 * 1024, "order %d: %zu bytes allocated in all, under 4 MB", order, m.total);
		CHECK(m.live == sizeof(uint64_t) * (size_t) (st.days.nwords),
			  "order %d: only the current bitmap is live (%zu bytes)", order, m.live);
	}
}

static void
test_sum(void)
{
	CsSum		s = {0, 0};

	for (int i = 0; i < 1000000; i++)
		cs_sum_add(&s, 0.01);
	CHECK(fabs(cs_sum_value(&s) - 10000.0) < 1e-9, "a million cents sum to %.12f", cs_sum_value(&s));
}

/* A state from orders[lo..hi). */
typedef struct Order
{
	int32_t		day;
	double		amount;
} Order;

/* An amount of whole cents, as a numeric(12,2) arrives: exact. */
static CsAmount
cents(double amount)
{
	CsAmount	a = {amount, (int64_t) llround(amount * 100), 2, true};

	return a;
}

static void
fill(RfmState *st, const Order *o, int lo, int hi)
{
	for (int i = lo; i < hi; i++)
		rfm_state_add(st, o[i].day, cents(o[i].amount), &alloc);
}

static int
same_result(const RfmResult *x, const RfmResult *y)
{
	return x->first_day == y->first_day && x->last_day == y->last_day && x->orders == y->orders &&
		x->purchase_days == y->purchase_days && x->refund_rows == y->refund_rows &&
		x->recency_days == y->recency_days && x->tenure_days == y->tenure_days &&
		fabs(x->revenue - y->revenue) < 1e-9 && fabs(x->refunds - y->refunds) < 1e-9 &&
		x->frequency == y->frequency && fabs(x->recency - y->recency) < 1e-12 &&
		fabs(x->T - y->T) < 1e-12 && fabs(x->monetary_value - y->monetary_value) < 1e-9 &&
		x->excluded_rows == y->excluded_rows;
}

static void
test_rfm_state(void)
{
	/* Hand example: as_of day 100; purchases days 10 (2 orders), 17, 45; refund day 50; one order after as_of. */
	RfmState	st;
	RfmResult	r;
	Order		hand[] = {{45, 30}, {10, 10}, {17, 20}, {10, 5}, {50, -8}, {101, 99}};

	rfm_state_init(&st, RFM_GRAN_DAY, RFM_UNIT_WEEK, 100);
	fill(&st, hand, 0, 6);
	CHECK(rfm_state_result(&st, &r), "hand example has a result");
	CHECK(r.first_day == 10 && r.last_day == 45 && r.orders == 4 && r.purchase_days == 3, "hand: days and orders");
	CHECK(r.refund_rows == 1 && r.excluded_rows == 1 && r.recency_days == 55 && r.tenure_days == 90, "hand: counts");
	CHECK(fabs(r.revenue - 65) < 1e-12 && fabs(r.refunds - 8) < 1e-12 && fabs(r.monetary_total - 57) < 1e-12,
		  "hand: money %g %g %g", r.revenue, r.refunds, r.monetary_total);
	CHECK(r.frequency == 2 && fabs(r.recency - 35 / 7.0) < 1e-12 && fabs(r.T - 90 / 7.0) < 1e-12,
		  "hand: btyd frequency %lld recency %g T %g", (long long) r.frequency, r.recency, r.T);
	CHECK(fabs(r.monetary_value - 25) < 1e-12, "hand: monetary_value %g (mean of 20 and 30)", r.monetary_value);

	/* Week granularity: days 10 (Tue 2000-01-11) and 17 fall in consecutive weeks. */
	rfm_state_init(&st, RFM_GRAN_WEEK, RFM_UNIT_WEEK, 100);
	fill(&st, hand, 0, 6);
	rfm_state_result(&st, &r);
	CHECK(r.frequency == 2 && r.recency == 5 && r.T == 13, "week: frequency %lld recency %g T %g",
		  (long long) r.frequency, r.recency, r.T);

	/* Only refunds: a result with no purchase; nothing at all: no result. */
	rfm_state_init(&st, RFM_GRAN_DAY, RFM_UNIT_DAY, 100);
	CHECK(!rfm_state_result(&st, &r), "empty state has no result");
	rfm_state_add(&st, 5, cents(-3), &alloc);
	CHECK(rfm_state_result(&st, &r) && r.orders == 0 && r.monetary_total == -3, "refund-only state");

	/*
	 * Property: any split into two states, combined, or serialised and read
	 * back, equals one pass; so does an open state (no as_of, no knobs) of the
	 * rows up to as_of, closed afterwards with as_of and any granularity/unit.
	 */
	for (int round = 0; round < 500; round++)
	{
		Order		o[200];
		int			n = 1 + (int) (rng() % 200);
		int			split = (int) (rng() % (n + 1));
		int			g = (int) (rng() % 3);
		int			u = (int) (rng() % 3);
		int32_t		as_of = 1000 + (int32_t) (rng() % 2000);
		RfmState	whole,
					left,
					right,
					back,
					open,
					view;
		RfmResult	rw,
					rc,
					rb,
					ro;
		char	   *buf;

		for (int i = 0; i < n; i++)
		{
			o[i].day = (int32_t) (rng() % 3000) - 200;
			o[i].amount = (rng() % 10 == 0 ? -1.0 : 1.0) * (double) (rng() % 10000) / 100.0;
		}
		rfm_state_init(&whole, g, u, as_of);
		rfm_state_init(&left, g, u, as_of);
		rfm_state_init(&right, g, u, as_of);
		fill(&whole, o, 0, n);
		fill(&left, o, 0, split);
		fill(&right, o, split, n);
		buf = malloc(rfm_state_serial_size(&right));
		rfm_state_serialize(&right, buf);
		CHECK(rfm_state_deserialize(&back, buf, rfm_state_serial_size(&right), &alloc), "deserialize");
		CHECK(!rfm_state_deserialize(&back, buf, rfm_state_serial_size(&right) - 1, &alloc), "short buffer refused");
		rfm_state_deserialize(&back, buf, rfm_state_serial_size(&right), &alloc);
		CHECK(rfm_state_valid(&back), "round %d: a state read back is valid", round);
		CHECK(rfm_state_view(&view, buf, rfm_state_serial_size(&right)) && rfm_state_valid(&view)
			  && view.days.nwords == right.days.nwords
			  && (right.days.nwords == 0 || memcmp(view.days.words, right.days.words, 8 * (size_t) right.days.nwords) == 0),
			  "round %d: a viewed state has the same bits", round);
		rfm_state_combine(&left, &back, &alloc);
		rfm_state_result(&whole, &rw);
		rfm_state_result(&left, &rc);
		rfm_state_result(&right, &rb);
		CHECK(same_result(&rw, &rc), "round %d: split at %d of %d differs from one pass", round, split, n);

		rfm_state_init(&open, (int) (rng() % 3), (int) (rng() % 3), RFM_OPEN_AS_OF);
		for (int i = 0; i < n; i++)
			if (o[i].day <= as_of)
				rfm_state_add(&open, o[i].day, cents(o[i].amount), &alloc);
		CHECK(open.excluded_rows == 0 && rfm_state_valid(&open), "round %d: open state excludes nothing", round);
		open.as_of = as_of;
		open.granularity = g;
		open.unit = u;
		open.excluded_rows = whole.excluded_rows;
		CHECK(rfm_state_result(&open, &ro) == rfm_state_result(&whole, &rw) && (rw.orders + rw.refund_rows == 0 || same_result(&rw, &ro)),
			  "round %d: open state closed at as_of %d (g %d u %d) differs from one pass", round, as_of, g, u);
		free(buf);
	}
}

static void
test_money(void)
{
	CsMoney		m = cs_money_zero(),
				n = cs_money_zero();
	CsAmount	tenth = {0.1, 1, 1, true},
				fifth = {0.2, 20, 2, true},
				third = {0.3, 3, 1, true};
	double		shuffled[2][1000];

	cs_money_add(&m, tenth);
	cs_money_add(&m, fifth);
	cs_money_add(&n, third);
	CHECK(cs_money_value(&m) == 0.3 && cs_money_value(&m) == cs_money_value(&n), "0.1 + 0.20 is exactly 0.3 (%.17g)", cs_money_value(&m));
	CHECK(cs_money_value(&n) == 0.3 && !m.inexact && m.u.exact.scale == 2 && m.u.exact.units == 30, "... with scales aligned, still exact");

	/* The same cents in two orders, and split in two merged sums: the same double every time. */
	for (int round = 0; round < 200; round++)
	{
		CsMoney		a = cs_money_zero(),
					b = cs_money_zero(),
					c = cs_money_zero(),
					d = cs_money_zero();
		int			k = 1 + (int) (rng() % 1000);

		for (int i = 0; i < k; i++)
			shuffled[0][i] = shuffled[1][i] = (double) (int64_t) (rng() % 100000 - 20000) / 100.0;
		for (int i = k - 1; i > 0; i--)
		{
			int			j = (int) (rng() % (uint64_t) (i + 1));
			double		t = shuffled[1][i];

			shuffled[1][i] = shuffled[1][j];
			shuffled[1][j] = t;
		}
		for (int i = 0; i < k; i++)
		{
			cs_money_add(&a, cents(shuffled[0][i]));
			cs_money_add(i % 2 ? &c : &d, cents(shuffled[1][i]));
		}
		cs_money_merge(&b, &d);
		cs_money_merge(&b, &c);
		CHECK(cs_money_value(&a) == cs_money_value(&b) && !a.inexact && !b.inexact,
			  "round %d: %d cents in another order, merged: %.17g vs %.17g", round, k, cs_money_value(&a), cs_money_value(&b));
	}

	/* A difference of exact sums is rounded once: 0.3 - 0.1 is 0.2, not 0.19999999999999998. */
	n = cs_money_zero();
	cs_money_add(&n, tenth);
	CHECK(cs_money_difference(&m, &n) == 0.2 && cs_money_value(&m) - cs_money_value(&n) != 0.2,
		  "exact difference %.17g (of doubles: %.17g)", cs_money_difference(&m, &n), cs_money_value(&m) - cs_money_value(&n));

	/* A float8 amount, or a sum past 64 bits, turns the sum into a compensated double sum. */
	cs_money_add(&m, cs_amount_double(1.5));
	CHECK(m.inexact && fabs(cs_money_value(&m) - 1.8) < 1e-15 && cs_money_valid(&m), "an inexact amount: %.17g", cs_money_value(&m));
	n = cs_money_zero();
	cs_money_add(&n, (CsAmount) {9e16, INT64_C(9000000000000000000), 2, true});
	cs_money_add(&n, (CsAmount) {9e16, INT64_C(9000000000000000000), 2, true});
	CHECK(n.inexact && cs_money_value(&n) == 1.8e17, "past 64 bits: %.17g", cs_money_value(&n));
	n = cs_money_zero();
	cs_money_add(&n, (CsAmount) {90071992547409.93, INT64_C(9007199254740993), 2, true});
	CHECK(!n.inexact && cs_money_value(&n) == 90071992547409.93, "beyond 2^53 units the decimal is read back: %.17g", cs_money_value(&n));
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

static int
brute_score(double v, const double *sorted, size_t n, int bins, int higher)
{
	/* 1 + number of i with v > x_(ceil(i n / bins)), by counting directly. */
	int			s = 1;

	for (int i = 1; i < bins; i++)
	{
		double		need = (double) i * (double) n / bins;
		size_t		k = 0;

		while ((double) (k + 1) < need - 1e-9)
			k++;
		if (v > sorted[k])
			s++;
	}
	return higher ? s : bins + 1 - s;
}

static void
test_scores(void)
{
	double		breaks[99];

	for (int round = 0; round < 300; round++)
	{
		size_t		n = 1 + rng() % 500;
		int			bins = 2 + (int) (rng() % 9);
		int			distinct = 1 + (int) (rng() % 12);
		double	   *v = malloc(sizeof(double) * n);
		int			ties_ok = 1,
					brute_ok = 1,
					range_ok = 1;

		for (size_t i = 0; i < n; i++)
			v[i] = (double) (rng() % distinct);
		score_breakpoints(v, n, bins, breaks);	/* reorders v */
		qsort(v, n, sizeof(double), cmp_double);	/* sorted, for the brute-force definition */
		CHECK(score_breakpoints_invalid(breaks, bins - 1) < 0, "breakpoints sorted and finite");
		for (size_t i = 0; i < n; i++)
		{
			int			hi = score_of(v[i], breaks, bins - 1, true);
			int			lo = score_of(v[i], breaks, bins - 1, false);

			if (i > 0 && v[i] == v[i - 1] && hi != score_of(v[i - 1], breaks, bins - 1, true))
				ties_ok = 0;
			if (hi != brute_score(v[i], v, n, bins, 1) || lo != brute_score(v[i], v, n, bins, 0))
				brute_ok = 0;
			if (hi < 1 || hi > bins || lo != bins + 1 - hi)
				range_ok = 0;
		}
		CHECK(ties_ok, "round %d: equal values share a score", round);
		CHECK(brute_ok, "round %d: scores match the brute-force definition", round);
		CHECK(range_ok, "round %d: scores in 1..bins and mirrored", round);
		/* The largest value scores bins when it is unique. */
		if (n >= (size_t) bins && (n == 1 || v[n - 1] != v[n - 2]))
			CHECK(score_of(v[n - 1], breaks, bins - 1, true) == bins, "a unique maximum scores bins");
		free(v);
	}

	/* Quintiles of 1..10: breakpoints 2, 4, 6, 8. */
	{
		double		v[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

		score_breakpoints(v, 10, 5, breaks);
		CHECK(breaks[0] == 2 && breaks[1] == 4 && breaks[2] == 6 && breaks[3] == 8, "quintiles of 1..10");
		CHECK(score_of(2, breaks, 4, true) == 1 && score_of(3, breaks, 4, true) == 2 &&
			  score_of(10, breaks, 4, true) == 5 && score_of(1, breaks, 4, false) == 5, "scores of 1..10");
	}
	{
		double		bad[3] = {1, NAN, 3},
					unsorted[3] = {1, 3, 2};

		CHECK(score_breakpoints_invalid(bad, 3) == 1 && score_breakpoints_invalid(unsorted, 3) == 2,
			  "invalid breakpoints found");
	}
}

static void
test_clv(void)
{
	/* Closed forms against loop sums, every timing, q below, at and above 1. */
	for (int round = 0; round < 2000; round++)
	{
		double		m = 1 + (double) (rng() % 1000);
		double		r = (double) (rng() % 1001) / 1000.0;
		double		d = (double) (rng() % 400) / 1000.0;
		double		g = (double) (rng() % 200) / 1000.0 - 0.05;
		int			n = (int) (rng() % 200);
		int			timing = (int) (rng() % 3);
		double		loop = 0,
					closed = clv_retention(m, r, d, n, timing, g);

		for (int k = 1; k <= n; k++)
		{
			double		grow = pow(1 + g, k - 1);

			loop += timing == CLV_START ? m * grow * pow(r, k - 1) / pow(1 + d, k - 1)
				: timing == CLV_END ? m * grow * pow(r, k) / pow(1 + d, k)
				: m * grow * pow(r, k - 1) / pow(1 + d, k);
		}
		if (fabs(closed - loop) > 1e-9 * fabs(loop) + 1e-12 || round % 400 == 0)
			CHECK(fabs(closed - loop) <= 1e-9 * fabs(loop) + 1e-12, "m %g r %g d %g g %g n %d timing %d: %.15g vs loop %.15g",
				  m, r, d, g, n, timing, closed, loop);
	}
	CHECK(fabs(clv_retention(100, 0.8, 0.1, -1, CLV_END, 0) - 800.0 / 3) < 1e-9, "100*0.8/(1.1-0.8)");
	CHECK(fabs(clv_retention(100, 0.8, 0.1, -1, CLV_START, 0) - 1100.0 / 3) < 1e-9, "100*1.1/0.3");
	CHECK(fabs(clv_retention(100, 0.8, 0.1, -1, CLV_END_FIRST, 0) - 1000.0 / 3) < 1e-9, "100/0.3");
	CHECK(clv_geometric_sum(1.0, 7) == 7 && clv_geometric_sum(0.5, 0) == 0, "geometric sum edge cases");
	CHECK(fabs(clv_period_rate(pow(1.01, 12) - 1, 12) - 0.01) < 1e-15, "12.68%% a year is 1%% a month");
	CHECK(fabs(clv_discount_factor(365.2425, 0.1, false) - 1.1) < 1e-12 &&
		  fabs(clv_discount_factor(-365.2425, 0.1, true) - exp(-0.1)) < 1e-12, "discount factors");
}

static void
test_retention(void)
{
	/* 1101, 1011, 1: observed 3,2,2,2; active 3,1,1,2; at risk 2,1,1,0; retained 1,0,1,0; rate 2/4. */
	RetentionCounts a,
				b,
				back;
	uint8_t		c1 = 0xD0,
				c2 = 0xB0,
				c3 = 0x80;
	size_t		size;
	char	   *buf;

	retention_init(&a);
	retention_init(&b);
	retention_add(&a, &c1, 4, &alloc);
	retention_add(&b, &c2, 4, &alloc);
	retention_add(&b, &c3, 1, &alloc);
	size = retention_serial_size(&b);
	buf = malloc(size);
	retention_serialize(&b, buf);
	CHECK(retention_deserialize(&back, buf, size, &alloc) && !retention_deserialize(&back, buf, size - 1, &alloc),
		  "serial form read back, short buffer refused");
	retention_deserialize(&back, buf, size, &alloc);
	retention_combine(&a, &back, &alloc);
	CHECK(a.customers == 3 && a.len == 4, "three customers, four offsets");
	CHECK(a.observed[0] == 3 && a.observed[1] == 2 && a.active[1] == 1 && a.active[3] == 2 &&
		  a.at_risk[0] == 2 && a.at_risk[3] == 0 && a.retained[0] == 1 && a.retained[2] == 1, "counts by offset");
	CHECK(retention_pooled_rate(&a) == 0.5, "pooled rate %g", retention_pooled_rate(&a));
	free(buf);
}

static void
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

/* log 2F1(a, b; a + 1; z) by its series in long double, until the tail bound is below 1e-20 of the sum. */
static double
ref_log_hyp2f1_c_a1(double a, double b, double z)
{
	long double term = 1,
				sum = 1;

	for (long k = 0; k < 100000000; k++)
	{
		long double ratio = ((long double) a + k) * ((long double) b + k) / (((long double) a + 1 + k) * (k + 1.0L)) * z;

		term *= ratio;
		sum += term;
		if (k > 2 && ratio < 1 && term <= 1e-20L * (1 - ratio) * sum)
			break;
	}
	return (double) logl(sum);
}

/* bgnbd_expected_new by its defining formula in long double, where the cancellation near a = 1 costs 4 digits of 19. */
static double
ref_bgnbd_expected_new(double r, double alpha, double a, double b, double t)
{
	long double z = (long double) t / ((long double) alpha + t),
				c = (long double) a + b - 1,
				term = 1,
				sum = 1;

	for (long k = 0; k < 10000000; k++)
	{
		long double ratio = ((long double) r + k) * ((long double) b + k) / ((c + k) * (k + 1.0L)) * z;

		term *= ratio;
		sum += term;
		if (k > 2 && ratio < 1 && term <= 1e-21L * (1 - ratio) * sum)
			break;
	}
	return (double) (c / ((long double) a - 1) * (1 - powl((long double) alpha / ((long double) alpha + t), r) * sum));
}

static void
test_btyd(void)
{
	BtydRows	rows = {0};
	double		p[4] = {0.243, 4.414, 0.793, 2.426};

	/* Special functions at known values. */
	CHECK(fabs(digamma(1.0) + 0.57721566490153286) < 1e-14, "digamma(1) = -Euler gamma");
	CHECK(fabs(digamma(0.5) + 1.9635100260214235) < 1e-13, "digamma(1/2)");
	CHECK(fabs(digamma(10.0) - 2.2517525890667211) < 1e-14, "digamma(10)");
	CHECK(fabs(hyp2f1(1, 1, 2, 0.5) - 2 * log(2.0)) < 1e-14, "2F1(1,1;2;1/2) = 2 ln 2");
	CHECK(fabs(hyp2f1(0.5, 1, 1.5, 0.25) - atanh(0.5) / 0.5) < 1e-14, "2F1(1/2,1;3/2;z^2) = atanh(z)/z");
	CHECK(isnan(hyp2f1(1, 1, 2, 1.0)), "2F1 outside [0, 1) refused");
	/*
	 * BG/NBD expectations near a = 1, where the closed form is 0/0: the series
	 * without cancellation against the closed form in long double (1e-4 <=
	 * |a - 1| <= 9e-4), continuous through a = 1 (the limit), and the two
	 * sides of the switch at |a - 1| = 1e-3 agree.
	 */
	{
		const double hs[] = {1e-4, 3e-4, 9e-4, -1e-4, -9e-4};
		const double ts[] = {1, 39, 400};
		double		worst = 0,
					jump = 0;

		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 3; j++)
			{
				double		p[4] = {0.24, 4.41, 1 + hs[i], 2.43};
				double		ref = ref_bgnbd_expected_new(0.24, 4.41, 1 + hs[i], 2.43, ts[j]);

				worst = fmax(worst, fabs(bgnbd_expected_new(p, ts[j]) - ref) / ref);
			}
		for (int j = 0; j < 3; j++)
		{
			double		at1[4] = {0.24, 4.41, 1, 2.43},
						up[4] = {0.24, 4.41, 1 + 1e-9, 2.43},
						down[4] = {0.24, 4.41, 1 - 1e-9, 2.43},
						below[4] = {0.24, 4.41, 1 + 1e-3 * (1 - 1e-9), 2.43},
						above[4] = {0.24, 4.41, 1 + 1e-3 * (1 + 1e-9), 2.43};
			double		e1 = bgnbd_expected_new(at1, ts[j]);

			jump = fmax(jump, fmax(fabs(bgnbd_expected_new(up, ts[j]) - e1), fabs(bgnbd_expected_new(down, ts[j]) - e1)) / e1);
			jump = fmax(jump, fabs(bgnbd_expected_new(above, ts[j]) - bgnbd_expected_new(below, ts[j])) / e1);
		}
		CHECK(worst < 1e-12, "BG/NBD expectation near a = 1 equals the closed form in long double (worst relative %.2g)", worst);
		CHECK(jump < 1e-8, "... and is continuous through a = 1 and across the switch (largest step %.2g)", jump);
	}
	/*
	 * Euler's transformation (log_hyp2f1 goes that way first when a + b > c + 1)
	 * against the plain series (hyp2f1 goes that way first), on Pareto/NBD-like
	 * arguments c = a + 1 up to z = 1 - 1e-4 with a large a, where the plain
	 * series needs ~10^5 terms.
	 */
	{
		const double as[] = {3.5, 60.5, 900.5};
		const double bs[] = {2.5, 11.6, 50.55};
		const double zs[] = {0.1, 0.9, 0.999, 0.9999};
		double		worst = 0;

		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++)
				for (int k = 0; k < 4; k++)
				{
					double		e = log_hyp2f1(as[i], bs[j], as[i] + 1, zs[k]);
					double		d = log(hyp2f1(as[i], bs[j], as[i] + 1, zs[k]));
					double		rel = fabs(e - d) / fmax(1, fabs(d));

					worst = fmax(worst, isfinite(rel) ? rel : INFINITY);
				}
		CHECK(worst < 1e-13, "log 2F1 through Euler's transformation equals the plain series (worst relative %.2g)", worst);
	}
	/*
	 * 2F1(a, b; a + 1; z) by quadrature above z = 0.95 against the series summed
	 * in long double with a bound on its tail, for a from 0.3 to 3e4, b from 0.2
	 * to 150 and z up to 1 - 1e-5 (the plain double series drifts by up to 6e-13
	 * there; scipy and an exactly rounded sum agree with the quadrature).
	 */
	{
		const double as[] = {0.3, 1.7, 25.5, 900.5, 30000.5};
		const double bs[] = {0.2, 1.0, 3.55, 11.6, 60.5, 150.5};
		const double zs[] = {0.951, 0.97, 0.99, 0.995, 0.999, 0.9999, 0.99999};
		double		worst = 0;
		int			compared = 0;

		for (int i = 0; i < 5; i++)
			for (int j = 0; j < 6; j++)
				for (int k = 0; k < 7; k++)
				{
					double		q,
								ref;

					if ((bs[j] + 40) / (1 - zs[k]) > 3e6)
						continue;	/* the reference would take too long */
					q = log_hyp2f1_c_a1(as[i], bs[j], zs[k]);
					ref = ref_log_hyp2f1_c_a1(as[i], bs[j], zs[k]);
					compared++;
					worst = fmax(worst, isfinite(q) ? fabs(q - ref) / fmax(1, fabs(ref)) : INFINITY);
				}
		CHECK(compared >= 180 && worst < 1e-14,
			  "2F1(a, b; a+1; z) by quadrature equals a long double series in %d cases (worst relative %.2g)", compared, worst);
	}

	/* Compaction merges duplicates and keeps the weight. */
	for (int i = 0; i < 5000; i++)
		btyd_rows_add(&rows, (double) (i % 7), (double) (i % 7), 10 + (i % 3), 1, &alloc);
	btyd_rows_compact(&rows, &alloc);
	CHECK(rows.n == 21 && btyd_rows_weight(&rows) == 5000, "5000 rows compact to %lld distinct", (long long) rows.n);

	/*
	 * Compaction in batches (each batch sorted, then merged with the sorted
	 * rows before it) gives what one sort gives: 200,000 pseudo-random rows
	 * over 40 x 50 x 60 keys, weights counted per key independently.
	 */
	{
		static int	counts[40][50][60];
		BtydRows	many = {0};
		uint64_t	seed = 12345;
		bool		ok = true;
		int64_t		distinct = 0;

		for (int i = 0; i < 200000; i++)
		{
			int			key[3];

			for (int d = 0; d < 3; d++)
			{
				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				key[d] = (int) ((seed >> 33) % (uint64_t) (d == 0 ? 40 : d == 1 ? 50 : 60));
			}
			/* skewed toward small keys, as purchase histories are */
			key[1] = key[1] * key[1] / 50;
			distinct += counts[key[0]][key[1]][key[2]]++ == 0;
			btyd_rows_add(&many, key[0], key[1], key[2], 1, &alloc);
		}
		btyd_rows_compact(&many, &alloc);
		for (int64_t i = 0; i < many.n; i++)
		{
			const BtydRow *r = &many.rows[i];

			ok &= r->w == counts[(int) r->x][(int) r->tx][(int) r->T];
			if (i > 0)
			{
				const BtydRow *q = &many.rows[i - 1];

				ok &= q->x < r->x || (q->x == r->x && (q->tx < r->tx || (q->tx == r->tx && q->T < r->T)));
			}
		}
		CHECK(ok && many.n == distinct && btyd_rows_weight(&many) == 200000,
			  "200,000 rows compacted in batches: %lld sorted distinct rows (%lld keys), weights = counts",
			  (long long) many.n, (long long) distinct);
	}

	/* P(alive) and expectations behave: no repeat purchase = alive; more time, more purchases. */
	CHECK(bgnbd_p_alive(p, 0, 0, 30) == 1, "x = 0 is alive");
	CHECK(bgnbd_p_alive(p, 3, 30, 30) > bgnbd_p_alive(p, 3, 5, 30), "a recent buyer is likelier alive");
	CHECK(bgnbd_expected(p, 52, 3, 30, 30) > bgnbd_expected(p, 26, 3, 30, 30), "expectations grow with the horizon");
	{
		double		sum = 0;

		for (int n = 0; n < 400; n++)
			sum += bgnbd_pmf_new(p, 39, n);
		CHECK(fabs(sum - 1) < 1e-9, "P(X(39) = n) sums to %.12f", sum);
	}

	/* The fit recovers the maximum of a data set drawn from its own expectation: LL at the fit >= LL near it. */
	{
		BtydRows	data = {0};
		BtydFit		fit;
		double		ll_fit = 0,
					ll_near = 0,
					q[4];

		/* Simulated BG/NBD customers: rate ~ Gamma(1, 1/5) (exponential), dropout ~ Beta(1, 2). */
		for (int i = 0; i < 5000; i++)
		{
			double		u1 = ((double) (rng() >> 11) + 0.5) / 9007199254740992.0;
			double		u2 = ((double) (rng() >> 11) + 0.5) / 9007199254740992.0;
			double		lambda = -log(u1) / 5.0;
			double		drop = 1 - sqrt(u2);
			double		T = 20 + (double) (rng() % 60);
			double		t = 0,
						x = 0,
						tx = 0;

			for (;;)
			{
				double		u = ((double) (rng() >> 11) + 0.5) / 9007199254740992.0;

				t += -log(u) / lambda;
				if (t > T)
					break;
				x += 1;
				tx = t;
				if (((double) (rng() >> 11) + 0.5) / 9007199254740992.0 < drop)
					break;
			}
			btyd_rows_add(&data, x, tx, T, 1, &alloc);
		}
		btyd_rows_compact(&data, &alloc);
		fit = btyd_fit_model(&bgnbd_spec, &data, 0, NULL);
		CHECK(fit.converged, "the fit converges (%d iterations)", fit.iterations);
		for (int k = 0; k < 4; k++)
			q[k] = fit.params[k] * (k % 2 ? 1.01 : 0.99);
		for (int64_t i = 0; i < data.n; i++)
		{
			ll_fit += data.rows[i].w * bgnbd_loglik(fit.params, data.rows[i].x, data.rows[i].tx, data.rows[i].T);
			ll_near += data.rows[i].w * bgnbd_loglik(q, data.rows[i].x, data.rows[i].tx, data.rows[i].T);
		}
		CHECK(fabs(ll_fit - fit.loglik) < 1e-6 * fabs(ll_fit), "reported LL %.6f = recomputed %.6f", fit.loglik, ll_fit);
		CHECK(ll_fit > ll_near, "the fit is a maximum (%.6f > %.6f)", ll_fit, ll_near);
	}
}

static int	cases_passed,
			cases_failed;

static void
run_case(const char *name, void (*fn) (void))
{
	passed = failed = 0;
	fn();
	printf("%s %s (%d checks, %d failed)\n", failed ? "FAIL" : "ok  ", name, passed + failed, failed);
	if (failed)
		cases_failed++;
	else
		cases_passed++;
}

/* Pareto/NBD predictions: the PMF is a distribution whose mean is the closed-form expectation. */
/* The Pareto/NBD log-likelihood with parameter j moved by d. */
static double
pnbd_loglik_moved(const double *p, int j, double d, const double *h)
{
	double		q[4];

	memcpy(q, p, sizeof(q));
	q[j] += d;
	return pnbd_loglik(q, h[0], h[1], h[2]);
}

/*
 * The analytic gradient of the Pareto/NBD log-likelihood (through the
 * derivatives of log 2F1, series and quadrature) against a five-point
 * difference quotient, on both branches (alpha >= beta and alpha < beta),
 * with z small and near 1, in log-parameter units (the fit's own): to 1e-8
 * for ordinary parameters, to 1e-5 where s is in the tens of thousands (the
 * derivative in s is then a difference of nearly equal terms).
 */
static void
test_pareto_nbd_gradient(void)
{
	const double params[][4] = {{0.553, 10.578, 0.606, 11.669}, {1.0, 20.0, 0.5, 5.0}, {0.5, 1.0, 3.0, 2000.0},
	{2.08, 4.5, 22352.6, 126512.0}, {3.9, 0.0004, 41204.0, 45.8}, {1.2, 300.0, 22352.6, 40.0}};
	const double hist[][3] = {{0, 0, 30}, {2, 10, 38}, {5, 30, 38}, {3, 0.001, 50}, {1, 38, 38}, {40, 5, 106}};
	double		worst_ordinary = 0,
				worst_extreme = 0;

	for (int k = 0; k < 6; k++)
		for (int h = 0; h < 6; h++)
		{
			double		g[4];

			pnbd_loglik_grad(params[k], hist[h][0], hist[h][1], hist[h][2], g);
			for (int j = 0; j < 4; j++)
			{
				const double *p = params[k];
				double		d = 1e-4 * p[j];
				double		num = (-pnbd_loglik_moved(p, j, 2 * d, hist[h]) + 8 * pnbd_loglik_moved(p, j, d, hist[h])
								   - 8 * pnbd_loglik_moved(p, j, -d, hist[h]) + pnbd_loglik_moved(p, j, -2 * d, hist[h])) / (12 * d);
				double		err = fabs(g[j] - num) * p[j] / fmax(1, fabs(num) * p[j]);

				if (k < 3)
					worst_ordinary = fmax(worst_ordinary, isfinite(err) ? err : INFINITY);
				else
					worst_extreme = fmax(worst_extreme, isfinite(err) ? err : INFINITY);
			}
		}
	CHECK(worst_ordinary < 1e-8, "analytic Pareto/NBD gradient, ordinary parameters: worst %.2g", worst_ordinary);
	CHECK(worst_extreme < 1e-5, "analytic Pareto/NBD gradient, s in the tens of thousands: worst %.2g", worst_extreme);
}

static void
test_pareto_nbd(void)
{
	const double params[][4] = {{0.553, 10.578, 0.606, 11.669}, {0.8, 3.0, 0.5, 12.0}, {0.55, 10.6, 1.0, 11.7}};
	const double hist[][3] = {{0, 0, 0}, {0, 0, 20}, {2, 30.43, 38.86}, {9, 12, 38}};

	for (int k = 0; k < 3; k++)
		for (int h = 0; h < 4; h++)
		{
			const double *p = params[k];
			double		x = hist[h][0],
						tx = hist[h][1],
						T = hist[h][2];
			double		total = 0,
						mean = 0,
						expected = pnbd_expected(p, 39, x, tx, T);

			for (int n = 0; n <= 800; n++)
			{
				double		pn = pnbd_pmf(p, 39, n, x, tx, T);

				CHECK(pn >= -1e-15 && pn <= 1 + 1e-15, "P(X = %d) = %g is a probability", n, pn);
				total += pn;
				mean += n * pn;
			}
			CHECK(fabs(total - 1) < 1e-10, "params %d history %d: PMF sums to %.15f", k, h, total);
			CHECK(fabs(mean - expected) < 1e-9 * expected, "params %d history %d: mean %.12f = expectation %.12f",
				  k, h, mean, expected);
		}
	/* A new customer is a customer with an empty history; s = 1 is the limit of s -> 1. */
	CHECK(fabs(pnbd_expected_new(params[0], 39) - pnbd_expected(params[0], 39, 0, 0, 0)) < 1e-14, "new = empty history");
	{
		double		lo[4] = {0.55, 10.6, 1 - 1e-9, 11.7},
					hi[4] = {0.55, 10.6, 1 + 1e-9, 11.7};
		double		at = pnbd_expected_new(params[2], 39);

		CHECK(fabs(pnbd_expected_new(lo, 39) - at) < 1e-8 * at && fabs(pnbd_expected_new(hi, 39) - at) < 1e-8 * at,
			  "expectation continuous at s = 1: %.12f", at);
	}
}

/* 2F1 near z = 1 against closed forms, on z = 1 - 2^-k (exact, so 1 - z is exact). */
static void
test_hyp2f1_near_one(void)
{
	for (int k = 1; k <= 45; k++)
	{
		double		w = ldexp(1, -k),
					z = 1 - w,
					l = log(w);
		struct
		{
			double		a, b, c, expected;
			const char *name;
		}			cases[] = {
			{1, 1, 2, -l / z, "2F1(1, 1; 2; z) = -log(1 - z) / z (c - a - b = 0)"},
			{1, 1, 3, 2 * (w * l + z) / (z * z), "2F1(1, 1; 3; z) = 2 ((1 - z) log(1 - z) + z) / z^2 (c - a - b = 1)"},
			{0.3, 2.5, 2.5, exp(-0.3 * l), "2F1(a, b; b; z) = (1 - z)^-a (c - a - b = -0.3)"},
			{2, 0.7, 0.7, exp(-2 * l), "2F1(2, b; b; z) = (1 - z)^-2 (c - a - b = -2)"},
			{0.5, 0.5, 1.5, atan2(sqrt(z), sqrt(w)) / sqrt(z), "2F1(1/2, 1/2; 3/2; z) = asin(sqrt z) / sqrt z (c - a - b = 0.5)"},
			{1, 1 + 4e-6, 2, 0, "2F1(1, 1 + 4e-6; 2; z), c - a - b = -4e-6: between its neighbours"},
		};

		for (int i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++)
		{
			double		v = hyp2f1(cases[i].a, cases[i].b, cases[i].c, z);

			if (cases[i].expected == 0)		/* monotone in b: between b = 1 and b = 1 + 1e-5 */
			{
				double		lo = hyp2f1(1, 1, 2, z),
							hi = hyp2f1(1, 1 + 1e-5, 2, z);

				CHECK(v > lo && v < hi, "k = %d: %s: %.17g not in (%.17g, %.17g)", k, cases[i].name, v, lo, hi);
				continue;
			}
			CHECK(fabs(v - cases[i].expected) <= 1e-13 * fabs(cases[i].expected),
				  "k = %d: %s: %.17g, expected %.17g", k, cases[i].name, v, cases[i].expected);
		}
	}
}

static int
cmp_desc(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x > y ? -1 : x < y;
}

/* The priority sample keeps the largest priorities whatever the split; tau is the largest one dropped. */
static void
test_kmeans_sample(void)
{
	KmeansPoints one,
				a,
				b;
	double	   *all = malloc(sizeof(double) * 5000);

	kmeans_points_init(&one, 2);
	kmeans_points_init(&a, 2);
	kmeans_points_init(&b, 2);
	for (int i = 0; i < 5000; i++)
	{
		double		x[2] = {i % 97, (i * 7) % 13},
					w = 1 + i % 3;

		all[i] = w / kmeans_point_uniform(x, 2, 5);
		kmeans_points_add(&one, x, w, 5, &alloc);
		kmeans_points_add(i % 3 ? &a : &b, x, w, 5, &alloc);
	}
	kmeans_points_bound(&a, 300, &alloc);	/* a partial state bounded early, as a worker's may be */
	kmeans_points_merge(&a, &b, &alloc);
	kmeans_points_bound(&a, 300, &alloc);
	kmeans_points_bound(&one, 300, &alloc);
	qsort(all, 5000, sizeof(double), cmp_desc);
	qsort(one.priority, one.n, sizeof(double), cmp_desc);
	qsort(a.priority, a.n, sizeof(double), cmp_desc);
	CHECK(one.n == 300 && a.n == 300, "kept %lld and %lld points, 300 asked", (long long) one.n, (long long) a.n);
	CHECK(memcmp(one.priority, a.priority, sizeof(double) * 300) == 0, "split and merged keeps the same points as one pass");
	CHECK(memcmp(one.priority, all, sizeof(double) * 300) == 0, "the kept points are the 300 largest priorities");
	CHECK(one.tau == all[300] && a.tau == all[300], "tau %g is the 301st priority %g", one.tau, all[300]);
	CHECK(one.rows == 5000 && a.rows == 5000 && fabs(one.stats[0].mean - a.stats[0].mean) < 1e-12,
		  "statistics of all rows kept: mean %g and %g", one.stats[0].mean, a.stats[0].mean);
	free(all);
}

/*
 * Covariate fits with a known answer: customers of group B are those of group A with every time (or spend)
 * multiplied by c.  Their likelihood is A's at the rate (or spend) scale times c, up to a constant, so with a
 * dummy z = [customer in B] the maximum is the plain fit of A with the coefficient of that scale ln c (in the
 * models' signs) and every other coefficient 0.  Also: compaction merges whatever the order, -0 as 0.
 */
static double
uniform01(void)
{
	return ((double) (rng() >> 11) + 0.5) / 9007199254740992.0;
}

static void
test_covariates(void)
{
	const double c = 2.0;
	const CovModelKind kinds[3] = {COV_BGNBD, COV_PNBD, COV_GG};
	CovRows		one = {1, 0, 0, 0, NULL},
				two = {1, 0, 0, 0, NULL};
	double		zero = 0.0,
				minus_zero = -0.0,
				unit = 1.0;

	for (int i = 0; i < 3000; i++)
	{
		int			j = 2999 - i;	/* the same rows backwards */
		double		zi = i % 3 == 0 ? unit : (i % 2 ? zero : minus_zero),
					zj = j % 3 == 0 ? unit : (j % 2 ? minus_zero : zero);

		cov_rows_add(&one, &zi, i % 5, i % 5 ? 10 + i % 7 : 0, 30, 1, &alloc);
		cov_rows_add(&two, &zj, j % 5, j % 5 ? 10 + j % 7 : 0, 30, 1, &alloc);
	}
	cov_rows_compact(&one);
	cov_rows_compact(&two);
	CHECK(one.n == two.n && memcmp(one.data, two.data, sizeof(double) * 5 * one.n) == 0 && one.n <= 2 * 5 * 7,
		  "compaction: %lld distinct rows whatever the order, -0 merged with 0", (long long) one.n);
	test_free(NULL, one.data);
	test_free(NULL, two.data);

	for (int m = 0; m < 3; m++)
	{
		CovModelKind kind = kinds[m];
		CovRows		rows = {1, kind == COV_GG ? 0 : 1, 0, 0, NULL};
		BtydRows	plain = {0, 0, NULL};
		CovFit		fit;
		BtydFit		a_only;
		int			nb = cov_base_model(kind)->n_params;
		double		worst_base = 0;

		for (int i = 0; i < 5000; i++)
		{
			/* BG/NBD customers as test_btyd draws them; spend: two exponentials of a rate ~ 0.02 + Exp(10) per transaction */
			double		lambda = -log(uniform01()) / 5.0,
						drop = 1 - sqrt(uniform01()),
						nu = 0.02 + -log(uniform01()) / 10,
						T = 20 + (double) (rng() % 60),
						t = 0,
						x = 0,
						tx = 0,
						spend = 0;
			double		za[2] = {0, 0},
						zb[2] = {1, 1};

			for (;;)
			{
				t += -log(uniform01()) / lambda;
				if (t > T)
					break;
				x += 1;
				tx = t;
				spend += (-log(uniform01()) - log(uniform01())) / nu;
				if (uniform01() < drop)
					break;
			}
			if (kind == COV_GG)
			{
				if (x == 0)
					continue;
				cov_rows_add(&rows, za, x, spend / x, 0, 1, &alloc);
				cov_rows_add(&rows, zb, x, spend / x * c, 0, 1, &alloc);
				btyd_rows_add(&plain, x, spend / x, 0, 1, &alloc);
			}
			else
			{
				cov_rows_add(&rows, za, x, tx, T, 1, &alloc);
				cov_rows_add(&rows, zb, x, tx * c, T * c, 1, &alloc);
				btyd_rows_add(&plain, x, tx, T, 1, &alloc);
			}
		}
		cov_rows_compact(&rows);
		btyd_rows_compact(&plain, &alloc);
		a_only = btyd_fit_model(kind == COV_BGNBD ? &bgnbd_spec : kind == COV_PNBD ? &pnbd_spec : &gg_spec, &plain, 0, NULL);
		cov_fit(kind, &rows, 0, true, &alloc, &fit);
		for (int p = 0; p < nb; p++)
			worst_base = fmax(worst_base, fabs(fit.fit.params[p] / a_only.params[p] - 1));
		CHECK(fit.fit.converged && worst_base < 1e-5, "model %d: base parameters are group A's plain fit (worst %.1e)", m, worst_base);
		if (kind == COV_BGNBD)
			CHECK(fabs(fit.fit.params[4] + log(c)) < 1e-5 && fabs(fit.fit.params[5]) < 1e-5 && fabs(fit.fit.params[6]) < 1e-5,
				  "BG/NBD: purchase coefficient %.8f = -ln 2, dropout %.1e %.1e = 0", fit.fit.params[4], fit.fit.params[5], fit.fit.params[6]);
		else if (kind == COV_PNBD)
			CHECK(fabs(fit.fit.params[4] + log(c)) < 1e-5 && fabs(fit.fit.params[5] + log(c)) < 1e-5,
				  "Pareto/NBD: purchase and dropout coefficients %.8f %.8f = -ln 2", fit.fit.params[4], fit.fit.params[5]);
		else
			CHECK(fabs(fit.fit.params[3] - log(c)) < 1e-5, "Gamma-Gamma: spend coefficient %.8f = ln 2", fit.fit.params[3]);
		CHECK(fit.has_cov && fit.cov[nb * fit.n + nb] > 0, "model %d: the coefficient has a variance", m);
		test_free(NULL, rows.data);
		test_free(NULL, plain.rows);
	}
}

int
main(void)
{
	run_case("calendar: day, week and month periods", test_calendar);
	run_case("periodset: distinct counts, union, bounded size", test_periodset);
	run_case("compensated sums", test_sum);
	run_case("rfm state: hand example, split/combine/serialise == one pass", test_rfm_state);
	run_case("money: exact decimal sums whatever the order, inexact fallbacks", test_money);
	run_case("scores: breakpoints, ties, mirror, brute force", test_scores);
	run_case("clv: closed forms == loop sums, rates, discount factors", test_clv);
	run_case("retention counts: hand example, combine, serial form", test_retention);
	run_case("lifecycle: stages by precedence, returns after a lapse", test_lifecycle);
	run_case("btyd: special functions, compaction, predictions, fit optimum", test_btyd);
	run_case("pareto/nbd: PMF sums to 1 with the closed-form mean, s = 1", test_pareto_nbd);
	run_case("pareto/nbd: analytic gradient == five-point differences", test_pareto_nbd_gradient);
	run_case("2F1 near z = 1: closed forms to 1 - z = 2^-45", test_hyp2f1_near_one);
	run_case("k-means: the priority sample is the same split or whole", test_kmeans_sample);
	run_case("covariates: compaction, time- and spend-scaled groups give ln c", test_covariates);
	printf("unit: %d passed, %d failed\n", cases_passed, cases_failed);
	return cases_failed != 0;
}

/*
 * Unit tests of rfm_math.c: periods, day sets, compensated sums, the state and exact money.
 */
#include "unit.h"

void
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

void
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

void
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

void
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

void
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

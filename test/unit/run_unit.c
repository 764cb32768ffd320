/*
 * Unit and property tests of the fmgr-free math (src/<name>_math.c), no server: the cases are in one file per
 * math file (<name>_test.c), run here.  Each case is made of many checks; prints a line per case and
 * "unit: N passed, N failed" (cases); exits non-zero on a failure.
 */
#include "unit.h"

int			passed,
			failed;			/* checks, within the running case */

void *
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

void
test_free(void *ctx, void *ptr)
{
	MemCount   *m = ctx;
	size_t	   *block = (size_t *) ptr - 1;

	if (m != NULL)
		m->live -= block[0];
	free(block);
}

const CsAllocator alloc = {test_alloc, test_free, NULL};

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
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

int
main(void)
{
	run_case("calendar: day, week and month periods", test_calendar);
	run_case("periodset: distinct counts, union, bounded size", test_periodset);
	run_case("compensated sums", test_sum);
	run_case("rfm state: hand example, split/combine/serialise == one pass", test_rfm_state);
	run_case("money: exact decimal sums whatever the order, inexact fallbacks", test_money);
	run_case("scores: breakpoints, ties, mirror, brute force", test_scores);
	run_case("scores: rescaled to 1..5, cell labels, weighted means", test_score_labels);
	run_case("clv: closed forms == loop sums, rates, discount factors", test_clv);
	run_case("retention counts: hand example, combine, serial form", test_retention);
	run_case("lifecycle: stages by precedence, returns after a lapse", test_lifecycle);
	run_case("btyd: special functions, compaction, predictions, fit optimum", test_btyd);
	run_case("pareto/nbd: PMF sums to 1 with the closed-form mean, s = 1", test_pareto_nbd);
	run_case("pareto/nbd: analytic gradient == five-point differences", test_pareto_nbd_gradient);
	run_case("2F1 near z = 1: closed forms to 1 - z = 2^-45", test_hyp2f1_near_one);
	run_case("chi-square tails: incomplete gamma == closed forms for df 1, 2, 4", test_gamma_q);
	run_case("sbg: gradient == central differences, survival identities, DERL == loop sums", test_sbg);
	run_case("k-means: the priority sample is the same split or whole", test_kmeans_sample);
	run_case("covariates: compaction, time- and spend-scaled groups give ln c", test_covariates);
	printf("unit: %d passed, %d failed\n", cases_passed, cases_failed);
	return cases_failed != 0;
}

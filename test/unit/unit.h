/*
 * unit.h: what the unit tests of the fmgr-free math share (run_unit.c): the CHECK macro and its counters,
 * a counting allocator, a fixed-seed random generator, and the test cases, one file per math file.
 */
#ifndef UNIT_H
#define UNIT_H

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

extern int	passed,
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

extern void *test_alloc(void *ctx, size_t size);
extern void test_free(void *ctx, void *ptr);
extern const CsAllocator alloc;		/* test_alloc without counting */

/* xorshift64*, fixed seed: the same cases every run. */
extern uint64_t rng(void);

/* The cases: rfm_test.c */
extern void test_calendar(void);
extern void test_periodset(void);
extern void test_sum(void);
extern void test_rfm_state(void);
extern void test_money(void);
/* score_test.c, clv_test.c, retention_test.c, lifecycle_test.c */
extern void test_scores(void);
extern void test_score_labels(void);
extern void test_clv(void);
extern void test_retention(void);
extern void test_lifecycle(void);
/* btyd_test.c, pnbd_test.c, special_test.c */
extern void test_btyd(void);
extern void test_pareto_nbd(void);
extern void test_pareto_nbd_gradient(void);
extern void test_hyp2f1_near_one(void);
extern void test_gamma_q(void);
/* sbg_test.c, kmeans_test.c, covariate_test.c */
extern void test_sbg(void);
extern void test_kmeans_sample(void);
extern void test_covariates(void);

#endif

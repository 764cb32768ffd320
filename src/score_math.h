/*
 * score_math.h: tie-safe quantile scores, free of fmgr.
 *
 * Breakpoints of n sorted values for b bins: q_i = x_(ceil(i*n/b)), i = 1..b-1
 * (the inverse empirical CDF at i/b, i.e. percentile_disc(i/b)).  A value
 * scores 1 + #{i : v > q_i} when higher is better, and b minus that count
 * when lower is better.  The score depends on the value alone, so equal
 * values always share a score.
 */
#ifndef SCORE_MATH_H
#define SCORE_MATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCORE_MIN_BINS 2
#define SCORE_MAX_BINS 100

/* n >= 1 values in any order (they are reordered); writes bins - 1 breakpoints. Linear time. */
void		score_breakpoints(double *values, size_t n, int bins, double *out);

/* Index of the first breakpoint that is not finite or breaks the order, or -1. */
int			score_breakpoints_invalid(const double *breaks, int nbreaks);

int			score_of(double value, const double *breaks, int nbreaks, bool higher_is_better);

#endif

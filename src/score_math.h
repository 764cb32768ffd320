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

/* A score on 1..bins mapped to the segment rules' 1..5: 1 + round((score - 1) * 4 / (bins - 1)), halves up. */
int			score_rescale5(int score, int bins);

/* The RFM cell label of scores 1..100 into buf (at least SCORE_CELL_LEN bytes): "545", or "10-5-4" when a
 * score has two digits or more; returns its length. */
#define SCORE_CELL_LEN 16
int			score_cell_label(int r, int f, int m, char *buf);

/* (w_r r + w_f f + w_m m) / (w_r + w_f + w_m) for finite weights >= 0 not all zero (the caller checks),
 * computed with the weights relative to the largest, so weights near DBL_MAX do not overflow. */
double		score_weighted_mean(const int scores[3], const double weights[3]);

#endif

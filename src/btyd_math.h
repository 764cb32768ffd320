/*
 * btyd_math.h: "buy till you die" models, free of fmgr: BG/NBD in
 * bgnbd_math.c, Pareto/NBD in pnbd_math.c, Gamma-Gamma in gg_math.c; their
 * fitting in fit_math.h, the special functions in special_math.h.
 *
 * BG/NBD (Fader, Hardie & Lee 2005) and Pareto/NBD (Schmittlein, Morrison &
 * Colombo 1987) on (x, t_x, T): repeat purchases, time
 * of the last one and age, all in one time unit; Gamma-Gamma spend model
 * (Fader, Hardie & Lee 2005, "RFM and CLV") on (x, m_x): repeat purchases
 * and their mean value.  Fitting is maximum likelihood by BFGS in log-
 * parameter space with analytic gradients (through 2F1 for the Pareto/NBD),
 * over weighted distinct rows.
 */
#ifndef BTYD_MATH_H
#define BTYD_MATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_math.h"
#include "fit_math.h"
#include "special_math.h"

/* Per-customer log-likelihoods. */
double		bgnbd_loglik(const double *p, double x, double tx, double T);	/* p = r, alpha, a, b */
double		gg_loglik(const double *p, double x, double m);	/* p = p, q, gamma */

/* The models as fits see them (btyd_fit_model, btyd_model_covariance of fit_math.h). */
extern const BtydModelSpec bgnbd_spec;	/* p = r, alpha, a, b */
extern const BtydModelSpec mbgnbd_spec; /* p = r, alpha, a, b */
extern const BtydModelSpec pnbd_spec;	/* p = r, alpha, s, beta */
extern const BtydModelSpec gg_spec;		/* p = p, q, gamma; rows (x, m_x, 0) */
extern const BtydModelSpec bgbb_spec;	/* p = alpha, beta, gamma, delta; rows (x, t_x, n) */
extern const BtydModelSpec sbg_spec;	/* p = alpha, beta; rows (renewals, 1 cancelled / 0 active, 0) */

/* sBG (sbg_math.c): contracts renewed k times, then cancelled or still active; p = alpha, beta. */
double		sbg_loglik_grad(const double *p, double k, bool churned, double *grad);
double		sbg_survival(const double *p, double t);	/* S(t) = P(T > t), t >= 0 */
double		sbg_churn_probability(const double *p, double t);	/* P(T = t), t >= 1 */
double		sbg_retention(const double *p, double t);	/* S(t) / S(t - 1), t >= 1 */
double		sbg_derl(const double *p, double d, double k);	/* renewals to come, discounted; d = 0: expected number */
double		sbg_expected_payments_new(const double *p, double d);	/* a new customer's, the first included */

/* Pareto/NBD (Schmittlein, Morrison & Colombo 1987) on (x, t_x, T): p = r, alpha, s, beta. */
double		pnbd_loglik(const double *p, double x, double tx, double T);
double		pnbd_loglik_grad(const double *p, double x, double tx, double T, double *grad);	/* d/d(r, alpha, s, beta) */
double		pnbd_p_alive(const double *p, double x, double tx, double T);
double		pnbd_expected(const double *p, double t, double x, double tx, double T);	/* conditional */
double		pnbd_expected_new(const double *p, double t);	/* unconditional, a new customer */
double		pnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T);	/* conditional; t > 0 */

/* BG/NBD predictions. */
double		bgnbd_p_alive(const double *p, double x, double tx, double T);
double		bgnbd_expected(const double *p, double t, double x, double tx, double T);	/* conditional */
double		bgnbd_expected_new(const double *p, double t);	/* unconditional, a new customer */
/* The conditional expectation in two factors: E[X(t)] = bgnbd_horizon(p, t, x, T, shift) /
 * bgnbd_alive_divisor(p, x, tx, T, shift), shift 0 for BG/NBD, 1 for MBG/NBD; the first does not depend on tx. */
double		bgnbd_horizon(const double *p, double t, double x, double T, int shift);
double		bgnbd_alive_divisor(const double *p, double x, double tx, double T, int shift);
double		bgnbd_pmf_new(const double *p, double t, int64_t n);	/* P(X(t) = n), a new customer */
double		bgnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T);	/* conditional */

/*
 * BG/BB (discrete opportunities): p = alpha, beta (transaction probability),
 * gamma, delta (dropout probability); a history is (x, t_x, n), stored in a
 * BtydRow as (x, tx, T = n).
 */
double		bgbb_loglik_grad(const double *p, double x, double tx, double n, double *grad);
double		bgbb_loglik(const double *p, double x, double tx, double n);
double		bgbb_p_alive(const double *p, double x, double tx, double n);	/* alive in opportunity n + 1 */
double		bgbb_expected(const double *p, double m, double x, double tx, double n);	/* next m opportunities */
double		bgbb_expected_new(const double *p, double m);
double		bgbb_pmf_new(const double *p, int64_t n, int64_t x);	/* P(X(n) = x), a new customer */
double		bgbb_pmf(const double *p, int64_t m, int64_t xs, double x, double tx, double n);	/* next m, given a history */
double		bgbb_dert(const double *p, double d, double x, double tx, double n);

/* MBG/NBD: the BG/NBD with a dropout chance right after the first purchase too; p = r, alpha, a, b. */
double		mbgnbd_loglik(const double *p, double x, double tx, double T);
double		mbgnbd_p_alive(const double *p, double x, double tx, double T);
double		mbgnbd_expected(const double *p, double t, double x, double tx, double T);	/* conditional */
double		mbgnbd_expected_new(const double *p, double t);
double		mbgnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T);	/* x = tx = T = 0: new */

/* Gamma-Gamma conditional expected mean spend; NaN when q <= 1. */
double		gg_expected_spend(const double *p, double x, double m);

#endif

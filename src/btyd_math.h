/*
 * btyd_math.h: "buy till you die" models, free of fmgr.
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

/* One distinct observation and how many customers share it. */
typedef struct BtydRow
{
	double		x;
	double		tx;				/* t_x (BG/NBD) or m_x (Gamma-Gamma) */
	double		T;				/* 0 for Gamma-Gamma */
	double		w;
} BtydRow;

/* A growing set of rows, compacted (sorted, duplicates merged) when full. */
typedef struct BtydRows
{
	int64_t		n;
	int64_t		cap;
	BtydRow    *rows;
} BtydRows;

void		btyd_rows_add(BtydRows *set, double x, double tx, double T, double w, const CsAllocator *a);
void		btyd_rows_compact(BtydRows *set);
double		btyd_rows_weight(const BtydRows *set);

/* Why a fit stopped. */
typedef enum BtydStop
{
	BTYD_STOP_CONVERGED,		/* the gradient tolerance was met */
	BTYD_STOP_NO_PROGRESS,		/* no step lowers the objective any more */
	BTYD_STOP_BUDGET,			/* iteration or evaluation cap */
	BTYD_STOP_EDGE				/* a parameter moved e^20 from its start, or a shape passed e^10: a limit of the model */
} BtydStop;

typedef struct BtydFit
{
	double		params[4];
	double		loglik;			/* unpenalised log-likelihood, summed over customers */
	double		gradient;		/* largest gradient component at the end (log-parameters) */
	int			iterations;
	bool		converged;		/* gradient <= 1e-6 */
	BtydStop	stop;
} BtydFit;

/* Per-customer log-likelihoods. */
double		bgnbd_loglik(const double *p, double x, double tx, double T);	/* p = r, alpha, a, b */
double		gg_loglik(const double *p, double x, double m);	/* p = p, q, gamma */

/* Fits; penalizer adds penalizer * sum(params^2) to the mean negative log-likelihood (as lifetimes). */
BtydFit		bgnbd_fit(const BtydRows *rows, double penalizer);
BtydFit		gg_fit(const BtydRows *rows, double penalizer);

/* Pareto/NBD (Schmittlein, Morrison & Colombo 1987) on (x, t_x, T): p = r, alpha, s, beta. */
double		pnbd_loglik(const double *p, double x, double tx, double T);
double		pnbd_loglik_grad(const double *p, double x, double tx, double T, double *grad);	/* d/d(r, alpha, s, beta) */
BtydFit		pnbd_fit(const BtydRows *rows, double penalizer);
double		pnbd_p_alive(const double *p, double x, double tx, double T);
double		pnbd_expected(const double *p, double t, double x, double tx, double T);	/* conditional */
double		pnbd_expected_new(const double *p, double t);	/* unconditional, a new customer */
double		pnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T);	/* conditional; t > 0 */

/* BG/NBD predictions. */
double		bgnbd_p_alive(const double *p, double x, double tx, double T);
double		bgnbd_expected(const double *p, double t, double x, double tx, double T);	/* conditional */
double		bgnbd_expected_new(const double *p, double t);	/* unconditional, a new customer */
double		bgnbd_pmf_new(const double *p, double t, int64_t n);	/* P(X(t) = n), a new customer */
double		bgnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T);	/* conditional */

/* Gamma-Gamma conditional expected mean spend; NaN when q <= 1. */
double		gg_expected_spend(const double *p, double x, double m);

/* Gauss hypergeometric 2F1(a, b; c; z) and its log for 0 <= z < 1 by series; NaN if they do not converge. */
double		hyp2f1(double a, double b, double c, double z);
double		log_hyp2f1(double a, double b, double c, double z);
double		log_hyp2f1_c_a1(double a, double b, double z);	/* log 2F1(a, b; a + 1; z), any z in [0, 1) */

/* log 2F1(a, b; a + 1; z) and its partial derivatives in a, b and z. */
typedef struct Log2F1
{
	double		v,
				da,
				db,
				dz;
} Log2F1;
Log2F1		log_hyp2f1_c_a1_grad(double a, double b, double z);

double		digamma(double x);

#endif

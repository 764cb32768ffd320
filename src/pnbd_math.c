/*
 * pnbd_math.c: the Pareto/NBD model (Schmittlein, Morrison & Colombo 1987):
 * likelihood with its gradient, fit and predictions (see btyd_math.h), free
 * of fmgr.
 */
#include "btyd_math.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cs_math.h"

/*
 * A0 of Fader & Hardie's Pareto/NBD likelihood note is e^L(t_x) - e^L(T), with
 * L(t) = log 2F1(r+s+x, k; r+s+x+1; |alpha-beta| / (m + t)) - (r+s+x) log(m + t),
 * m = max(alpha, beta), k = s + 1 when alpha >= beta, r + x otherwise.  A term
 * depends on (x, t) only, so customers sharing x and t_x (or x and T) share
 * it: the fit computes each distinct one once per evaluation.
 */
typedef struct PnbdTerm
{
	double		x;
	double		t;
	double		L;
	double		dL[4];			/* in (r, alpha, s, beta); with grad only */
	double		log_alpha_t;	/* log(alpha + t), log(beta + t): the likelihood's (x, T) term needs them too */
	double		log_beta_t;
} PnbdTerm;

static void
pnbd_term(const double *p, double x, double t, bool grad, PnbdTerm *term)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	bool		alpha_hi = alpha >= beta;
	double		hi = alpha_hi ? alpha : beta;
	double		k = alpha_hi ? s + 1 : r + x;
	double		diff = fabs(alpha - beta);
	double		rsx = r + s + x;
	double		q = hi + t;
	double		log_q = log(q);
	Log2F1		f = {0, 0, 0, 0};

	if (grad)
		f = log_hyp2f1_c_a1_grad(rsx, k, diff / q);
	else
		f.v = log_hyp2f1_c_a1(rsx, k, diff / q);

	term->x = x;
	term->t = t;
	term->L = f.v - rsx * log_q;
	term->log_alpha_t = alpha_hi ? log_q : log(alpha + t);
	term->log_beta_t = alpha_hi ? log(beta + t) : log_q;
	if (grad)
	{
		/* per parameter (r, alpha, s, beta): d(r+s+x), dk, d max(alpha, beta), d |alpha - beta| */
		const double dm[4] = {1, 0, 1, 0};
		const double dk[4] = {alpha_hi ? 0 : 1, 0, alpha_hi ? 1 : 0, 0};
		const double dh[4] = {0, alpha_hi ? 1 : 0, 0, alpha_hi ? 0 : 1};
		const double dd[4] = {0, alpha_hi ? 1 : -1, 0, alpha_hi ? -1 : 1};

		for (int j = 0; j < 4; j++)
		{
			double		dz = dd[j] / q - diff * dh[j] / (q * q);

			term->dL[j] = f.da * dm[j] + f.db * dk[j] + f.dz * dz - dm[j] * log_q - rsx * dh[j] / q;
		}
	}
}

/*
 * Terms by (x, t) for one set of parameters, in a direct-mapped cache of
 * 2^bits slots (a miss only recomputes; a slot is valid when it carries the
 * generation of the parameters, which a change of parameters advances).
 */
typedef struct PnbdTermCache
{
	int			bits;
	bool		grad;			/* the terms carry their derivatives */
	double		params[4];
	uint64_t	generation;		/* of params; 0 = none yet */
	PnbdTerm   *terms;
	uint64_t   *generations;
} PnbdTermCache;

static const PnbdTerm *
pnbd_cached_term(PnbdTermCache *cache, const double *p, double x, double t)
{
	double		key = t + 1e6 * x;
	uint64_t	bits;
	int			slot;

	if (cache->generation == 0 || memcmp(p, cache->params, sizeof(cache->params)) != 0)
	{
		memcpy(cache->params, p, sizeof(cache->params));
		cache->generation++;
	}
	memcpy(&bits, &key, sizeof(bits));
	slot = (int) ((bits * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - cache->bits));
	if (cache->generations[slot] != cache->generation || cache->terms[slot].x != x || cache->terms[slot].t != t)
	{
		PnbdTerm	fresh;		/* a slot is only written whole: an interrupt leaves it as it was */

		pnbd_term(p, x, t, cache->grad, &fresh);
		cache->terms[slot] = fresh;
		cache->generations[slot] = cache->generation;
	}
	return &cache->terms[slot];
}

/*
 * Predictions come customer by customer, but customers share their (x, t_x)
 * and (x, T) (the 606k calibration customers of the 1M sample store have
 * about 30,000 of each): their terms are memoised for the model last asked
 * about, in 2^16 slots (5 MB, touched only by a process that predicts).
 */
#define PNBD_MEMO_BITS 16
static PnbdTerm pnbd_memo_terms[1 << PNBD_MEMO_BITS];
static uint64_t pnbd_memo_generations[1 << PNBD_MEMO_BITS];
static PnbdTermCache pnbd_memo = {PNBD_MEMO_BITS, false, {0, 0, 0, 0}, 0, pnbd_memo_terms, pnbd_memo_generations};

/* log A0 from its two terms (logsubexp, sharing its exponential with the gradient), with grad its derivatives. */
static double
pnbd_log_a0_of(const PnbdTerm *at_tx, const PnbdTerm *at_T, double *grad)
{
	double		rho;
	double		la0 = logsubexp_ratio(at_tx->L, at_T->L, &rho);

	if (grad != NULL)
	{
		/* d log(e^L0 - e^L1) = w0 dL0 + w1 dL1 */
		double		w0 = 1 / (1 - rho),
					w1 = -rho / (1 - rho);

		for (int j = 0; j < 4; j++)
			/* A0 = 0 (t_x = T) carries no weight in the likelihood */
			grad[j] = la0 == -INFINITY ? 0 : w0 * at_tx->dL[j] + w1 * at_T->dL[j];
	}
	return la0;
}

static double
pnbd_log_a0(const double *p, double x, double tx, double T)
{
	PnbdTerm	a = *pnbd_cached_term(&pnbd_memo, p, x, tx);

	/* a copy: looking up the second term may evict the first */
	return pnbd_log_a0_of(&a, pnbd_cached_term(&pnbd_memo, p, x, T), NULL);
}

/*
 * What the likelihood of the histories with one x shares: lgamma(r + x) -
 * lgamma(r), digamma(r + x) - digamma(r), and the logarithms of alpha, beta,
 * s and r + s + x.
 */
typedef struct PnbdShared
{
	double		lgamma_ratio;
	double		digamma_diff;
	double		log_alpha;
	double		log_beta;
	double		log_s;
	double		log_rsx;
} PnbdShared;

static void
pnbd_shared(const double *p, double x, bool grad, PnbdShared *sh)
{
	sh->lgamma_ratio = lgamma(p[0] + x) - lgamma(p[0]);
	sh->digamma_diff = grad ? digamma(p[0] + x) - digamma(p[0]) : 0;
	sh->log_alpha = log(p[1]);
	sh->log_beta = log(p[3]);
	sh->log_s = log(p[2]);
	sh->log_rsx = log(p[0] + p[2] + x);
}

/*
 * The log-likelihood of one history from its A0 terms (the (x, T) one also
 * brings log(alpha + T) and log(beta + T)) and what its x shares; with grad,
 * its derivatives in (r, alpha, s, beta).
 */
static double
pnbd_loglik_of(const double *p, double x, double T, const PnbdShared *sh,
			   const PnbdTerm *at_tx, const PnbdTerm *at_T, double *grad)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		A1 = sh->lgamma_ratio + r * sh->log_alpha + s * sh->log_beta;
	double		da0[4];
	double		la0 = pnbd_log_a0_of(at_tx, at_T, grad != NULL ? da0 : NULL);
	double		B = -(r + x) * at_T->log_alpha_t - s * at_T->log_beta_t;
	double		C = sh->log_s + la0 - sh->log_rsx;
	double		wb,
				wc;
	double		lse = logaddexp_shares(B, C, &wb, &wc);	/* C may be -Inf */
	if (grad != NULL)
	{
		double		m = r + s + x;

		grad[0] = sh->digamma_diff + sh->log_alpha - wb * at_T->log_alpha_t + wc * (da0[0] - 1 / m);
		grad[1] = r / alpha - wb * (r + x) / (alpha + T) + wc * da0[1];
		grad[2] = sh->log_beta - wb * at_T->log_beta_t + wc * (1 / s + da0[2] - 1 / m);
		grad[3] = s / beta - wb * s / (beta + T) + wc * da0[3];
	}
	return A1 + lse;
}

/* The log-likelihood of one history and, with grad, its derivatives in (r, alpha, s, beta). */
double
pnbd_loglik_grad(const double *p, double x, double tx, double T, double *grad)
{
	PnbdShared	sh;
	PnbdTerm	a,
				b;

	pnbd_shared(p, x, grad != NULL, &sh);
	if (grad == NULL)
	{
		a = *pnbd_cached_term(&pnbd_memo, p, x, tx);
		b = *pnbd_cached_term(&pnbd_memo, p, x, T);
	}
	else
	{
		pnbd_term(p, x, tx, true, &a);
		pnbd_term(p, x, T, true, &b);
	}
	return pnbd_loglik_of(p, x, T, &sh, &a, &b, grad);
}

double
pnbd_loglik(const double *p, double x, double tx, double T)
{
	return pnbd_loglik_grad(p, x, tx, T, NULL);
}

/*
 * The rows are sorted by (x, t_x, T), so rows sharing (x, t_x) follow each
 * other: one term serves them.  The (x, T) terms repeat within an x in any
 * order: they are cached, in 2^14 slots (the Pareto/NBD fit of the 606k
 * calibration customers of the 1M sample store: 1.65 s, 2.05 s with 2^12),
 * static rather than 1.3 MB of stack: a process runs one objective at a time.
 * The slots' generations spare an evaluation over a few rows (one covariate
 * vector's) clearing them all.
 */
#define PNBD_FIT_BITS 14
static PnbdTerm pnbd_fit_terms[1 << PNBD_FIT_BITS];
static uint64_t pnbd_fit_generations[1 << PNBD_FIT_BITS];
static PnbdTermCache pnbd_fit_cache = {PNBD_FIT_BITS, true, {0, 0, 0, 0}, 0, pnbd_fit_terms, pnbd_fit_generations};

static double
pnbd_objective(const double *theta, double *grad, const void *vctx)
{
	FitCtx	   *ctx = (FitCtx *) vctx;
	double		params[4];
	double		ll = 0,
				g[4] = {0, 0, 0, 0};
	PnbdTerm	at_tx = {NAN, NAN, 0, {0, 0, 0, 0}, 0, 0};
	PnbdShared	sh;
	double		x_now = NAN;

	for (int k = 0; k < 4; k++)
		params[k] = exp(theta[k]);
	for (int64_t i = 0; i < ctx->rows->n; i++)
	{
		const BtydRow *row = &ctx->rows->rows[i];
		double		gi[4];

		if ((i & 0xFFFF) == 0)
			cs_check_interrupts();
		if (row->x != x_now)
		{
			x_now = row->x;
			pnbd_shared(params, x_now, true, &sh);
		}
		if (row->x != at_tx.x || row->tx != at_tx.t)
			pnbd_term(params, row->x, row->tx, true, &at_tx);
		ll += row->w * pnbd_loglik_of(params, row->x, row->T, &sh, &at_tx,
									  pnbd_cached_term(&pnbd_fit_cache, params, row->x, row->T), gi);
		for (int k = 0; k < 4; k++)
			g[k] += row->w * gi[k];
	}
	return penalised_objective(ctx, ll, g, params, 4, grad);
}

const BtydModelSpec pnbd_spec = {pnbd_objective, 4, {"r", "alpha", "s", "beta"}, 0x5, NULL};	/* shapes: r, s */

double
pnbd_p_alive(const double *p, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];

	return 1.0 / (1.0 + exp(log(s) - log(r + s + x) + (r + x) * log(alpha + T) + s * log(beta + T)
							+ pnbd_log_a0(p, x, tx, T)));
}

/*
 * (1 - (B / (B + t))^(s - 1)) / (s - 1), the horizon factor of the Pareto/NBD
 * expectations, written with expm1 so s close to 1 keeps its precision and
 * s = 1 takes the limit log(1 + t / B).
 */
static double
pnbd_horizon_factor(double s, double B, double t)
{
	double		L = log1p(t / B);

	if (s == 1)
		return L;
	return -expm1(-(s - 1) * L) / (s - 1);
}

double
pnbd_expected(const double *p, double t, double x, double tx, double T)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];

	return (r + x) * (beta + T) / (alpha + T) * pnbd_horizon_factor(s, beta + T, t)
		* pnbd_p_alive(p, x, tx, T);
}

double
pnbd_expected_new(const double *p, double t)
{
	return p[0] * p[3] / p[1] * pnbd_horizon_factor(p[2], p[3], t);
}

/*
 * log E[lambda^(x+n) mu (lambda+mu)^(i-n-1) exp(-(lambda+mu) S)] under the
 * Gamma(r, alpha) x Gamma(s, beta) prior: with lambda = rho u, mu = rho (1-u)
 * the rho integral is a Gamma function and the u integral Euler's integral
 * of 2F1(r+s+x+i, k; r+s+x+n+1; |alpha-beta| / (max(alpha, beta) + S)).
 * This is its part that depends on i and S, lgamma(r+s+x+i) = lg_m given;
 * the rest is pnbd_pmf's moment_base.
 */
static double
pnbd_mixed_moment_part(const double *p, double x, int64_t n, int64_t i, double S, double lg_m)
{
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		hi = alpha >= beta ? alpha : beta;
	double		k = alpha >= beta ? s + 1 : r + x + n;
	double		m = r + s + x + i;

	/* i = n: the 2F1 term is the likelihood's L at (x + n, S), memoised */
	if (i == n)
		return lg_m + pnbd_cached_term(&pnbd_memo, p, x + n, S)->L;
	return lg_m + log_hyp2f1(m, k, r + s + x + n + 1, fabs(alpha - beta) / (hi + S)) - m * log(hi + S);
}

double
pnbd_pmf(const double *p, double t, int64_t n, double x, double tx, double T)
{
	/*
	 * Only customers alive at T buy again.  Given (lambda, mu) and alive at T,
	 * n purchases in (T, T+t] happen either with the customer still alive at
	 * T+t (Poisson) or dying at T+y, y <= t, after exactly n purchases.  Both
	 * are averaged over the prior times the alive part of the likelihood,
	 * lambda^x exp(-(lambda+mu) T), and divided by the full likelihood.
	 */
	double		r = p[0],
				alpha = p[1],
				s = p[2],
				beta = p[3];
	double		loglik = pnbd_loglik(p, x, tx, T);
	double		log_prior = r * log(alpha) + s * log(beta) - lgamma(r);
	double		lg_rxn = lgamma(r + x + n);
	/* the alive part of the likelihood over the whole likelihood is P(alive) */
	double		alive = exp(log_prior + lgamma(r + x) - (r + x) * log(alpha + T) - s * log(beta + T) - loglik);
	double		log_t = log(t);
	double		survive = log_prior + n * log_t - lgamma(n + 1.0) + lg_rxn
		- (r + x + n) * log(alpha + T + t) - s * log(beta + T + t);
	/* the mixed moments' factors common to every i: Gamma(s + 1) / Gamma(s) = s */
	double		moment_base = log_prior + log(s) + lg_rxn - lgamma(r + s + x + n + 1);
	double		lg_m0 = lgamma(r + s + x);
	/* dying in (T, T+t] after n purchases = P(Gamma(n+1, lambda+mu) <= t) mu lambda^n / (lambda+mu)^(n+1) */
	double		die_any = moment_base + pnbd_mixed_moment_part(p, x, n, 0, T, lg_m0);
	double		die_late = -INFINITY;

	for (int64_t i = 0; i <= n; i++)
	{
		double		lg_m = i == 0 ? lg_m0 : lgamma(r + s + x + i);

		cs_check_interrupts();
		die_late = logaddexp(die_late, i * log_t - lgamma(i + 1.0) + moment_base
							 + pnbd_mixed_moment_part(p, x, n, i, T + t, lg_m));
	}
	return (n == 0 ? 1 - alive : 0) + exp(survive - loglik) + exp(logsubexp(die_any, die_late) - loglik);
}

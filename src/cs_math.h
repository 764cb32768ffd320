/*
 * cs_math.h: what every fmgr-free math file shares, and what it needs from
 * its host (the server, or the unit tests): memory, a way to stop long work,
 * compensated sums and the bits of an activity string.
 */
#ifndef CS_MATH_H
#define CS_MATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Allocation hooks: palloc in the server, malloc in unit tests.  A state that
 * outgrows a block frees the old one, so its memory is its current size, not
 * the sum of every size it had.
 */
typedef void *(*cs_alloc_fn) (void *ctx, size_t size);
typedef void (*cs_free_fn) (void *ctx, void *ptr);

typedef struct CsAllocator
{
	cs_alloc_fn alloc;
	cs_free_fn	free;
	void	   *ctx;
} CsAllocator;

/* A block of new_size with the first old_size bytes of old, which is freed (NULL: none). */
void	   *cs_grow(const CsAllocator *a, void *old, size_t old_size, size_t new_size);

/*
 * Called from every loop that can run long (optimiser iterations, series,
 * sums over rows or periods): the server sets it to CHECK_FOR_INTERRUPTS, so
 * statement_timeout and pg_cancel_backend stop the work; unit tests leave it
 * NULL.
 */
extern void (*cs_interrupt_hook) (void);

static inline void
cs_check_interrupts(void)
{
	if (cs_interrupt_hook != NULL)
		cs_interrupt_hook();
}

/* splitmix64 finaliser: a bijective 64-bit mix with good avalanche (seeded draws, hashes of points). */
static inline uint64_t
cs_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Compensated (Neumaier) sum, so millions of cents add up exactly enough. */
typedef struct CsSum
{
	double		sum;
	double		comp;
} CsSum;

void		cs_sum_add(CsSum *s, double x);
double		cs_sum_value(const CsSum *s);
void		cs_sum_merge(CsSum *dst, const CsSum *src);

/*
 * An amount as read: its double value and, when it is a decimal of at most
 * CS_MONEY_MAX_SCALE places whose digits fit in 64 bits (a numeric such as
 * 12.34), exactly: units * 10^-scale.  A float8 is never exact.
 */
#define CS_MONEY_MAX_SCALE 18

typedef struct CsAmount
{
	double		value;
	int64_t		units;
	int32_t		scale;
	bool		exact;
} CsAmount;

static inline CsAmount
cs_amount_double(double x)
{
	CsAmount	a = {x, 0, 0, false};

	return a;
}

/*
 * A sum of amounts: exact in decimal units while every amount added is exact
 * and the sum fits in 64 bits, so equal totals give equal doubles whatever
 * the order the amounts came in (a customer who spent exactly a score
 * breakpoint scores like every other such customer); otherwise a compensated
 * sum of their doubles.  24 bytes, no padding.
 */
typedef struct CsMoney
{
	union
	{
		struct
		{
			int64_t		units;	/* the sum in 10^-scale */
			int64_t		scale;
		}			exact;
		CsSum		approx;
	}			u;
	int64_t		inexact;		/* 0: u.exact holds the sum (all zero: an empty sum); 1: u.approx does */
} CsMoney;

static inline CsMoney
cs_money_zero(void)
{
	CsMoney		m = {{{0, 0}}, 0};

	return m;
}

void		cs_money_add(CsMoney *m, CsAmount a);
void		cs_money_merge(CsMoney *dst, const CsMoney *src);
double		cs_money_value(const CsMoney *m);
/* a - b rounded once when both are exact (so equal exact differences give equal doubles), else in doubles. */
double		cs_money_difference(const CsMoney *a, const CsMoney *b);
bool		cs_money_valid(const CsMoney *m);

/* Bit k of an MSB-first bit string (PostgreSQL's bit varying). */
static inline int
activity_bit(const uint8_t *bits, int64_t k)
{
	return (bits[k / 8] >> (7 - k % 8)) & 1;
}

#endif

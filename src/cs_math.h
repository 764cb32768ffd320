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

/* Bit k of an MSB-first bit string (PostgreSQL's bit varying). */
static inline int
activity_bit(const uint8_t *bits, int64_t k)
{
	return (bits[k / 8] >> (7 - k % 8)) & 1;
}

#endif

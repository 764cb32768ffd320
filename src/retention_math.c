/*
 * retention_math.c: period-over-period retention counts (see retention_math.h).
 */
#include "retention_math.h"

#include <math.h>
#include <string.h>

void
retention_init(RetentionCounts *rc)
{
	memset(rc, 0, sizeof(*rc));
}

static void
retention_reserve(RetentionCounts *rc, int32_t len, const CsAllocator *a)
{
	int32_t		cap;
	int64_t    *block;

	if (len <= rc->cap)
		return;
	cap = rc->cap * 2 > len ? rc->cap * 2 : len;
	if (cap < 16)
		cap = 16;
	block = a->alloc(a->ctx, sizeof(int64_t) * 4 * (size_t) cap);
	memset(block, 0, sizeof(int64_t) * 4 * (size_t) cap);
	if (rc->len > 0)
	{
		memcpy(block, rc->observed, sizeof(int64_t) * rc->len);
		memcpy(block + cap, rc->active, sizeof(int64_t) * rc->len);
		memcpy(block + 2 * (size_t) cap, rc->at_risk, sizeof(int64_t) * rc->len);
		memcpy(block + 3 * (size_t) cap, rc->retained, sizeof(int64_t) * rc->len);
	}
	if (rc->observed != NULL)
		a->free(a->ctx, rc->observed);
	rc->observed = block;
	rc->active = block + cap;
	rc->at_risk = block + 2 * (size_t) cap;
	rc->retained = block + 3 * (size_t) cap;
	rc->cap = cap;
}

void
retention_add(RetentionCounts *rc, const uint8_t *bits, int32_t nbits, const CsAllocator *a)
{
	retention_reserve(rc, nbits, a);
	if (nbits > rc->len)
		rc->len = nbits;
	rc->customers++;
	for (int32_t k = 0; k < nbits; k++)
	{
		int			now = activity_bit(bits, k);

		rc->observed[k]++;
		rc->active[k] += now;
		if (now && k + 1 < nbits)
		{
			rc->at_risk[k]++;
			rc->retained[k] += activity_bit(bits, k + 1);
		}
	}
}

void
retention_combine(RetentionCounts *dst, const RetentionCounts *src, const CsAllocator *a)
{
	retention_reserve(dst, src->len, a);
	if (src->len > dst->len)
		dst->len = src->len;
	dst->customers += src->customers;
	for (int32_t k = 0; k < src->len; k++)
	{
		dst->observed[k] += src->observed[k];
		dst->active[k] += src->active[k];
		dst->at_risk[k] += src->at_risk[k];
		dst->retained[k] += src->retained[k];
	}
}

double
retention_pooled_rate(const RetentionCounts *rc)
{
	int64_t		at_risk = 0,
				retained = 0;

	for (int32_t k = 0; k < rc->len; k++)
	{
		at_risk += rc->at_risk[k];
		retained += rc->retained[k];
	}
	return at_risk > 0 ? (double) retained / (double) at_risk : NAN;
}

/* Serial form: customers, len, then the four arrays of len elements. */
size_t
retention_serial_size(const RetentionCounts *rc)
{
	return sizeof(int64_t) + sizeof(int32_t) + 4 * sizeof(int64_t) * (size_t) rc->len;
}

void
retention_serialize(const RetentionCounts *rc, char *buf)
{
	size_t		n = sizeof(int64_t) * (size_t) rc->len;

	memcpy(buf, &rc->customers, sizeof(int64_t));
	buf += sizeof(int64_t);
	memcpy(buf, &rc->len, sizeof(int32_t));
	buf += sizeof(int32_t);
	if (rc->len == 0)
		return;
	memcpy(buf, rc->observed, n);
	memcpy(buf + n, rc->active, n);
	memcpy(buf + 2 * n, rc->at_risk, n);
	memcpy(buf + 3 * n, rc->retained, n);
}

int
retention_deserialize(RetentionCounts *rc, const char *buf, size_t len, const CsAllocator *a)
{
	int32_t		n;
	size_t		bytes;

	retention_init(rc);
	if (len < sizeof(int64_t) + sizeof(int32_t))
		return 0;
	memcpy(&rc->customers, buf, sizeof(int64_t));
	memcpy(&n, buf + sizeof(int64_t), sizeof(int32_t));
	if (n < 0 || len != sizeof(int64_t) + sizeof(int32_t) + 4 * sizeof(int64_t) * (size_t) n)
		return 0;
	buf += sizeof(int64_t) + sizeof(int32_t);
	retention_reserve(rc, n, a);
	rc->len = n;
	bytes = sizeof(int64_t) * (size_t) n;
	if (n > 0)
	{
		memcpy(rc->observed, buf, bytes);
		memcpy(rc->active, buf + bytes, bytes);
		memcpy(rc->at_risk, buf + 2 * bytes, bytes);
		memcpy(rc->retained, buf + 3 * bytes, bytes);
	}
	return 1;
}

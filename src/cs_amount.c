/*
 * cs_amount.c: the amount of an order as a double and, for a short numeric, its exact decimal.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "cs_util.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

/*
 * numeric -> amount without the text round trip of numeric_float8 for the
 * common case of up to 12 significant decimal digits: its exact decimal
 * (units * 10^-scale) and its double.  The numeric disk format (a 16-bit
 * header, an optional 16-bit weight, base-10000 digits) is fixed by
 * pg_upgrade compatibility.  M / 10^k with both exact in a double is
 * correctly rounded, so the double equals numeric_float8's.
 */
#define NUM_SIGN_MASK		0xC000
#define NUM_NEG				0x4000
#define NUM_SHORT			0x8000
#define NUM_SPECIAL			0xC000
#define NUM_SHORT_SIGN		0x2000
#define NUM_SHORT_WSIGN		0x0040
#define NUM_SHORT_WMASK		0x003F

static bool
numeric_fast_amount(Numeric num, CsAmount *out)
{
	const char *p = VARDATA_ANY(num);
	size_t		len = VARSIZE_ANY_EXHDR(num);
	uint16		header;
	int			weight;
	bool		neg;
	int			ndigits;
	int64		mantissa = 0;
	int			exp10;
	static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
		1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

	if (len < sizeof(uint16))
		return false;
	memcpy(&header, p, sizeof(uint16));
	if ((header & NUM_SIGN_MASK) == NUM_SPECIAL)
		return false;
	if ((header & NUM_SIGN_MASK) == NUM_SHORT)
	{
		neg = (header & NUM_SHORT_SIGN) != 0;
		weight = (header & NUM_SHORT_WSIGN) ? (int) (~NUM_SHORT_WMASK | (header & NUM_SHORT_WMASK))
			: (int) (header & NUM_SHORT_WMASK);
		p += sizeof(uint16);
		len -= sizeof(uint16);
	}
	else
	{
		int16		w;

		if (len < 2 * sizeof(uint16))
			return false;
		neg = (header & NUM_SIGN_MASK) == NUM_NEG;
		memcpy(&w, p + sizeof(uint16), sizeof(int16));
		weight = w;
		p += 2 * sizeof(uint16);
		len -= 2 * sizeof(uint16);
	}
	ndigits = (int) (len / sizeof(int16));
	if (ndigits == 0)
	{
		*out = (CsAmount) {0.0, 0, 0, true};
		return true;
	}
	if (ndigits > 3)
		return false;
	for (int i = 0; i < ndigits; i++)
	{
		int16		d;

		memcpy(&d, p + i * sizeof(int16), sizeof(int16));
		mantissa = mantissa * 10000 + d;
	}
	exp10 = 4 * (weight - ndigits + 1);
	if (exp10 < -22 || exp10 > 22)
		return false;
	out->value = exp10 < 0 ? (double) mantissa / pow10[-exp10] : (double) mantissa * pow10[exp10];
	out->units = neg ? -mantissa : mantissa;
	out->scale = exp10 < 0 ? -exp10 : 0;
	out->exact = out->scale <= CS_MONEY_MAX_SCALE;
	for (int i = 0; i < exp10 && out->exact; i++)	/* a whole number with trailing zeros */
		out->exact = !__builtin_mul_overflow(out->units, 10, &out->units);
	if (neg)
		out->value = -out->value;
	return true;
}

CsAmount
cs_amount_of(Datum value, Oid typid)
{
	CsAmount	a;

	if (typid == NUMERICOID)
	{
		Numeric		num = (Numeric) PG_DETOAST_DATUM_PACKED(value);

		if (!numeric_fast_amount(num, &a))
			a = cs_amount_double(DatumGetFloat8(DirectFunctionCall1(numeric_float8, value)));
		return a;
	}
	return cs_amount_double(DatumGetFloat8(value));
}

double
cs_amount_to_double(Datum value, Oid typid)
{
	return cs_amount_of(value, typid).value;
}

/*
 * Unit tests of retention_math.c: retention counts, combine and serial form.
 */
#include "unit.h"

void
test_retention(void)
{
	/* 1101, 1011, 1: observed 3,2,2,2; active 3,1,1,2; at risk 2,1,1,0; retained 1,0,1,0; rate 2/4. */
	RetentionCounts a,
				b,
				back;
	uint8_t		c1 = 0xD0,
				c2 = 0xB0,
				c3 = 0x80;
	size_t		size;
	char	   *buf;

	retention_init(&a);
	retention_init(&b);
	retention_add(&a, &c1, 4, &alloc);
	retention_add(&b, &c2, 4, &alloc);
	retention_add(&b, &c3, 1, &alloc);
	size = retention_serial_size(&b);
	buf = malloc(size);
	retention_serialize(&b, buf);
	CHECK(retention_deserialize(&back, buf, size, &alloc) && !retention_deserialize(&back, buf, size - 1, &alloc),
		  "serial form read back, short buffer refused");
	retention_deserialize(&back, buf, size, &alloc);
	retention_combine(&a, &back, &alloc);
	CHECK(a.customers == 3 && a.len == 4, "three customers, four offsets");
	CHECK(a.observed[0] == 3 && a.observed[1] == 2 && a.active[1] == 1 && a.active[3] == 2 &&
		  a.at_risk[0] == 2 && a.at_risk[3] == 0 && a.retained[0] == 1 && a.retained[2] == 1, "counts by offset");
	CHECK(retention_pooled_rate(&a) == 0.5, "pooled rate %g", retention_pooled_rate(&a));
	free(buf);
}

# customer_segment: PGXS build.  `make && sudo make install`, then `make installcheck`.
# CI adds strict warnings through PG_CFLAGS (see test/lib.sh); users get PostgreSQL's defaults.

EXTENSION    = customer_segment

MODULE_big   = customer_segment
MATH_OBJS    = src/rfm_math.o src/score_math.o src/clv_math.o src/retention_math.o src/lifecycle_math.o src/btyd_math.o
OBJS         = src/cs_util.o src/rfm.o src/score.o src/sample.o src/clv.o src/lifecycle.o src/btyd.o $(MATH_OBJS)

# The 1.0 install script is written by concern in src/sql/*.sql and concatenated
# in name order; it never changes again.  Each later release is an update script
# src/upgrade/customer_segment--A--B.sql, and CREATE EXTENSION installs the
# default version by running 1.0 and then the updates, as ALTER EXTENSION does.
BASE_VERSION = 1.0
SQL_PARTS    = $(sort $(wildcard src/sql/*.sql))
DATA_built   = src/$(EXTENSION)--$(BASE_VERSION).sql
DATA         = $(wildcard src/upgrade/$(EXTENSION)--*--*.sql)

# Adding a regression test is adding sql/NAME.sql and expected/NAME.out.
REGRESS      = $(sort $(patsubst sql/%.sql,%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=$(EXTENSION)

EXTRA_CLEAN  = test/unit/run_unit

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(DATA_built): $(SQL_PARTS) $(EXTENSION).control
	cat $(SQL_PARTS) > $@

# Server-free unit tests of the pure math (src/*_math.c), no fmgr involved.
test/unit/run_unit: test/unit/run_unit.c $(MATH_OBJS:.o=.c) src/*_math.h
	$(CC) $(CFLAGS) $(PG_CFLAGS) -Isrc -o $@ test/unit/run_unit.c $(MATH_OBJS:.o=.c) -lm

unitcheck: test/unit/run_unit
	test/unit/run_unit

.PHONY: unitcheck

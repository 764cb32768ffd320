# customer_segment: PGXS build.  `make && sudo make install`, then `make installcheck`.
# CI adds strict warnings through PG_CFLAGS (see test/lib.sh); users get PostgreSQL's defaults.

EXTENSION    = customer_segment

MODULE_big   = customer_segment
MATH_OBJS    = src/cs_math.o src/rfm_math.o src/score_math.o src/clv_math.o src/retention_math.o src/lifecycle_math.o \
               src/special_math.o src/fit_math.o src/bgnbd_math.o src/bgbb_math.o src/pnbd_math.o src/gg_math.o src/sbg_math.o src/kmeans_math.o \
               src/covariate_math.o
OBJS         = src/cs_util.o src/cs_amount.o src/cs_days.o src/as_owner.o src/state.o src/rfm.o src/activity.o src/score.o src/rfm_scored.o src/sample.o src/clv.o src/lifecycle.o src/quadrant.o \
               src/btyd.o src/btyd_result.o src/btyd_predict.o src/btyd_clv.o src/btyd_covariates.o src/sbg.o src/model_choice.o src/kmeans.o src/kmeans_assign.o $(MATH_OBJS)

# src/sql/*.sql is the current version, by concern: the Makefile concatenates it, in name order, into the
# install script of the control file's default_version (built, not stored).  src/release/ holds what was
# released and never changes: the first release's install script (1.0) and one update script A--B per
# release; PostgreSQL installs an older version as 1.0 plus the updates up to it.  test/t/upgrade.t records
# their checksums (recording the update script to default_version is what releases it) and checks that 1.0
# plus every update equals a fresh install.  See doc/development.md, "Releases".
EXTVERSION   = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
SQL_PARTS    = $(sort $(wildcard src/sql/*.sql))
DATA         = $(wildcard src/release/$(EXTENSION)--*.sql)
DATA_built   = src/$(EXTENSION)--$(EXTVERSION).sql

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
# One file of cases per math file (test/unit/<name>_test.c), run by run_unit.c.
UNIT_SRCS    = $(wildcard test/unit/*.c)
test/unit/run_unit: $(UNIT_SRCS) test/unit/unit.h $(MATH_OBJS:.o=.c) src/*_math.h
	$(CC) $(CFLAGS) $(PG_CFLAGS) -Isrc -Itest/unit -o $@ $(UNIT_SRCS) $(MATH_OBJS:.o=.c) -lm

unitcheck: test/unit/run_unit
	test/unit/run_unit

.PHONY: unitcheck

# Every function that takes a relation, called by a superuser on relations another role controls, runs none
# of that role's code: the key columns are of alice's composite type with a cast to text, an equality and an
# ordering operator and hash and btree operator classes that make her a superuser when they run as one
# (CsTraps).
# The sweep is complete: a function of the extension with a regclass argument that is neither called here nor
# listed as one that reads no rows fails the test, so a new one has to join the sweep.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;
use CsTraps;

my $db = new_database('cs_relation_sweep');
psql('postgres', q{DROP ROLE IF EXISTS cs_sweep_alice; CREATE ROLE cs_sweep_alice LOGIN;});
arm_key_traps($db, 'a', 'cs_sweep_alice', 600);
psql($db, q{
    SET client_min_messages = warning;
    SET ROLE cs_sweep_alice;
    CREATE TABLE a.cov WITH (autovacuum_enabled = false) AS SELECT DISTINCT ROW(g % 40)::a.ct AS customer_id, ARRAY[(g % 2)::float8] AS purchase_covariates,
        '{}'::float8[] AS dropout_covariates, '{}'::float8[] AS spend_covariates FROM generate_series(1, 40) g;
    RESET ROLE;
    -- her states table, built without running her code (field access and a row constructor)
    CREATE TABLE a.st WITH (autovacuum_enabled = false) AS SELECT ROW(v)::a.ct AS customer_id, customer_segment.rfm_state(d, amount, 'UTC') AS state
      FROM (SELECT (customer_id).v AS v, d, amount FROM a.o) x GROUP BY v;
    ALTER TABLE a.st OWNER TO cs_sweep_alice;
    -- her subscriptions, keyed the same way
    CREATE TABLE a.subs WITH (autovacuum_enabled = false) AS
    SELECT ROW(v)::a.ct AS customer_id, d AS started, CASE WHEN v % 3 = 0 THEN d + 45 END AS ended, interval '1 month' AS period
      FROM (SELECT (customer_id).v AS v, min(d) AS d FROM a.o GROUP BY 1) x;
    ALTER TABLE a.subs OWNER TO cs_sweep_alice;
});
sub ran { my $r = psql($db, q{SELECT coalesce(string_agg(DISTINCT who, ','), '') FROM a.ran; TRUNCATE a.ran;}); chomp $r; return $r; }
sub superuser { my $r = psql($db, q{SELECT rolsuper FROM pg_roles WHERE rolname = 'cs_sweep_alice'}); chomp $r; return $r eq 't'; }
ran();   # her own set-up ran her operators as her

# The traps are armed: applied by a superuser, the cast and both grouping strategies run her code.
for my $case (['cast to text', q{SELECT customer_id::text FROM a.o}],
              ['hash grouping', q{SET enable_sort = off; SELECT count(*) FROM a.o GROUP BY customer_id}],
              ['sorted grouping', q{SET enable_hashagg = off; SELECT count(*) FROM a.o GROUP BY customer_id}]) {
    psql($db, "$case->[1];");
    is(ran(), 'postgres', "the trap is armed: $case->[0] of her key type by a superuser runs her code as the superuser");
    psql($db, 'ALTER ROLE cs_sweep_alice NOSUPERUSER');
}

my $bg = q{ROW(0.5, 5, 0.8, 2.5, 0, 0, 0, 0, true)::customer_segment.bgnbd_model};
my %calls = (
    rfm_analyze => q{SELECT count(*) FROM customer_segment.rfm_analyze('a.o', 'customer_id', 'd', 'amount', DATE '2025-12-31')},
    cohort_retention => q{SELECT count(*) FROM customer_segment.cohort_retention('a.o', 'customer_id', 'd', 'amount', DATE '2025-12-31')},
    clv_analyze => q{SELECT count(*) FROM customer_segment.clv_analyze('a.o', 'customer_id', 'd', 'amount', DATE '2025-12-31')},
    migration_matrix => q{SELECT count(*) FROM customer_segment.migration_matrix('a.snap', 'a.snap', state_column => 'tier', value_column => 'value')},
    btyd_analyze => q{SELECT count(*) FROM customer_segment.btyd_analyze('a.o', 'customer_id', 'd', 'amount', DATE '2025-12-31', covariates => 'a.cov')},
    btyd_holdout => q{SELECT count(*) FROM customer_segment.btyd_holdout('a.o', 'customer_id', 'd', 'amount', DATE '2025-09-30', DATE '2025-12-31')},
    btyd_holdout_predictions => q{SELECT count(*) FROM customer_segment.btyd_holdout_predictions('a.o', 'customer_id', 'd', 'amount', DATE '2025-09-30', DATE '2025-12-31')},
    btyd_evaluate => q{SELECT count(*) FROM customer_segment.btyd_evaluate('a.o', 'customer_id', 'd', 'amount', DATE '2025-09-30', DATE '2025-12-31')},
    btyd_conditional_expectations => q{SELECT count(*) FROM customer_segment.btyd_conditional_expectations('a.o', 'customer_id', 'd', 'amount', DATE '2025-09-30', DATE '2025-12-31')},
    btyd_period_transactions => q{SELECT count(*) FROM customer_segment.btyd_period_transactions('a.o', 'customer_id', 'd', 'amount', DATE '2025-09-30', DATE '2025-12-31')},
    btyd_tracking => q{SELECT count(*) FROM customer_segment.btyd_tracking('a.o', 'customer_id', 'd', 'amount', DATE '2025-09-30', DATE '2025-12-31')},
    btyd_p_alive_history => qq{SELECT count(*) FROM customer_segment.btyd_p_alive_history('a.o', 'customer_id', 'd', 'amount', '(7)', $bg, DATE '2025-12-31')},
    bgbb_summary => q{SELECT count(*) FROM customer_segment.bgbb_summary('a.o', 'customer_id', 'd', 'amount', DATE '2025-12-31', 'month')},
    rfm_analyze_states => q{SELECT count(*) FROM customer_segment.rfm_analyze_states('a.st', DATE '2025-12-31')},
    cohort_retention_states => q{SELECT count(*) FROM customer_segment.cohort_retention_states('a.st', DATE '2025-12-31')},
    btyd_model_choice => q{SELECT count(*) FROM customer_segment.btyd_model_choice('a.o', 'customer_id', 'd', 'amount', DATE '2025-09-30', DATE '2025-12-31')},
    sbg_analyze => q{SELECT count(*) FROM customer_segment.sbg_analyze('a.subs', 'customer_id', 'started', 'ended', 'period', DATE '2025-12-31', cohort_by => 'all')},
    sbg_cohorts => q{SELECT count(*) FROM customer_segment.sbg_cohorts('a.subs', 'customer_id', 'started', 'ended', 'period', DATE '2025-12-31')},
);
# Functions with a relation argument that read no rows of it (catalog lookups, query text), or only through one
# of the functions above.
my %reads_no_rows = map { $_ => 1 } qw(column_type safe_key_sql number_sql orders_source_sql day_sql check_change_column
                                      state_column_sql register_source rfm_summaries_query rfm_state_summaries_query aggregate_time_sql);
my @taking = map { $_->[0] } psql_rows($db, q{SELECT DISTINCT p.proname FROM pg_proc p
    WHERE p.pronamespace = 'customer_segment'::regnamespace AND 'regclass'::regtype = ANY (p.proargtypes) ORDER BY 1});
is_deeply([grep { !$calls{$_} && !$reads_no_rows{$_} } @taking], [], 'the sweep calls every function that takes a relation (' . scalar(@taking) . ')');

for my $f (sort keys %calls) {
    for my $plan (['hash', 'SET enable_sort = off;'], ['sort', 'SET enable_hashagg = off;']) {
        my $out = eval { psql($db, "SET client_min_messages = warning; $plan->[1] $calls{$f};") };
        ok(defined $out && $out =~ /^[1-9]\d*$/m, "$f ($plan->[0] plan) by a superuser on her relations returns rows") or diag($@);
        is(ran(), '', '... and ran none of her code');
        ok(!superuser(), '... she is not a superuser');
        psql($db, 'ALTER ROLE cs_sweep_alice NOSUPERUSER');
    }
}

psql('postgres', 'DROP DATABASE cs_relation_sweep; DROP ROLE cs_sweep_alice;');
done_testing();

# Scale-out: a Citus 12.1 coordinator and two workers on this machine (Citus built from ../shared/citus by
# test/check.sh, see cs_ensure_citus in test/lib.sh).  Orders distributed by customer and by order id give
# every aggregate and one-call function the results of a local copy, and the aggregates whose state is a real
# type (not internal) run in two phases when not grouped by the distribution column: worker_partial_agg on
# the workers, coord_combine_agg on the coordinator.  The nodes run in different time zones from the
# coordinator: with an explicit zone the answer is the same everywhere.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;
use CsCitus;

plan skip_all => 'no Citus source (../shared/citus/citus-12.1.12.tar.gz is absent, or CS_WITHOUT_SHARED is set)'
    unless citus_archive();
plan skip_all => 'Citus is built for PostgreSQL 15 only (cs_ensure_citus); this server is ' . server_major()
    unless server_major() == 15;
ok(citus_installed(), 'Citus is installed (test/check.sh builds it from ../shared/citus)')
    or BAIL_OUT('Citus is not installed: run test/check.sh as root once (cs_ensure_citus)');
citus_start(zone => {coordinator => 'America/Los_Angeles', worker1 => 'Pacific/Kiritimati', worker2 => 'Pacific/Kiritimati'});
sub on { return on_node(@_); }
is(on('worker1', q{SELECT extversion FROM pg_extension WHERE extname = 'customer_segment'}),
   on('coordinator', q{SELECT extversion FROM pg_extension WHERE extname = 'customer_segment'}),
   'CREATE EXTENSION on the coordinator reached the workers');

# A local copy and two distributed copies of the sample store's orders.
on('coordinator', q{
    CREATE SCHEMA loc;
    SELECT customer_segment.create_sample_store('loc', 3000, 5);
    CREATE TABLE by_customer (LIKE loc.orders);
    SELECT create_distributed_table('by_customer', 'customer_id');
    INSERT INTO by_customer SELECT * FROM loc.orders;
    CREATE TABLE by_order (LIKE loc.orders);
    SELECT create_distributed_table('by_order', 'order_id');
    INSERT INTO by_order SELECT * FROM loc.orders;
    -- Stored per-customer states, as an incremental refresh keeps them.
    CREATE TABLE loc.orders_states AS
    SELECT customer_id, customer_segment.rfm_state(ordered_at, amount, 'UTC') AS state FROM loc.orders GROUP BY 1;
    CREATE TABLE by_customer_states (LIKE loc.orders_states);
    SELECT create_distributed_table('by_customer_states', 'customer_id');
    INSERT INTO by_customer_states SELECT customer_id, customer_segment.rfm_state(ordered_at, amount, 'UTC') FROM by_order GROUP BY 1;
    CREATE TABLE by_order_states (LIKE by_customer_states);
    SELECT create_distributed_table('by_order_states', 'customer_id');
    INSERT INTO by_order_states SELECT * FROM by_customer_states;
    -- Per-customer summaries and activities, as a source's helper views hold them, for the fits and curves.
    CREATE TABLE loc.orders_summaries AS
    SELECT customer_id, (s).frequency::float8 AS frequency, (s).recency, (s).t, (s).monetary_value, (s).recency_days,
           (s).monetary_total, customer_segment.rfm_state_activity(st, DATE '2025-12-31', 'month') AS activity
      FROM (SELECT customer_id, customer_segment.rfm_state_summary(state, DATE '2025-12-31', 'day', 'week') s, state AS st
              FROM loc.orders_states) x WHERE (s).orders > 0;
    CREATE TABLE by_customer_summaries (LIKE loc.orders_summaries);
    SELECT create_distributed_table('by_customer_summaries', 'customer_id');
    INSERT INTO by_customer_summaries SELECT * FROM loc.orders_summaries;
    CREATE TABLE by_order_summaries (LIKE loc.orders_summaries);
    SELECT create_distributed_table('by_order_summaries', 'frequency');
    INSERT INTO by_order_summaries SELECT * FROM loc.orders_summaries;});
my ($n) = split /\n/, on('coordinator', 'SELECT count(*) FROM by_order');
cmp_ok($n, '>', 20000, "$n orders on the workers");

# Same answer: every number within 1e-9 relative (sums may add up in another order), everything else equal.
sub same_answer {
    my ($got, $want, $what) = @_;
    my @g = split /(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)/i, $got;
    my @w = split /(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)/i, $want;
    my $ok = @g == @w && length($want) > 0;
    for (my $i = 0; $ok && $i < @w; $i++) {
        if ($i % 2) { $ok = abs($g[$i] - $w[$i]) <= 1e-9 * (abs($w[$i]) + 1e-300) || $g[$i] eq $w[$i]; }
        else { $ok = $g[$i] eq $w[$i]; }
    }
    ok($ok, $what) or diag("distributed: " . substr($got, 0, 300) . "\nlocal:       " . substr($want, 0, 300));
}

my $as_of = q{DATE '2025-12-31'};
# Each query reads %T (the orders) and yields one ordered text.
my @queries = (
    [ 'rfm_summary per customer',
      qq{SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, $as_of, 'week', 'week', 'UTC') FROM %T GROUP BY 1 ORDER BY 1}, 'rfm_summary' ],
    [ 'rfm_summary per customer group (not the distribution column)',
      qq{SELECT customer_id % 7, customer_segment.rfm_summary(ordered_at, amount, $as_of, 'month', 'month', 'UTC') FROM %T GROUP BY 1 ORDER BY 1}, 'rfm_summary' ],
    [ 'rfm_summary of the whole table',
      qq{SELECT customer_segment.rfm_summary((ordered_at AT TIME ZONE 'UTC')::date, amount, $as_of) FROM %T}, 'rfm_summary' ],
    [ 'purchase_activity per customer group',
      qq{SELECT customer_id % 5, customer_segment.purchase_activity(ordered_at, amount, $as_of, 'week', 'UTC') FROM %T GROUP BY 1 ORDER BY 1}, 'purchase_activity' ],
    [ 'rfm_state finalised per month of order',
      qq{SELECT date_trunc('month', ordered_at AT TIME ZONE 'UTC'), customer_segment.rfm_state_summary(customer_segment.rfm_state(ordered_at, amount, 'UTC'), $as_of, 'week')
           FROM %T GROUP BY 1 ORDER BY 1}, 'rfm_state' ],
    [ 'rfm_state_merge of stored per-customer states, per customer group',
      qq{SELECT customer_id % 7, customer_segment.rfm_state_summary(customer_segment.rfm_state_merge(state), $as_of, 'month', 'week')
           FROM %T_states GROUP BY 1 ORDER BY 1}, 'rfm_state_merge' ],
    [ 'clv_historical per customer group',
      qq{SELECT customer_id % 7, customer_segment.clv_historical(ordered_at, amount, $as_of, 0.1, 1.0, 'annual', 'UTC') FROM %T GROUP BY 1 ORDER BY 1}, 'clv_historical' ],
    [ 'score_breakpoints of amounts',
      qq{SELECT customer_segment.score_breakpoints(amount::float8, 5) FROM %T}, 'score_breakpoints' ],
    [ 'retention_curve of stored activities', q{SELECT customer_segment.retention_curve(activity) FROM %T_summaries}, 'retention_curve' ],
    [ 'bgnbd_fit', q{SELECT customer_segment.bgnbd_fit(frequency, recency, t) FROM %T_summaries}, 'bgnbd_fit' ],
    [ 'pareto_nbd_fit', q{SELECT customer_segment.pareto_nbd_fit(frequency, recency, t, 0.001) FROM %T_summaries}, 'pareto_nbd_fit' ],
    [ 'gamma_gamma_fit', q{SELECT customer_segment.gamma_gamma_fit(frequency, monetary_value) FROM %T_summaries WHERE frequency > 0}, 'gamma_gamma_fit' ],
    [ 'bgnbd_fit_uncertainty', q{SELECT customer_segment.bgnbd_fit_uncertainty(frequency, recency, t) FROM %T_summaries}, 'bgnbd_fit_uncertainty' ],
    [ 'pareto_nbd_fit_uncertainty', q{SELECT (customer_segment.pareto_nbd_fit_uncertainty(frequency, recency, t)).estimate FROM %T_summaries}, 'pareto_nbd_fit_uncertainty' ],
    [ 'gamma_gamma_fit_uncertainty', q{SELECT customer_segment.gamma_gamma_fit_uncertainty(frequency, monetary_value) FROM %T_summaries WHERE frequency > 0}, 'gamma_gamma_fit_uncertainty' ],
    [ 'bgnbd_covariate_fit', q{SELECT customer_segment.bgnbd_covariate_fit(frequency, recency, t, ARRAY[(customer_id % 2)::float8, (customer_id % 5)::float8],
           ARRAY[(customer_id % 3)::float8]) FROM %T_summaries}, 'bgnbd_covariate_fit' ],
    [ 'pareto_nbd_covariate_fit_uncertainty', q{SELECT (customer_segment.pareto_nbd_covariate_fit_uncertainty(frequency, recency, t, ARRAY[(customer_id % 2)::float8],
           ARRAY[(customer_id % 3)::float8])).estimate FROM %T_summaries}, 'pareto_nbd_covariate_fit_uncertainty' ],
    [ 'gamma_gamma_covariate_fit', q{SELECT customer_segment.gamma_gamma_covariate_fit(frequency, monetary_value, ARRAY[(customer_id % 2)::float8])
           FROM %T_summaries WHERE frequency > 0}, 'gamma_gamma_covariate_fit' ],
    [ 'mbgnbd_fit', q{SELECT customer_segment.mbgnbd_fit(frequency, recency, t) FROM %T_summaries}, 'mbgnbd_fit' ],
    [ 'sbg_fit (renewals: repeat purchase days, active: bought in the last 13 weeks)',
      q{SELECT customer_segment.sbg_fit(frequency::int, recency > t - 13) FROM %T_summaries}, 'sbg_fit' ],
    [ 'kmeans_fit', q{SELECT (customer_segment.kmeans_fit(ARRAY[recency_days, frequency, monetary_total]::float8[], 3, 7, 'log1p+zscore')).inertia
           FROM %T_summaries WHERE monetary_total > 0}, 'kmeans_fit' ],
    [ 'kmeans_scan', q{SELECT customer_segment.kmeans_scan(ARRAY[recency_days, frequency]::float8[], 2, 3, 7, 'zscore') FROM %T_summaries}, 'kmeans_scan' ],
    [ 'rfm_analyze', q{SELECT count(*), string_agg(segment || ':' || n, ',' ORDER BY segment) FROM (
           SELECT segment, count(*) n FROM customer_segment.rfm_analyze('%T', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', zone => 'UTC') GROUP BY 1) x} ],
    [ 'clv_analyze', q{SELECT count(*), round(sum(total_clv)::numeric, 4) FROM customer_segment.clv_analyze('%T', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', zone => 'UTC')} ],
    [ 'cohort_retention', q{SELECT string_agg(cohort || '/' || period_offset || '/' || retained, ',' ORDER BY cohort, period_offset)
           FROM customer_segment.cohort_retention('%T', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', zone => 'UTC')} ],
    [ 'btyd_evaluate (holdout)', q{SELECT model, customers, actual_purchases, round(predicted_purchases::numeric, 6), round(rmse::numeric, 6)
           FROM customer_segment.btyd_evaluate('%T', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', DATE '2025-12-31', zone => 'UTC') ORDER BY 1} ],
    [ 'rfm_analyze_states over stored states', q{SELECT count(*), string_agg(segment || ':' || n, ',' ORDER BY segment) FROM (
           SELECT segment, count(*) n FROM customer_segment.rfm_analyze_states('%T_states', DATE '2025-12-31') GROUP BY 1) x} ],
    [ 'cohort_retention_states over stored states', q{SELECT string_agg(cohort || '/' || period_offset || '/' || retained, ',' ORDER BY cohort, period_offset)
           FROM customer_segment.cohort_retention_states('%T_states', DATE '2025-12-31')} ],
    [ 'btyd_analyze', q{SELECT count(*), round(sum(expected_purchases)::numeric, 6) FROM customer_segment.btyd_analyze('%T', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', zone => 'UTC')} ],
);
for my $q (@queries) {
    my ($what, $sql) = @$q;
    (my $local = $sql) =~ s/%T/loc.orders/g;
    my $want = on('coordinator', $local);
    for my $t (qw(by_customer by_order)) {
        (my $dist = $sql) =~ s/%T/$t/g;
        same_answer(on('coordinator', $dist), $want, "$what: orders distributed by " . ($t eq 'by_order' ? 'order' : 'customer') . ' = local copy');
    }
}

# The plans: an aggregate with a real state type runs partial on the workers and combines on the coordinator
# when the grouping is not the distribution column (an internal state would be gathered row by row).
my %two_phase = map { split /,/ } split /\n/, on('coordinator', q{
    SELECT DISTINCT p.proname, a.aggtranstype <> 'internal'::regtype FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
     WHERE p.pronamespace = 'customer_segment'::regnamespace});
for my $q (grep { defined $_->[2] } @queries) {
    my ($what, $sql, $agg) = @$q;
    (my $dist = $sql) =~ s/%T/by_order/g;
    my $plan = on('coordinator', "EXPLAIN (VERBOSE, COSTS OFF) $dist");
    my $partial = $plan =~ /worker_partial_agg\('customer_segment\.$agg\(/ && $plan =~ /coord_combine_agg\(/;
    if ($two_phase{$agg} eq 't') {
        ok($partial, "$what: $agg runs partial on the workers, combined on the coordinator") or diag($plan);
    } else {
        ok(!$partial, "$what: $agg (internal state) is not split by Citus") or diag($plan);
    }
}
is(join(',', sort grep { $two_phase{$_} ne 't' } keys %two_phase), '', 'every aggregate has a real state type');

# A registered source over distributed orders, refreshed incrementally on the coordinator: its views equal
# those of a source over the local copy.
on('coordinator', q{
    SELECT count(*) FROM customer_segment.register_source('dist', 'by_order', 'customer_id', 'ordered_at', 'amount', target_schema => 'public',
        as_of => DATE '2026-01-31', time_zone => 'UTC');
    SELECT count(*) FROM customer_segment.register_source('here', 'loc.orders', 'customer_id', 'ordered_at', 'amount', target_schema => 'public',
        as_of => DATE '2026-01-31', time_zone => 'UTC');
    SELECT customer_segment.set_source_change_column('dist', 'order_id');
    SELECT customer_segment.refresh('dist'), customer_segment.refresh('here');
    INSERT INTO by_order SELECT 9000000 + g, g % 3100 + 1, TIMESTAMPTZ '2025-03-01 12:00+00' + g * interval '1 day', 10 + g FROM generate_series(1, 200) g;
    INSERT INTO loc.orders SELECT 9000000 + g, g % 3100 + 1, TIMESTAMPTZ '2025-03-01 12:00+00' + g * interval '1 day', 10 + g FROM generate_series(1, 200) g;
    SELECT customer_segment.refresh('dist'), customer_segment.refresh('here');});
is(on('coordinator', q{SELECT note FROM customer_segment.refresh_log WHERE source = 'dist' ORDER BY id DESC LIMIT 1}),
   "200 new rows merged into 200 customers\n", 'a source over distributed orders merges the new orders into its states');
for my $h (qw(customers segments cohorts)) {
    is(on('coordinator', "SELECT (SELECT count(*) FROM (SELECT * FROM dist_$h EXCEPT ALL SELECT * FROM here_$h) x)
                                + (SELECT count(*) FROM (SELECT * FROM here_$h EXCEPT ALL SELECT * FROM dist_$h) x)"),
       "0\n", "... and its $h view equals the local source's");
}

# A zone given explicitly means the same days on every node whatever their TimeZone (the workers run in
# Pacific/Kiritimati, the coordinator in America/Los_Angeles).
my $zq = q{SELECT customer_id % 3, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-12-31', 'day', 'day', 'Asia/Kathmandu') FROM %T GROUP BY 1 ORDER BY 1};
(my $zl = $zq) =~ s/%T/loc.orders/;
(my $zd = $zq) =~ s/%T/by_order/;
is(on('coordinator', $zd), on('coordinator', $zl), 'explicit zone: same days on workers in another TimeZone');

done_testing();

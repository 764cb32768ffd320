# Registered sources: register -> refresh -> read, one refresh at a time,
# readers during a refresh, a failing refresh, pg_dump -> restore, unregister.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use lib 't/lib', 'test/t/lib';
use CsTest;

my $db = new_database('cs_sources');
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 2000, 3);});
my @views = psql_rows($db, q{SELECT * FROM customer_segment.register_source('web', 'shop.orders', 'customer_id',
    'ordered_at', 'amount', as_of => DATE '2025-12-31');});
is(scalar(@views), 6, 'six helper views created: ' . join(' ', map { $_->[0] } @views));
my ($empty) = psql_rows($db, 'SELECT (SELECT count(*) FROM shop.web_customers) + (SELECT count(*) FROM shop.web_segments)');
is($empty->[0], 0, 'empty until the first refresh');
like(psql_fails($db, q{SELECT customer_segment.report('web')}) // '', qr/has not been refreshed yet/, '... and the report says so');

my ($st) = psql_rows($db, q{SELECT customer_segment.refresh('web');});
is($st->[0], 'ok', 'first refresh ok');
my ($cmp) = psql_rows($db, q{SELECT (SELECT count(*) FROM shop.web_customers),
    (SELECT count(*) FROM customer_segment.rfm_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31')),
    (SELECT sum(customers) FROM shop.web_segments), (SELECT sum(customers) FROM shop.web_rf_grid),
    (SELECT sum(customers) FROM shop.web_lifecycle), (SELECT count(*) FROM shop.web_cohorts),
    (SELECT sum(customers) FROM shop.web_tiers), (SELECT count(*) FROM shop.web_customers WHERE quadrant IS NOT NULL AND orders > 0),
    (SELECT count(*) FROM shop.web_customers WHERE orders > 0);});
ok($cmp->[0] > 1500 && $cmp->[0] == $cmp->[1], "customers view has the $cmp->[1] customers of rfm_analyze");
ok($cmp->[2] == $cmp->[0] && $cmp->[3] == $cmp->[0] && $cmp->[4] == $cmp->[0] && $cmp->[6] == $cmp->[0],
   'segment, grid, lifecycle and tier summaries add up');
is($cmp->[7], $cmp->[8], 'every customer with a purchase has a quadrant');
cmp_ok($cmp->[5], '>', 100, 'cohort matrix filled');
my ($same) = psql_rows($db, q{WITH v AS (SELECT customer_id, segment, r_score, f_score, m_score FROM shop.web_customers),
         a AS (SELECT customer_id, segment, r_score, f_score, m_score
                 FROM customer_segment.rfm_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31'))
    SELECT count(*) FROM ((TABLE v EXCEPT ALL TABLE a) UNION ALL (TABLE a EXCEPT ALL TABLE v)) d;});
is($same->[0], 0, 'the view holds exactly what rfm_analyze returns');
# BTYD columns: the models fitted on the view's own summary, and the predictions from them.
my ($bt) = psql_rows($db, q{WITH m AS (SELECT customer_segment.bgnbd_fit(frequency, recency, t) AS bg FROM shop.web_customers WHERE orders > 0)
    SELECT count(*), count(*) FILTER (WHERE p_alive IS NULL OR p_alive < 0 OR p_alive > 1 OR clv_12m < 0 OR expected_spend <= 0),
           count(*) FILTER (WHERE abs(p_alive - customer_segment.bgnbd_p_alive(m.bg, frequency, recency, t)) > 1e-12
                               OR abs(expected_purchases_90d - customer_segment.bgnbd_expected_purchases(m.bg, 90, frequency, recency, t)) > 1e-9)
      FROM shop.web_customers, m WHERE orders > 0;});
ok($bt->[0] > 1500 && $bt->[1] == 0 && $bt->[2] == 0,
   "P(alive), expected purchases, spend and CLV of $bt->[0] customers are valid and equal the direct BG/NBD computation");
# With prediction_model = 'pareto_nbd' the same columns come from a Pareto/NBD fit of the same summary.
psql($db, q{UPDATE customer_segment.sources SET prediction_model = 'pareto_nbd' WHERE name = 'web';
            SET client_min_messages = warning; SELECT customer_segment.refresh('web');});
my ($pn) = psql_rows($db, q{WITH m AS (SELECT customer_segment.pareto_nbd_fit(frequency, recency, t) AS pn,
                                              customer_segment.gamma_gamma_fit(frequency, monetary_value) FILTER (WHERE frequency = 0 OR monetary_value > 0) AS gg
                                         FROM shop.web_customers WHERE orders > 0)
    SELECT count(*), count(*) FILTER (WHERE abs(p_alive - customer_segment.pareto_nbd_p_alive(m.pn, frequency, recency, t)) > 1e-12
                                         OR abs(expected_purchases_90d - customer_segment.pareto_nbd_expected_purchases(m.pn, 90, frequency, recency, t)) > 1e-9
                                         OR abs(clv_12m - customer_segment.pareto_nbd_clv(m.pn, frequency, recency, t, expected_spend, 12, 0.01, 30, 1)) > 1e-9 * (1 + clv_12m))
      FROM shop.web_customers, m WHERE orders > 0;});
is_deeply($pn, [$bt->[0], 0], "prediction_model pareto_nbd: P(alive), expected purchases and CLV of all $pn->[0] customers are the direct Pareto/NBD computation");
# prediction_model = 'mbgnbd' (1.6): the MBG/NBD fit of the same summary.
psql($db, q{UPDATE customer_segment.sources SET prediction_model = 'mbgnbd' WHERE name = 'web'; SELECT customer_segment.refresh('web');});
my ($mb) = psql_rows($db, q{WITH m AS (SELECT customer_segment.mbgnbd_fit(frequency, recency, t) AS m FROM shop.web_customers WHERE orders > 0)
    SELECT count(*), count(*) FILTER (WHERE abs(c.p_alive - customer_segment.mbgnbd_p_alive(m.m, c.frequency, c.recency, c.t)) > 1e-12
                                       OR abs(c.expected_purchases_90d - customer_segment.mbgnbd_expected_purchases(m.m, 90, c.frequency, c.recency, c.t)) > 1e-9
                                       OR c.clv_12m IS NULL)
      FROM shop.web_customers c, m WHERE c.orders > 0;});
is_deeply($mb, [$mb->[0], 0], "prediction_model mbgnbd: P(alive), expected purchases and CLV of all $mb->[0] customers are the direct MBG/NBD computation");
like(psql_fails($db, q{UPDATE customer_segment.sources SET prediction_model = 'nonesuch' WHERE name = 'web'}) // '', qr/check constraint/, '... and an unknown model is refused');
psql($db, q{UPDATE customer_segment.sources SET prediction_model = 'bgnbd' WHERE name = 'web';
            SET client_min_messages = warning; SELECT customer_segment.refresh('web');});
my ($comments) = psql_rows($db, q{SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'shop'::regnamespace
    AND c.relname LIKE 'web\_%' AND c.relkind IN ('r', 'v') AND obj_description(c.oid, 'pg_class') IS NOT NULL;});
is($comments->[0], 12, 'every helper view and the table behind it have a comment');

# One refresh at a time: while another session holds the source's lock, wait => false skips, wait => true
# waits (seen waiting on the lock), then runs.
my $gate = gate_closed($db, 7001);
my $pid = in_background($db, q{BEGIN; SELECT pg_advisory_xact_lock(hashtext('customer_segment.refresh'), hashtext('web'));
    SELECT pg_advisory_lock_shared(7001); COMMIT;});
lock_wait_of($db, '%pg_advisory_lock_shared(7001)%');
my $out = `psql -X -q -A -t -d $db -c "SELECT customer_segment.refresh('web', wait => false)" 2>&1`;
like($out, qr/already running; skipped/, 'a second refresh with wait => false reports the running one');
like($out, qr/^skipped$/m, '... and returns skipped');
my $waiter = `mktemp`;
chomp $waiter;
my $wpid = fork();
if ($wpid == 0) { exec("psql -X -q -A -t -d $db -c \"SELECT customer_segment.refresh('web')\" > $waiter 2>&1") or exit 1; }
is(lock_wait_of($db, q{SELECT customer_segment.refresh(''web'')%}), 'advisory', 'a second refresh with wait => true waits on the source\'s lock');
open_gate($db, 7001, $gate);
waitpid($pid, 0);
waitpid($wpid, 0);
is(`cat $waiter`, "ok\n", '... and runs once the first is done');
unlink $waiter;

# Readers keep reading the previous rows while a refresh is in progress: the refresh holds its transaction
# open at a gate; a reader with a 5 s statement_timeout (a block would be an error) reads the old rows.
psql($db, q{INSERT INTO shop.orders VALUES (999999, 1, '2025-12-30 12:00+00', 10000);});
$gate = gate_closed($db, 7002);
$pid = in_background($db, q{BEGIN; SELECT customer_segment.refresh('web'); SELECT pg_advisory_lock_shared(7002); COMMIT;});
lock_wait_of($db, '%pg_advisory_lock_shared(7002)%');
my ($during) = psql_rows($db, q{SET statement_timeout = '5s'; SELECT monetary_total FROM shop.web_customers WHERE customer_id = '1';});
open_gate($db, 7002, $gate);
waitpid($pid, 0);
my ($after) = psql_rows($db, q{SELECT monetary_total FROM shop.web_customers WHERE customer_id = '1';});
ok(defined $during->[0], 'a reader during the refresh was not blocked');
ok($after->[0] - $during->[0] == 10000, 'it saw the old rows; after the commit the new order is in');

# A refresh that fails keeps the previous results and is logged.
psql($db, q{ALTER TABLE shop.orders ALTER COLUMN amount TYPE numeric;
            INSERT INTO shop.orders VALUES (1000000, 2, '2025-12-30 12:00+00', 'NaN');});
my ($before_fail) = psql_rows($db, q{SELECT count(*), sum(monetary_total) FROM shop.web_customers;});
$out = `psql -X -q -A -t -d $db -c "SELECT customer_segment.refresh('web')" 2>&1`;
like($out, qr/WARNING:.*failed, previous results kept: 22023/, 'the failure is reported with its SQLSTATE');
like($out, qr/^failed$/m, 'refresh returns failed');
my ($after_fail) = psql_rows($db, q{SELECT count(*), sum(monetary_total) FROM shop.web_customers;});
is_deeply($after_fail, $before_fail, 'the views still hold the previous results');
my ($log) = psql_rows($db, q{SELECT status, error LIKE '22023:%' FROM customer_segment.refresh_log ORDER BY id DESC LIMIT 1;});
is_deeply($log, ['failed', 't'], 'the refresh log records the failure');
# refresh_job, for schedulers: the same failure is an error with the logged SQLSTATE, and the log row stays.
my ($logged_before) = psql_rows($db, q{SELECT count(*) FROM customer_segment.refresh_log WHERE status = 'failed';});
$out = `psql -X -q -A -t -v ON_ERROR_STOP=1 -d $db -c "SET client_min_messages = error" -c "CALL customer_segment.refresh_job('web')" 2>&1`;
my $rc = $? >> 8;
like($out, qr/ERROR:  refresh of source "web" failed: 22023: /, 'refresh_job raises the logged error');
isnt($rc, 0, '... so psql (or pg_cron) sees a failed command');
my ($logged_after) = psql_rows($db, q{SELECT count(*) FROM customer_segment.refresh_log WHERE status = 'failed';});
is($logged_after->[0], $logged_before->[0] + 1, '... and the failed run is in the log all the same');
psql($db, q{DELETE FROM shop.orders WHERE order_id = 1000000;});
my ($ok_again) = psql_rows($db, q{SELECT customer_segment.refresh('web'), (SELECT count(*) FROM customer_segment.refresh_log WHERE status = 'ok');});
is($ok_again->[0], 'ok', 'after the bad row is gone the refresh works again');

# A read-only BI role reads the helper views, not the orders, the configuration or the log, and cannot refresh.
psql($db, q{DROP ROLE IF EXISTS cs_bi_reader; CREATE ROLE cs_bi_reader LOGIN;
            SELECT customer_segment.grant_source_read('web', 'cs_bi_reader');});
my $bi = sub { my ($sql) = @_; my $o = `psql -X -q -A -t -U cs_bi_reader -d $db -c "$sql" 2>&1`; return ($? == 0, $o); };
my ($ok_views) = $bi->('SELECT count(*) FROM shop.web_customers; SELECT count(*) FROM shop.web_segments; SELECT count(*) FROM shop.web_cohorts');
ok($ok_views, 'the BI role reads the helper views');
for my $denied ('SELECT count(*) FROM shop.orders', 'SELECT count(*) FROM customer_segment.sources',
                'SELECT count(*) FROM customer_segment.refresh_log', "SELECT customer_segment.refresh('web')") {
    my ($ok, $o) = $bi->($denied);
    ok(!$ok && $o =~ /permission denied|must be owner/, "the BI role is refused: $denied");
}

# History: each refresh snapshots the customers of a source with history_days; migrations between snapshots.
psql($db, q{INSERT INTO customer_segment.tier_ladders VALUES ('club', 'Regular', 1, 0, NULL), ('club', 'Silver', 2, 300, NULL),
                                                            ('club', 'Gold', 3, 1000, NULL);
            SELECT count(*) FROM customer_segment.register_source('hist', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
                                                                   as_of => DATE '2025-06-30', history_days => 200,
                                                                   tier_ladder => 'club');
            SELECT customer_segment.refresh('hist');
            UPDATE customer_segment.sources SET as_of = DATE '2025-12-31' WHERE name = 'hist';
            SELECT customer_segment.refresh('hist');});
my ($tiers) = psql_rows($db, q{SELECT count(*), count(*) FILTER (WHERE tier IS DISTINCT FROM CASE
        WHEN monetary_total >= 1000 THEN 'Gold' WHEN monetary_total >= 300 THEN 'Silver' WHEN monetary_total >= 0 THEN 'Regular' END)
    FROM shop.hist_customers;});
ok($tiers->[0] > 1500 && $tiers->[1] == 0, "the tier column of $tiers->[0] customers equals a plain-SQL CASE on the ladder");
my ($quads) = psql_rows($db, q{WITH cut AS (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY monetary_total) AS v,
                                                   percentile_disc(0.5) WITHIN GROUP (ORDER BY orders) AS e
                                              FROM shop.hist_customers WHERE orders > 0)
    SELECT count(*), count(*) FILTER (WHERE quadrant IS DISTINCT FROM CASE WHEN orders > 0 THEN
               CASE WHEN monetary_total >= cut.v THEN 'High value' ELSE 'Low value' END || ' / '
               || CASE WHEN orders >= cut.e THEN 'High engagement' ELSE 'Low engagement' END END)
      FROM shop.hist_customers, cut;});
ok($quads->[0] > 1500 && $quads->[1] == 0, "the quadrant of $quads->[0] customers is a plain-SQL cut at the buyers' medians");
my @snaps = psql_rows($db, q{SELECT snapshot_date, count(*) FROM customer_segment.segment_history WHERE source = 'hist' GROUP BY 1 ORDER BY 1;});
is(scalar(@snaps), 2, 'two snapshots: ' . join(', ', map { "$_->[0] ($_->[1] customers)" } @snaps));
my ($mig) = psql_rows($db, q{SELECT count(*) FROM (
    SELECT from_segment, to_segment, customers FROM customer_segment.segment_migrations('hist')
    EXCEPT
    SELECT coalesce(p.segment, '(none)'), coalesce(c.segment, '(none)'), count(*)
      FROM (SELECT * FROM customer_segment.segment_history WHERE source = 'hist' AND snapshot_date = '2025-06-30') p
      FULL JOIN (SELECT * FROM customer_segment.segment_history WHERE source = 'hist' AND snapshot_date = '2025-12-31') c USING (customer_id)
     GROUP BY 1, 2) d;});
is($mig->[0], 0, 'segment_migrations equals a plain-SQL comparison of the two snapshots');
my ($moved) = psql_rows($db, q{SELECT sum(customers) FILTER (WHERE from_segment = 'Champions' AND to_segment <> 'Champions'),
    sum(customers) FILTER (WHERE from_segment = '(none)') FROM customer_segment.segment_migrations('hist');});
ok($moved->[0] > 0 && $moved->[1] > 0, "$moved->[0] Champions moved elsewhere, $moved->[1] customers are new");
psql($db, q{UPDATE customer_segment.sources SET as_of = DATE '2026-09-30' WHERE name = 'hist'; SELECT customer_segment.refresh('hist');});
my ($kept) = psql_rows($db, q{SELECT count(DISTINCT snapshot_date),
    (SELECT count(*) FROM pg_inherits WHERE inhparent = 'customer_segment.segment_history'::regclass)
    FROM customer_segment.segment_history WHERE source = 'hist';});
is_deeply($kept, [1, 1], 'retention of 200 days removed the old snapshots and their partitions');

# Bad registrations.
like(psql_fails($db, q{SELECT customer_segment.register_source('x', 'shop.orders', 'customer_id; drop table shop.orders', 'ordered_at', 'amount')}) // '',
     qr/does not exist/, 'column names are identifiers, not SQL');
like(psql_fails($db, q{SELECT customer_segment.register_source('Bad Name', 'shop.orders', 'customer_id', 'ordered_at', 'amount')}) // '',
     qr/violates check constraint/, 'source names are plain identifiers');
like(psql_fails($db, q{SELECT customer_segment.refresh('nope')}) // '', qr/not registered/, 'unknown source');

# pg_dump -> restore into a new database -> refresh works.
my ($restore_rc, $restore) = dump_restore($db, 'cs_sources_copy');
is($restore_rc, 0, 'the dump restores') or diag($restore);
my ($refreshed) = psql_rows('cs_sources_copy', q{SELECT customer_segment.refresh('web');});
my ($copy) = psql_rows('cs_sources_copy', q{SELECT (SELECT count(*) FROM customer_segment.sources), (SELECT count(*) FROM shop.web_customers);});
is_deeply([$refreshed->[0], @$copy], ['ok', 2, $cmp->[0]], 'the sources came back and refresh in the restored database');
my ($hist_copy) = psql_rows('cs_sources_copy', q{SELECT count(*) FROM customer_segment.segment_history WHERE source = 'hist';});
cmp_ok($hist_copy->[0], '>', 1000, "the history ($hist_copy->[0] rows) came back too");

# Unregister refuses to drop a user's own view built on a helper view, unless asked to cascade.
psql($db, q{CREATE VIEW shop.my_champions AS SELECT customer_id FROM shop.web_customers WHERE segment = 'Champions';});
like(psql_fails($db, q{SELECT customer_segment.unregister_source('web')}) // '',
     qr/cannot unregister source "web": objects of yours depend on helper view shop.web_customers.*\n.*view shop.my_champions depends/s,
     'unregister_source refuses when a user view depends on a helper view, and names it');
my ($still) = psql_rows($db, q{SELECT count(*) FROM customer_segment.sources WHERE name = 'web';});
is($still->[0], 1, '... and changed nothing');
psql($db, q{SELECT customer_segment.unregister_source('web', cascade => true);});
my ($gone_view) = psql_rows($db, q{SELECT to_regclass('shop.my_champions') IS NULL;});
is($gone_view->[0], 't', 'with cascade => true it drops the dependent view too');

# Unregister drops the views and the history, and keeps the orders.
psql($db, q{SELECT customer_segment.unregister_source('hist');});
my ($left) = psql_rows($db, q{SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'shop'::regnamespace AND relkind = 'm'),
    (SELECT count(*) > 0 FROM shop.orders), (SELECT count(*) FROM customer_segment.sources),
    (SELECT count(*) FROM customer_segment.segment_history),
    (SELECT count(*) FROM pg_inherits WHERE inhparent = 'customer_segment.segment_history'::regclass);});
is_deeply($left, [0, 't', 0, 0, 0], 'unregister dropped the views and the history, not the orders');

psql('postgres', "DROP DATABASE $db; DROP DATABASE cs_sources_copy; DROP ROLE cs_bi_reader;");
done_testing();

# Incremental refresh: a source with a change column keeps per-customer states and merges only the orders
# past its watermark.  Every helper view after each incremental refresh equals the one of a twin source over
# the same orders refreshed in full: after late orders dated in the past, refunds and new customers, after a
# deleted order and a late commit below the watermark (both rebuild the states), with an as_of before the
# latest order (read from the orders), and with a timestamptz change column.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

my $db = 'cs_incremental';
new_database($db);
psql($db, q{
    CREATE SCHEMA shop;
    SELECT customer_segment.create_sample_store('shop', 3000, 5);
    ALTER TABLE shop.orders ADD COLUMN inserted_at timestamptz NOT NULL DEFAULT TIMESTAMPTZ '2026-01-01 00:00+00';
    SELECT count(*) FROM customer_segment.register_source('inc', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        as_of => DATE '2026-01-31', time_zone => 'Europe/Paris', tier_ladder => NULL);
    SELECT count(*) FROM customer_segment.register_source('ref', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        as_of => DATE '2026-01-31', time_zone => 'Europe/Paris');
    SELECT count(*) FROM customer_segment.register_source('tsi', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        as_of => DATE '2026-01-31', time_zone => 'Europe/Paris');
    SELECT customer_segment.set_source_change_column('inc', 'order_id');
    SELECT customer_segment.set_source_change_column('tsi', 'inserted_at');
});
my @helpers = qw(customers segments rf_grid lifecycle tiers cohorts);

# Refreshes the three sources; returns the notes of the two incremental ones.
sub refresh_all {
    my ($full) = @_;
    my $f = $full ? ', full => true' : '';
    is(psql($db, "SELECT customer_segment.refresh('inc'$f), customer_segment.refresh('ref'), customer_segment.refresh('tsi'$f);"),
       "ok,ok,ok\n", 'the three sources refresh');
    return map { psql($db, "SELECT note FROM customer_segment.refresh_log WHERE source = '$_' ORDER BY id DESC LIMIT 1") =~ s/\n\z//r } qw(inc tsi);
}
# Every helper view of the incremental sources equals the full refresh's, row for row.
sub same_views {
    my ($when) = @_;
    for my $src (qw(inc tsi)) {
        my @diff = map {
            my ($d) = psql_rows($db, "SELECT (SELECT count(*) FROM (SELECT * FROM shop.${src}_$_ EXCEPT ALL SELECT * FROM shop.ref_$_) x),
                                             (SELECT count(*) FROM (SELECT * FROM shop.ref_$_ EXCEPT ALL SELECT * FROM shop.${src}_$_) x),
                                             (SELECT count(*) FROM shop.ref_$_)");
            $d->[0] + $d->[1] == 0 && $d->[2] > 0 ? () : ("$_: $d->[0] + $d->[1] rows differ of $d->[2]");
        } @helpers;
        is_deeply(\@diff, [], "$when: the six helper views of $src equal the full refresh's");
    }
}

my @notes = refresh_all();
like($notes[0], qr/^states built from 27020 rows, 2748 customers$/, "first refresh builds the states: $notes[0]");
like($notes[1], qr/^states built/, '... by either kind of change column');
same_views('states built');
my ($st) = psql_rows($db, q{SELECT count(*), max(pg_column_size(state)) FROM shop.inc_states});
ok($st->[0] == 2748 && $st->[1] < 400, "one state a customer ($st->[0]), each under 400 bytes (largest $st->[1])");

# New rows: late orders dated up to two years back, refunds, customers never seen before.
psql($db, q{
    INSERT INTO shop.orders
    SELECT 5000000 + g, CASE WHEN g % 4 = 0 THEN 90000 + g ELSE g % 2900 + 1 END,
           TIMESTAMPTZ '2024-03-01 10:00+00' + (g * 37 % 640) * interval '1 day' + (g % 24) * interval '1 hour',
           CASE WHEN g % 9 = 0 THEN -(g % 60) ELSE 5 + g % 250 END, TIMESTAMPTZ '2026-01-02 00:00+00' + g * interval '1 second'
      FROM generate_series(1, 300) g;});
@notes = refresh_all();
is($notes[0], '300 new rows merged into 300 customers', "late orders, refunds and new customers: $notes[0]");
is($notes[1], '300 new rows merged into 300 customers', "... by inserted_at too: $notes[1]");
same_views('after late orders, refunds and new customers');
@notes = refresh_all();
is($notes[0], '0 new rows merged into 0 customers', 'nothing new: nothing merged');

# What the watermark cannot see: a deleted order, an order committed late below the watermark.
psql($db, q{DELETE FROM shop.orders WHERE order_id IN (SELECT order_id FROM shop.orders ORDER BY order_id LIMIT 2);});
@notes = refresh_all();
like($notes[0], qr/^states rebuilt: 27318 rows at or below the watermark, 27320 when it was set from 27318 rows/,
     "a deleted order is seen by the row count and rebuilds the states: $notes[0]");
same_views('after a delete');
psql($db, q{INSERT INTO shop.orders VALUES (4999999, 17, TIMESTAMPTZ '2025-05-05 12:00+00', 77, TIMESTAMPTZ '2026-01-01 12:00+00');});
@notes = refresh_all();
like($notes[0], qr/^states rebuilt: 27319 rows at or below the watermark, 27318/, "an order committed below the watermark rebuilds: $notes[0]");
like($notes[1], qr/^states rebuilt/, "... also below an inserted_at watermark: $notes[1]");
same_views('after a late commit below the watermark');

# An as_of before the latest order: the views read the orders (a state cannot forget orders).
psql($db, q{UPDATE customer_segment.sources SET as_of = DATE '2025-06-30';});
@notes = refresh_all();
is(psql($db, q{SELECT customer_segment.source_states(s, DATE '2025-06-30') IS NULL FROM customer_segment.sources s WHERE name = 'inc'}), "t\n",
   'the states do not serve an as_of before their latest order');
same_views('as_of before the latest order');
psql($db, q{UPDATE customer_segment.sources SET as_of = DATE '2026-02-28';});

# A full refresh on request; the states are the ones an rfm_state over all orders gives.
@notes = refresh_all(1);
like($notes[0], qr/^states rebuilt \(full refresh\)/, "refresh(..., full => true) rebuilds: $notes[0]");
same_views('full => true');
is(psql($db, q{SELECT count(*) FROM shop.inc_states s
    FULL JOIN (SELECT customer_id::text, customer_segment.rfm_state(ordered_at, amount, 'Europe/Paris') AS state FROM shop.orders GROUP BY 1) o
      USING (customer_id)
    WHERE customer_segment.rfm_state_summary(s.state, DATE '2026-02-28') IS DISTINCT FROM customer_segment.rfm_state_summary(o.state, DATE '2026-02-28')}),
   "0\n", 'the kept states summarise to what rfm_state over all orders gives');

# pg_dump keeps the states and the watermark: the restored database goes on refreshing incrementally.
my ($rc, $out) = dump_restore($db, 'cs_incremental_restored');
is($rc, 0, 'the database dumps and restores') or diag($out);
is(psql('cs_incremental_restored', q{SELECT customer_segment.refresh('inc'), customer_segment.refresh('ref');
    SELECT note FROM customer_segment.refresh_log WHERE source = 'inc' ORDER BY id DESC LIMIT 1;
    SELECT count(*) FROM (SELECT * FROM shop.inc_customers EXCEPT ALL SELECT * FROM shop.ref_customers) x;}),
   "ok,ok\n0 new rows merged into 0 customers\n0\n", 'restored, it refreshes incrementally from its watermark, with the same views');
psql('postgres', 'DROP DATABASE cs_incremental_restored;');

# Bad change columns; turning incremental refresh off drops the states; unregistering drops them too.
like(psql_fails($db, q{SELECT customer_segment.set_source_change_column('inc', 'amount')}) // '', qr/^$/, 'a numeric change column is accepted');
like(psql_fails($db, q{SELECT customer_segment.set_source_change_column('inc', 'customer_id')}) // '', qr/^$/, 'so is an integer one');
like(psql_fails($db, q{ALTER TABLE shop.orders ADD COLUMN note text; SELECT customer_segment.set_source_change_column('inc', 'note')}),
     qr/change column "note" has type text/, 'a text change column is refused (42804)');
like(psql_fails($db, q{SELECT customer_segment.set_source_change_column('inc', 'no_such')}), qr/no_such/, 'so is a missing column');
psql($db, q{SELECT customer_segment.set_source_change_column('inc', NULL)});
is(psql($db, q{SELECT to_regclass('shop.inc_states') IS NULL, (SELECT count(*) FROM customer_segment.source_increments WHERE source = 'inc')}),
   "t,0\n", 'set_source_change_column(name, NULL) drops the states');
psql($db, q{SELECT customer_segment.unregister_source('tsi')});
is(psql($db, q{SELECT to_regclass('shop.tsi_states') IS NULL, (SELECT count(*) FROM customer_segment.source_increments)}),
   "t,0\n", 'unregister_source drops the states');

# The states functions check their table.
like(psql_fails($db, q{CREATE TABLE bad (customer_id int, state text); SELECT * FROM customer_segment.rfm_analyze_states('bad', DATE '2026-01-01')}),
     qr/must be of type customer_segment.rfm_summary_state/, 'rfm_analyze_states refuses a table without an rfm_summary_state column (42804)');

psql('postgres', "DROP DATABASE $db;");
done_testing();

# BI readers during a refresh: a reader that queries the helper views in a loop while a refresh runs never
# waits long (the refresh takes no lock that conflicts with a read), even while a long BI transaction holds
# its own read of the views open, and every query sees the rows of one refresh in all views together: the
# customers of the customers view, of the segments and of the lifecycle view add up to the same number, with
# one as_of.  The refresh moves as_of and adds customers, so old and new rows differ.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use POSIX ':sys_wait_h';
use lib 't/lib', 'test/t/lib';
use CsTest;

my $db = new_database('cs_refresh_readers');
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 30000, 4);
    SELECT count(*) FROM customer_segment.register_source('web', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        as_of => DATE '2025-06-30', time_zone => 'UTC');
    SELECT customer_segment.refresh('web');});
my ($before) = psql_rows($db, q{SELECT count(*), max(as_of) FROM shop.web_customers;});

# New customers, and a later as_of: the next refresh changes the count and as_of of every view.
psql($db, q{INSERT INTO shop.orders
    SELECT (SELECT max(order_id) FROM shop.orders) + g, 900000 + g, TIMESTAMPTZ '2025-07-15 12:00+00', 10 + g % 50
      FROM generate_series(1, 500) g;
    UPDATE customer_segment.sources SET as_of = DATE '2025-07-31' WHERE name = 'web';});

# A long BI query: a transaction that read every helper view and stays open.
my $bi = in_background($db, q{BEGIN; SELECT count(*) FROM shop.web_customers, shop.web_segments; SELECT pg_sleep(600);});
sleep 0.2 until psql($db, q{SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'BEGIN; SELECT count(*) FROM shop.web_customers%' AND state = 'active' AND wait_event = 'PgSleep';}) =~ /^1/;

my $refresh = in_background($db, q{SELECT customer_segment.refresh('web');});
my $check = q{SELECT (SELECT count(*) FROM shop.web_customers) || ' ' || (SELECT sum(customers) FROM shop.web_segments) || ' '
              || (SELECT sum(customers) FROM shop.web_lifecycle) || ' ' || (SELECT count(DISTINCT as_of) || ' ' || max(as_of) FROM shop.web_customers)};
my ($reads, $mixed, $longest, %seen) = (0, 0, 0);
while (1) {
    my $done = waitpid($refresh, WNOHANG) != 0;
    my $t0 = time;
    my $out = `psql -X -q -A -t -d $db -c "$check" 2>&1`;
    my $wait = time - $t0;
    $longest = $wait if $wait > $longest;
    $reads++;
    chomp $out;
    my ($customers, $segments, $stages, $days, $as_of) = split / /, $out;
    $mixed++ unless defined $as_of && $customers == $segments && $customers == $stages && $days == 1;
    $seen{$as_of // 'error'} = 1;
    last if $done;
}
my ($after) = psql_rows($db, q{SELECT count(*), max(as_of), (SELECT count(DISTINCT customer_id) FROM shop.orders WHERE ordered_at < '2025-08-01 00:00+00')
    FROM shop.web_customers;});
my ($status) = psql_rows($db, q{SELECT status FROM customer_segment.refresh_log WHERE source = 'web' ORDER BY id DESC LIMIT 1;});
is($status->[0], 'ok', 'the refresh succeeded while a BI transaction held its read of the views open');
ok($after->[0] == $after->[2] && $after->[0] > $before->[0] + 500 && $after->[1] eq '2025-07-31',
   "it added the new customers ($before->[0] -> $after->[0], every buyer to as_of) and moved as_of");
cmp_ok($reads, '>=', 3, "a reader queried the views $reads times during the refresh");
cmp_ok($longest, '<', 1, sprintf('... its longest query took %.3f s (< 1 s)', $longest));
is($mixed, 0, '... and every query saw one refresh\'s rows in all views (customers = segments = stages, one as_of)');
ok($seen{'2025-07-31'}, '... the new rows once the refresh committed');

psql($db, q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'BEGIN; SELECT count(*) FROM shop.web_customers%' AND pid <> pg_backend_pid();});
waitpid($bi, 0);
psql('postgres', "DROP DATABASE $db;");
done_testing();

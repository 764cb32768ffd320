# A refresh cut short by a crash leaves the previous rows: in a cluster of its own, a refresh that has begun
# filling the helper tables is stopped by an immediate shutdown, then another by kill -9 of its backend (the
# postmaster restarts every session); after recovery every helper view holds the rows it had, and the next
# refresh succeeds with the new orders.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib', 'test/t/lib';
use CsTest;
use CsCluster;

my $pg_config = $ENV{PG_CONFIG} // 'pg_config';
chomp(my $bindir = `'$pg_config' --bindir`);
my $port = cluster_start($bindir, 'crash');
sub on { return on_cluster('crash', @_); }

on(q{CREATE EXTENSION customer_segment; CREATE SCHEMA shop;
      SELECT count(*) FROM customer_segment.create_sample_store('shop', 40000, 2);
      SELECT count(*) FROM customer_segment.register_source('web', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
          as_of => DATE '2025-12-31', time_zone => 'UTC');
      SELECT customer_segment.refresh('web');});
my $views = q{SELECT h || ' ' || n || ' ' || d FROM (
    SELECT 'customers' h, count(*) n, md5(string_agg(x::text, ',' ORDER BY x::text)) d FROM shop.web_customers x UNION ALL
    SELECT 'segments', count(*), md5(string_agg(x::text, ',' ORDER BY x::text)) FROM shop.web_segments x UNION ALL
    SELECT 'cohorts', count(*), md5(string_agg(x::text, ',' ORDER BY x::text)) FROM shop.web_cohorts x) v ORDER BY 1};
my $before = on($views);
on(q{INSERT INTO shop.orders SELECT (SELECT max(order_id) FROM shop.orders) + g, 800000 + g, TIMESTAMPTZ '2025-12-30 12:00+00', 20
      FROM generate_series(1, 300) g;});

# Starts a refresh and waits until it is writing the helper tables (holds a lock on the customers table).
sub refresh_in_flight {
    my $pid = fork();
    die 'fork failed' unless defined $pid;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        exec("$bindir/psql", '-X', '-q', '-h', '127.0.0.1', '-p', $port, '-U', 'postgres', '-d', 'postgres',
             '-c', q{SELECT customer_segment.refresh('web')}) or exit 1;
    }
    for (1 .. 600) {
        my $backend = on(q{SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                            WHERE c.relname = 'web_customers_data' AND l.mode = 'RowExclusiveLock' AND l.granted LIMIT 1;});
        chomp $backend;
        return ($pid, $backend) if $backend;
        sleep 0.05;
    }
    die 'the refresh never reached the helper tables';
}

my ($client, $backend) = refresh_in_flight();
cluster_restart('crash', 'immediate');
waitpid($client, 0);
is(on($views), $before, 'after an immediate shutdown mid-refresh, every helper view holds its previous rows');

($client, $backend) = refresh_in_flight();
kill 'KILL', $backend;
waitpid($client, 0);
my $up;
for (1 .. 200) { $up = eval { on('SELECT 1') }; last if $up; sleep 0.1; }
is(on($views), $before, 'after kill -9 of the refreshing backend, too');

is(on(q{SELECT customer_segment.refresh('web');}), "ok\n", 'the next refresh succeeds');
my ($n) = on(q{SELECT count(*) FILTER (WHERE customer_id::int > 800000) FROM shop.web_customers;}) =~ /(\d+)/;
is($n, 300, '... with the new customers');
done_testing();

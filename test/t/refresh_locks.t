# Refresh under concurrency, made deterministic by waiting on locks, never on sleeps:
# - two history-enabled sources reaching a new month at once both succeed (they raced to create the
#   month's partition, and the second failed with 42P07);
# - a transaction that read segment_history and stays open makes a refresh that needs a new partition
#   fail after customer_segment.refresh_lock_timeout, logged with 55P03, instead of waiting for ever;
# - started_at in the log is when the work started, after waiting for another refresh of the source.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib', 'test/t/lib';
use CsTest;

my $db = new_database('cs_refresh_locks');
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 300, 5);
    SELECT customer_segment.register_source(s, 'shop.orders', 'customer_id', 'ordered_at', 'amount',
               as_of => DATE '2025-06-30', history_days => 100)
      FROM unnest(ARRAY['a', 'b', 'c']) s;});

# A gate: a session-level advisory lock held by a background session until we end that session.
my $gate = gate_closed($db, 4242);

# Session 1 refreshes a, creating the 2025_06 partition, and keeps its transaction open behind the gate.
my $s1 = in_background($db, q{BEGIN; SELECT customer_segment.refresh('a'); SELECT pg_advisory_lock_shared(4242); COMMIT;});
is(lock_wait_of($db, q{%refresh(''a'')%}), 'advisory', 'session 1 refreshed a and waits at the gate, its partition uncommitted');
# Session 2 refreshes b into the same new month: it must wait for session 1, then succeed.
my $s2 = in_background($db, q{SELECT customer_segment.refresh('b');});
my $w2 = lock_wait_of($db, q{%refresh(''b'')%});
ok($w2 ne 'never', "session 2 waits for session 1 (on $w2)");
open_gate($db, 4242, $gate);
waitpid($s1, 0); waitpid($s2, 0);
my @log = psql_rows($db, q{SELECT source, status, coalesce(error, '') FROM customer_segment.refresh_log ORDER BY source;});
is_deeply(\@log, [['a', 'ok', ''], ['b', 'ok', '']], 'both refreshes into the new month succeeded');
my ($hist) = psql_rows($db, q{SELECT count(DISTINCT source), count(*) FILTER (WHERE source = 'a') = count(*) FILTER (WHERE source = 'b')
    FROM customer_segment.segment_history_2025_06;});
is_deeply($hist, [2, 't'], 'both snapshots are in the month\'s partition');

# A reader of the history that stays open: a refresh needing the next month's partition gives up.
psql($db, q{UPDATE customer_segment.sources SET as_of = DATE '2025-07-31' WHERE name = 'c';});
my $reader = in_background($db, q{BEGIN; SELECT count(*) FROM customer_segment.segment_history; SELECT pg_advisory_lock(4343); SELECT pg_sleep(600);});
wait_granted($db, 4343);
my ($st) = psql_rows($db, q{SET customer_segment.refresh_lock_timeout = '200ms'; SET client_min_messages = error;
    SELECT customer_segment.refresh('c');});
is($st->[0], 'failed', 'with a reader holding the history, the refresh gives up after refresh_lock_timeout');
my ($err) = psql_rows($db, q{SELECT error FROM customer_segment.refresh_log WHERE source = 'c' ORDER BY id DESC LIMIT 1;});
like($err->[0], qr/^55P03: canceling statement due to lock timeout/, '... and logs 55P03');
psql($db, q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE query LIKE 'BEGIN; SELECT count(*) FROM customer_segment.segment_history%' AND pid <> pg_backend_pid();});
waitpid($reader, 0);
my @lt = psql_rows($db, q{SET lock_timeout = '7s'; SET client_min_messages = error; SELECT customer_segment.refresh('c'); SHOW lock_timeout;});
is_deeply([map { $_->[0] } @lt], ['ok', '7s'], 'once the reader is gone it succeeds, and the caller\'s lock_timeout is as it was');

# started_at: after the wait for another refresh of the same source.
my $gate2 = gate_closed($db, 4444);
my $holder = in_background($db, q{BEGIN; SELECT pg_advisory_xact_lock(hashtext('customer_segment.refresh'), hashtext('a')); SELECT pg_advisory_lock_shared(4444); COMMIT;});
lock_wait_of($db, q{%pg_advisory_lock_shared(4444)%});     # it holds the source's lock and waits at the gate
my $waiter = in_background($db, q{SELECT customer_segment.refresh('a');});
lock_wait_of($db, q{%refresh(''a'')%});
my ($released) = psql_rows($db, q{SELECT clock_timestamp();});
open_gate($db, 4444, $gate2);
waitpid($holder, 0); waitpid($waiter, 0);
my ($started) = psql_rows($db, qq{SELECT started_at >= '$released->[0]'::timestamptz FROM customer_segment.refresh_log WHERE source = 'a' ORDER BY id DESC LIMIT 1;});
is($started->[0], 't', 'a refresh that waited for another logs started_at from the end of its wait');

psql('postgres', "DROP DATABASE $db;");
done_testing();

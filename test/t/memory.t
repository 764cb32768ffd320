# Memory stays bounded: one customer with 8,000 orders 400 days apart (a span of 3.2 million days) used
# 1.5 GB of backend memory before the purchase-day bitmap grew geometrically and freed its old blocks.
# The backend's peak resident memory (VmHWM) is read before and after, in the same session.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

plan skip_all => 'no /proc/self/status on this system' unless -r '/proc/self/status';
my $db = new_database('cs_memory');
psql($db, q{CREATE TABLE far (customer_id int, ordered_at date, amount numeric);
    INSERT INTO far SELECT 1, DATE '2000-01-01' + 400 * g, 10 FROM generate_series(0, 7999) g;
    INSERT INTO far SELECT 2, DATE '2000-01-01' + 400 * g, 10 FROM generate_series(0, 7999) g ORDER BY g DESC;});

sub peak_kb_sql { return q{SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\s*(\d+)')::bigint;} }
for my $case (['rfm_summary by day', q{SELECT (customer_segment.rfm_summary(ordered_at, amount, DATE '12000-01-01')).purchase_days FROM far GROUP BY customer_id}],
              ['rfm_summary by month', q{SELECT (customer_segment.rfm_summary(ordered_at, amount, DATE '12000-01-01', 'month', 'day')).frequency + 1 FROM far GROUP BY customer_id}]) {
    # A warm-up on two rows loads the same code; then the real query, then the peak again.
    my @r = psql_rows($db, join("\n", q{SET max_parallel_workers_per_gather = 0;},
        q{SELECT (customer_segment.rfm_summary(ordered_at, amount, DATE '12000-01-01')).orders FROM far WHERE ordered_at < DATE '2000-06-01';},
        peak_kb_sql(), $case->[1] . ';', peak_kb_sql()));
    my ($before, $n1, $n2, $after) = map { $_->[0] } @r[1 .. 4];
    is_deeply([$n1, $n2], [8000, 8000], "$case->[0]: both customers (orders in time order and reversed) have 8,000 purchase periods");
    cmp_ok($after - $before, '<', 10 * 1024, sprintf('%s: the backend peak grew by %.1f MB (limit 10 MB)', $case->[0], ($after - $before) / 1024));
}
psql('postgres', 'DROP DATABASE cs_memory;');
done_testing();

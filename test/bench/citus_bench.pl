# The measuring half of test/bench/citus_bench.sh (read it first).
use strict;
use warnings;
use Time::HiRes qw(time);
use lib 'test/t/lib';
use CsTest;
use CsCitus;

my $customers = shift // 200000;
my $reps = $ENV{REPS} // 3;
citus_start(conf => "shared_buffers = '1GB'\nwork_mem = '256MB'\njit = off");
on_node('coordinator', qq{
    CREATE SCHEMA loc;
    SELECT customer_segment.create_sample_store('loc', $customers, 1);
    CREATE TABLE orders (LIKE loc.orders);
    SELECT create_distributed_table('orders', 'customer_id');
    INSERT INTO orders SELECT * FROM loc.orders;
    VACUUM ANALYZE orders; VACUUM ANALYZE loc.orders;});
my ($orders) = split /\n/, on_node('coordinator', 'SELECT count(*) FROM orders');
printf "%d customers, %d orders, orders distributed by customer_id over 2 workers (8 shards)\n\n", $customers, $orders;

my $month = q{date_trunc('month', ordered_at AT TIME ZONE 'UTC')};
my %q = (
    'clv_historical per order month' =>
        qq{SELECT $month, customer_segment.clv_historical(ordered_at, amount, DATE '2025-12-31', 0.1, 1, 'annual', 'UTC') FROM %T GROUP BY 1},
    'rfm_summary per order month' =>
        qq{SELECT $month, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-12-31', 'week', 'week', 'UTC') FROM %T GROUP BY 1},
    'score_breakpoints of amounts per month' =>
        qq{SELECT $month, customer_segment.score_breakpoints(amount::float8, 5) FROM %T GROUP BY 1},
);
sub best {
    my ($sql) = @_;
    my $best;
    for (1 .. $reps) {
        my $t = time;
        on_node('coordinator', "SELECT count(*) FROM ($sql) x");
        my $d = time - $t;
        $best = $d if !defined $best || $d < $best;
    }
    return $best;
}
printf "| query | two-phase | rows gathered | gathered / two-phase | local copy |\n|---|---|---|---|---|\n";
for my $name (sort keys %q) {
    (my $two = $q{$name}) =~ s/%T/orders/;
    (my $gather = $q{$name}) =~ s/%T/(SELECT * FROM orders OFFSET 0) o/;
    (my $local = $q{$name}) =~ s/%T/loc.orders/;
    die "not two-phase: $two" unless on_node('coordinator', "EXPLAIN (VERBOSE) $two") =~ /worker_partial_agg/;
    die "not gathered: $gather" if on_node('coordinator', "EXPLAIN (VERBOSE) $gather") =~ /worker_partial_agg/;
    die "different results: $name" unless on_node('coordinator', "$two ORDER BY 1") eq on_node('coordinator', "$gather ORDER BY 1");
    my ($a, $b, $c) = (best($two), best($gather), best($local));
    printf "| %s | %.2f s | %.2f s | %.2f | %.2f s |\n", $name, $a, $b, $b / $a, $c;
}

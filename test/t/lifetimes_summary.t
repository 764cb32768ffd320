# The lifetimes-style summary (frequency, recency, T, monetary_value) against
# an independent pandas implementation of lifetimes'
# summary_data_from_transaction_data, and against the published CDNOW summary.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;
my $tmpdir = tmpdir();

my $db = new_database('cs_lifetimes');
my $root = project_root();
psql($db, "CREATE SCHEMA s; SELECT customer_segment.create_sample_store('s', 3000, 99);");

for my $case (['day', 'week', 7], ['day', 'day', 1], ['week', 'week', 7]) {
    my ($gran, $unit, $unit_days) = @$case;
    my $orders = psql($db, "SET TimeZone = 'UTC'; COPY (SELECT customer_id, ordered_at::date, amount FROM s.orders) TO STDOUT WITH CSV;");
    open my $fh, '>', "$tmpdir/cs_orders.$$.csv" or die;
    print $fh $orders;
    close $fh;
    my $ref = `/usr/bin/python3 '$root/test/t/lifetimes_reference.py' 2025-06-30 $gran $unit_days < $tmpdir/cs_orders.$$.csv`;
    unlink "$tmpdir/cs_orders.$$.csv";
    is($?, 0, "pandas reference ran ($gran/$unit)");
    my %expected = map { my @f = split /,/; ($f[0] => \@f) } grep { length } split /\n/, $ref;

    my @ours = psql_rows($db, "SET TimeZone = 'UTC';
        SELECT customer_id, (x).frequency, (x).recency, (x).t, (x).monetary_value FROM (
            SELECT customer_id, customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', '$gran', '$unit') x
              FROM s.orders GROUP BY 1) y
         WHERE (x).orders > 0 ORDER BY 1;");
    my ($bad, $n) = (0, 0);
    for my $row (@ours) {
        my $e = $expected{$row->[0]};
        $n++;
        if (!$e || $e->[1] != $row->[1] || abs($e->[2] - $row->[2]) > 1e-9
            || abs($e->[3] - $row->[3]) > 1e-9 || abs($e->[4] - $row->[4]) > 1e-6) {
            diag("customer $row->[0]: ours @$row[1..4], pandas " . ($e ? "@$e[1..4]" : 'missing')) if $bad++ < 5;
        }
    }
    cmp_ok($n, '>', 2000, "$n customers summarised ($gran/$unit)");
    is($n, scalar(keys %expected), "same customers as pandas ($gran/$unit)");
    is($bad, 0, "frequency, recency, T, monetary_value match pandas ($gran/$unit)");
}

SKIP: {
    my $data = shared_data();
    skip 'CDNOW data (../shared/data/cdnow) not present', 3
        unless $data && -f "$data/cdnow/cdnow_customers_summary.csv" && load_cdnow($db, 'cdnow');
    my %published;
    open my $fh, '<', "$data/cdnow/cdnow_customers_summary.csv" or die;
    <$fh>;
    while (<$fh>) { s/\r?\n$//; my @f = split /,/; $published{$f[0]} = \@f; }
    close $fh;

    # The 39-week calibration period ends 1997-09-30; day granularity, weeks.
    my @ours = psql_rows($db, "SELECT customer_id, (x).frequency, round((x).recency::numeric, 2), round((x).t::numeric, 2) FROM (
            SELECT customer_id, customer_segment.rfm_summary(day, dollars, DATE '1997-09-30', 'day', 'week') x
              FROM cdnow GROUP BY 1) y ORDER BY 1;");
    is(scalar(@ours), 2357, 'all 2,357 CDNOW sample customers summarised');
    my $bad = 0;
    for my $row (@ours) {
        my $p = $published{$row->[0]};
        if (!$p || $p->[1] != $row->[1] || $p->[2] != $row->[2] || $p->[3] != $row->[3]) {
            diag("CDNOW $row->[0]: ours @$row[1..3], published " . ($p ? "@$p[1..3]" : 'missing')) if $bad++ < 5;
        }
    }
    is($bad, 0, 'frequency, recency and T equal the published CDNOW calibration summary');
    my ($sum) = psql_rows($db, "SELECT sum((x).frequency) FROM (SELECT customer_segment.rfm_summary(day, dollars, DATE '1997-09-30', 'day', 'week') x FROM cdnow GROUP BY customer_id) y;");
    my $published_sum = 0;
    $published_sum += $_->[1] for values %published;
    is($sum->[0], $published_sum, "total repeat purchases $published_sum");
}

psql('postgres', "DROP DATABASE $db;");
done_testing();

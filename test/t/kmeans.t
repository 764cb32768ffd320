# k-means against scikit-learn (Debian's python3-sklearn, test only): on the same data, transform and k, our
# best inertia is within 0.5% of scikit-learn's best of 10 k-means++ inits; our assignments are the nearest
# centroids (scikit-learn's argmin, given our centroids); our silhouette equals sklearn.metrics'; our
# transform equals numpy's.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;
my $tmpdir = tmpdir();

my $root = project_root();
plan skip_all => 'python3-sklearn is not installed' if system('/usr/bin/python3 -c "import sklearn" 2>/dev/null') != 0;
my $py = "/usr/bin/python3 '$root/test/t/kmeans_reference.py'";
sub python {
    my ($args, $stdin) = @_;
    my $tmp = "$tmpdir/kmeans_ref.$$";
    open my $fh, '>', $tmp or die;
    print $fh $stdin;
    close $fh;
    my $out = `$py $args < $tmp`;
    die "python $args failed" if $? != 0;
    unlink $tmp;
    chomp $out;
    return $out;
}

my $db = new_database('cs_kmeans');
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 3000, 11);
    CREATE TABLE rfm AS SELECT customer_id, ARRAY[recency_days, orders, monetary_total]::float8[] AS f, orders::float8 AS w
      FROM customer_segment.rfm_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31')
     WHERE orders > 0 AND monetary_total > 0;
    CREATE TABLE blobs AS SELECT g AS customer_id,
        ARRAY[(g % 8) % 2 * 3 + customer_segment.sample_normal(g, 1), (g % 8) / 2 % 2 * 3 + customer_segment.sample_normal(g, 2),
              (g % 8) / 4 * 3 + customer_segment.sample_normal(g, 3), customer_segment.sample_normal(g, 4)]::float8[] AS f,
        1::float8 AS w FROM generate_series(1, 20000) g;});

for my $case (['rfm', 3, 'log1p+zscore', 0], ['rfm', 5, 'log1p+zscore', 0], ['rfm', 8, 'log1p+zscore', 0],
              ['rfm', 4, 'zscore', 1], ['blobs', 8, 'none', 0]) {
    my ($table, $k, $transform, $weighted) = @$case;
    my $w = $weighted ? 'w' : '1::float8';
    my $name = "$table, k = $k, $transform" . ($weighted ? ', weighted by orders' : '');
    my ($m) = psql_rows($db, qq{SELECT (m).inertia, array_to_string((m).centroids, ','), (m).converged
        FROM (SELECT customer_segment.kmeans_fit(f, $k, 42, '$transform', $w) AS m FROM $table) x;});
    my $rows = psql($db, qq{COPY (SELECT array_to_string(f, ','), $w FROM $table) TO STDOUT (FORMAT csv);});
    $rows =~ s/"//g;
    my $ref = python("fit $k '$transform' 0", $rows);
    my $ratio = $m->[0] / $ref;
    cmp_ok($ratio, '<=', 1.005, sprintf('%s: inertia %.6g, scikit-learn %.6g (ratio %.5f)', $name, $m->[0], $ref, $ratio));

    next if $weighted;
    my $assigned = psql($db, qq{WITH m AS (SELECT customer_segment.kmeans_fit(f, $k, 42, '$transform') AS m FROM $table)
        SELECT array_to_string(f, ',') || ',' || customer_segment.kmeans_assign(m, f) FROM $table, m;});
    my $centroids = join(',', @$m[1 .. $#$m - 1]);
    my ($mismatch, $ties, $sil) = split /,/, python("check '$transform' $k", "$centroids\n$assigned");
    is($mismatch, 0, "$name: every point goes to the centroid scikit-learn finds nearest ($ties near-ties)");
    next if $table ne 'rfm';
    my ($ours) = psql_rows($db, qq{SELECT silhouette, silhouette_points FROM unnest((SELECT customer_segment.kmeans_scan(f, $k, $k, 42, '$transform') FROM $table));});
    cmp_ok(abs($ours->[0] - $sil), '<', 1e-9, sprintf('%s: silhouette %.9f on all %d points, sklearn.metrics %.9f', $name, $ours->[0], $ours->[1], $sil));
}

psql('postgres', "DROP DATABASE $db;");
done_testing();

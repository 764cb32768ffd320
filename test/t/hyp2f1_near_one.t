# BG/NBD predictions at horizons where the hypergeometric argument z = t / (alpha + T + t) comes within
# 1e-12 of 1 agree with scipy to 1e-10 relative.  alpha + T = 1 and t = 2^k - 1 make z = 1 - 2^-k exact in
# binary, so both sides evaluate the same z; k runs to 40 (1 - z = 9.1e-13).  Before 1.4 the series
# behind these predictions stopped converging at z = 0.99999 (an error) and lost digits before that.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;
my $tmpdir = tmpdir();

my $root = project_root();
my $py = "/usr/bin/python3 '$root/test/t/btyd_reference.py'";
plan skip_all => 'python3-scipy is not installed' if system('/usr/bin/python3 -c "import scipy" 2>/dev/null') != 0;
sub python {
    my ($args, $stdin) = @_;
    open my $fh, '>', "$tmpdir/hyp2f1_near_one.$$" or die;
    print $fh $stdin // '';
    close $fh;
    my @rows = map { [ split /,/ ] } grep { length } split /\n/, `$py $args < $tmpdir/hyp2f1_near_one.$$`;
    die "python $args failed" if $? != 0;
    unlink "$tmpdir/hyp2f1_near_one.$$";
    return \@rows;
}

my $db = new_database('cs_hyp2f1_near_one');
my @histories = ([0, 0, 0.75], [1, 0.3, 0.75], [2, 0.5, 0.75], [5, 0.7, 0.75], [20, 0.75, 0.75]);
my $input = join('', map { join(',', @$_) . "\n" } @histories);
# (r, a, b): CDNOW's fit; a case whose c - a - b (= a - 1 - r - x) is an integer at x = 1; one within 3e-6
# of an integer at x = 1 (the interpolated case); larger shapes.
for my $m ([0.243, 0.793, 2.426], [0.5, 3.5, 1.2], [0.5, 2.5 + 3e-6, 0.8], [2.5, 3.7, 1.3], [8.0, 12.5, 40.0]) {
    my ($r, $a, $b) = @$m;
    my ($worst, $at, $n) = (0, '', 0);
    for my $k (4, 8, 12, 16, 17, 20, 24, 28, 32, 36, 40) {
        my $t = 2**$k - 1;
        my $ref = python("predict $r 0.25 $a $b $t", $input);
        my @ours = psql_rows($db, join(' UNION ALL ', map {
            "SELECT $_, customer_segment.bgnbd_expected_purchases(ROW($r, 0.25, $a, $b, 0, 0, 0, 0, true), $t, $histories[$_][0], $histories[$_][1], $histories[$_][2])"
        } 0 .. $#histories) . ' ORDER BY 1;');
        my $new_ref = python("new $r 1 $a $b $t")->[0][0];
        my ($new) = psql_rows($db, "SELECT customer_segment.bgnbd_expected_purchases_new(ROW($r, 1, $a, $b, 0, 0, 0, 0, true), $t);");
        for my $i (0 .. $#histories) {
            my $rel = abs($ours[$i][1] - $ref->[$i][1]) / abs($ref->[$i][1]);
            ($worst, $at) = ($rel, "k = $k, x = $histories[$i][0]") if $rel > $worst;
            $n++;
        }
        my $rel = abs($new->[0] - $new_ref) / abs($new_ref);
        ($worst, $at) = ($rel, "k = $k, new customer") if $rel > $worst;
        $n++;
    }
    cmp_ok($worst, '<', 1e-10, sprintf('r %g, a %.7g, b %g: %d expectations up to 1 - z = 2^-40 within %.1e of scipy (worst at %s)',
                                       $r, $a, $b, $n, $worst, $at));
}
psql('postgres', "DROP DATABASE $db;");
done_testing();

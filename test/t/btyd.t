# BG/NBD, Pareto/NBD and Gamma-Gamma against an independent scipy implementation, the
# published CDNOW estimates, and parameter recovery on simulated customers.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;
my $tmpdir = tmpdir();

my $root = project_root();
my $py = "/usr/bin/python3 '$root/test/t/btyd_reference.py'";
my $db = new_database('cs_btyd');

sub python {
    my ($args, $stdin) = @_;
    my $in = "$tmpdir/cs_btyd_in.$$";
    open my $fh, '>', $in or die;
    print $fh ($stdin // '');
    close $fh;
    my $out = `$py $args < $in`;
    die "python $args failed" if $? != 0;
    unlink $in;
    return [ map { [ split /,/ ] } grep { length } split /\n/, $out ];
}

sub rel_close {
    my ($got, $want, $tol) = @_;
    return abs($got - $want) <= $tol * (abs($want) > 1e-300 ? abs($want) : 1);
}

# ---- parameter recovery: 50,000 simulated customers from known parameters
my %true = (r => 0.25, alpha => 4.0, a => 0.8, b => 2.5);
my $sim = python("simulate 50000 7 $true{r} $true{alpha} $true{a} $true{b}");
psql($db, "CREATE TABLE sim (x float8, tx float8, t float8); \\copy sim FROM PSTDIN WITH CSV",
     join('', map { join(',', @$_) . "\n" } @$sim));
my ($fit) = psql_rows($db, 'SELECT (m).r, (m).alpha, (m).a, (m).b, (m).log_likelihood, (m).customers, (m).distinct_rows, (m).converged FROM (SELECT customer_segment.bgnbd_fit(x, tx, t) AS m FROM sim) s;');
is($fit->[5], 50000, '50,000 simulated customers fitted');
is($fit->[7], 't', 'the fit converged');
my %got = (r => $fit->[0], alpha => $fit->[1], a => $fit->[2], b => $fit->[3]);
for my $k (qw(r alpha a b)) {
    # Tolerances about three standard errors at this sample size.
    my $tol = { r => 0.08, alpha => 0.12, a => 0.2, b => 0.25 }->{$k};
    ok(rel_close($got{$k}, $true{$k}, $tol), sprintf('recovered %s = %.4f (true %s, tolerance %d%%)', $k, $got{$k}, $true{$k}, $tol * 100));
}
# The same data fitted by scipy: same optimum.
my $ref = python('fit', join('', map { join(',', @$_) . "\n" } @$sim))->[0];
ok(rel_close($fit->[4], $ref->[4], 1e-8), "log-likelihood $fit->[4] equals scipy's optimum $ref->[4]");
ok(rel_close($got{$_->[0]}, $ref->[$_->[1]], 1e-4), "$_->[0] equals scipy's to 1e-4") for ([r => 0], [alpha => 1], [a => 2], [b => 3]);

# Parallel plan: the same model.
my ($par) = psql_rows($db, q{SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
    SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;
    SELECT (m).r, (m).log_likelihood, (m).customers FROM (SELECT customer_segment.bgnbd_fit(x, tx, t) AS m FROM sim) s;});
ok(rel_close($par->[0], $fit->[0], 1e-6) && $par->[2] == 50000, 'parallel fit gives the same model');

# Per-customer log-likelihoods and predictions at fixed parameters against scipy, to 1e-8 relative.
my @rows = psql_rows($db, q{SELECT x, tx, t,
        customer_segment.bgnbd_loglik(ROW(0.243, 4.414, 0.793, 2.426, 0, 0, 0, 0, true), x, tx, t),
        customer_segment.bgnbd_p_alive(ROW(0.243, 4.414, 0.793, 2.426, 0, 0, 0, 0, true), x, tx, t),
        customer_segment.bgnbd_expected_purchases(ROW(0.243, 4.414, 0.793, 2.426, 0, 0, 0, 0, true), 39, x, tx, t)
      FROM sim ORDER BY x DESC, t LIMIT 3000;});
my $input = join('', map { "$_->[0],$_->[1],$_->[2]\n" } @rows);
my $ll = python('loglik 0.243 4.414 0.793 2.426', $input);
my $pred = python('predict 0.243 4.414 0.793 2.426 39', $input);
my ($bad_ll, $bad_pa, $bad_e) = (0, 0, 0);
for my $i (0 .. $#rows) {
    $bad_ll++ unless rel_close($rows[$i][3], $ll->[$i][0], 1e-8);
    $bad_pa++ unless rel_close($rows[$i][4], $pred->[$i][0], 1e-8);
    $bad_e++ unless rel_close($rows[$i][5], $pred->[$i][1], 1e-8);
}
is($bad_ll, 0, scalar(@rows) . ' log-likelihoods equal scipy to 1e-8');
is($bad_pa, 0, 'P(alive) equals scipy to 1e-8');
is($bad_e, 0, 'expected purchases (scipy hyp2f1) equal to 1e-8');
my $new = python('new 0.243 4.414 0.793 2.426 39');
my @ours_new = psql_rows($db, q{SELECT customer_segment.bgnbd_expected_purchases_new(ROW(0.243, 4.414, 0.793, 2.426, 0, 0, 0, 0, true), 39)
    UNION ALL SELECT customer_segment.bgnbd_probability_purchases(ROW(0.243, 4.414, 0.793, 2.426, 0, 0, 0, 0, true), 39, n)
      FROM generate_series(0, 5) n;});
my $bad_new = grep { !rel_close($ours_new[$_][0], $new->[$_][0], 1e-8) } 0 .. 6;
is($bad_new, 0, 'new-customer expectation and P(X(t) = n), n = 0..5, equal scipy to 1e-8');

# Pareto/NBD: log-likelihoods and predictions against scipy in both branches (alpha >= beta and alpha < beta).
for my $params ('0.55 10.58 0.61 11.67', '0.8 12.0 0.5 3.0') {
    my $row = join(', ', split(' ', $params));
    my @p = psql_rows($db, qq{SELECT x, tx, t,
            customer_segment.pareto_nbd_loglik(ROW($row, 0, 0, 0, 0, true), x, tx, t),
            customer_segment.pareto_nbd_p_alive(ROW($row, 0, 0, 0, 0, true), x, tx, t),
            customer_segment.pareto_nbd_expected_purchases(ROW($row, 0, 0, 0, 0, true), 39, x, tx, t)
          FROM sim ORDER BY x DESC, t LIMIT 2000;});
    my $in = join('', map { "$_->[0],$_->[1],$_->[2]\n" } @p);
    my $pll = python("pnbdloglik $params", $in);
    my $ppr = python("pnbdpredict $params 39", $in);
    my $bad = 0;
    for my $i (0 .. $#p) {
        $bad++ unless rel_close($p[$i][3], $pll->[$i][0], 1e-8) && rel_close($p[$i][4], $ppr->[$i][0], 1e-8)
                      && rel_close($p[$i][5], $ppr->[$i][1], 1e-8);
    }
    is($bad, 0, "Pareto/NBD log-likelihood, P(alive) and expectation equal scipy to 1e-8 (r alpha s beta = $params)");

    # P(n purchases in 39 units | history) against the model's definition integrated numerically by scipy.
    my @hist = ([2, 30.43, 38.86], [0, 0, 0], [0, 0, 20], [7, 35.1, 36.2]);
    my $hin = join('', map { join(',', @$_) . "\n" } @hist);
    for my $n (0, 2) {
        my $want = python("pnbdpmf $params 39 $n", $hin);
        my @got = map { (psql_rows($db, "SELECT customer_segment.pareto_nbd_probability_purchases(ROW($row, 0, 0, 0, 0, true), 39, $n, $_->[0], $_->[1], $_->[2])"))[0][0] } @hist;
        is(scalar(grep { abs($got[$_] - $want->[$_][0]) > 1e-8 } 0 .. $#hist), 0,
           "Pareto/NBD P(X = $n | history) equals the integral of its definition to 1e-8 for 4 histories ($params)");
    }
    # Over n, the PMF sums to 1 and its mean is the closed-form expectation; with no history it is the new customer's.
    my ($pm) = psql_rows($db, qq{WITH m AS (SELECT ROW($row, 0, 0, 0, 0, true)::customer_segment.pareto_nbd_model AS m),
        h AS (SELECT x, x * 4.1 % 38 AS tx, 38.5 AS t FROM generate_series(0, 12, 3) x),
        s AS (SELECT h.x, h.tx, h.t, sum(p) AS total, sum(n * p) AS mean,
                     customer_segment.pareto_nbd_expected_purchases(m, 39, h.x, h.tx, h.t) AS expected
                FROM h, m, generate_series(0, 600) n,
                     LATERAL (SELECT customer_segment.pareto_nbd_probability_purchases(m, 39, n, h.x, h.tx, h.t) AS p) q
               GROUP BY h.x, h.tx, h.t, m.m)
        SELECT max(abs(total - 1)), max(abs(mean - expected) / expected),
               (SELECT abs(sum(n * customer_segment.pareto_nbd_probability_purchases(m, 39, n))
                           / customer_segment.pareto_nbd_expected_purchases_new(m, 39) - 1)
                  FROM m, generate_series(0, 600) n GROUP BY m.m)
          FROM s;});
    ok($pm->[0] < 1e-9 && $pm->[1] < 1e-9 && $pm->[2] < 1e-9,
       "Pareto/NBD PMF sums to 1 (off by $pm->[0]) with the closed-form mean (rel. $pm->[1]; new customers $pm->[2])");
}

# Pareto/NBD at s = 1: the expectations take their limit, continuous with s = 1 +- 1e-7.
my ($s1) = psql_rows($db, q{SELECT max(abs(e1 - e0) / e0) FILTER (WHERE k = 0), max(abs(e1 - e0) / e0) FILTER (WHERE k = 1),
        min(e0) FROM (
    SELECT k, customer_segment.pareto_nbd_expected_purchases(ROW(0.55, 10.6, 1, 11.7, 0, 0, 0, 0, true), 39, 2, 30, 38) AS e0,
              customer_segment.pareto_nbd_expected_purchases(ROW(0.55, 10.6, 1 + (2 * k - 1) * 1e-7, 11.7, 0, 0, 0, 0, true), 39, 2, 30, 38) AS e1
      FROM generate_series(0, 1) k
    UNION ALL
    SELECT 2, customer_segment.pareto_nbd_expected_purchases_new(ROW(0.55, 10.6, 1, 11.7, 0, 0, 0, 0, true), 39),
           0.55 * 11.7 / 10.6 * ln(1 + 39 / 11.7)) x;});
ok($s1->[0] < 1e-6 && $s1->[1] < 1e-6 && $s1->[2] > 0, "Pareto/NBD expectation at s = 1 is the limit of s -> 1 from both sides ($s1->[0], $s1->[1])");
my ($s1new) = psql_rows($db, q{SELECT customer_segment.pareto_nbd_expected_purchases_new(ROW(0.55, 10.6, 1, 11.7, 0, 0, 0, 0, true), 39) / (0.55 * 11.7 / 10.6 * ln(1 + 39 / 11.7)) - 1});
ok(abs($s1new->[0]) < 1e-12, 'new-customer expectation at s = 1 is r beta / alpha ln(1 + t / beta)');

# Pareto/NBD CLV is the month-by-month discounted sum of expected purchases, written here in plain SQL.
my ($clv) = psql_rows($db, q{WITH m AS (SELECT ROW(0.55, 10.58, 0.61, 11.67, 0, 0, 0, 0, true)::customer_segment.pareto_nbd_model AS m),
    h AS (SELECT x, x * 3.3 % 38 AS tx, 38.5 AS t FROM generate_series(0, 20, 4) x)
    SELECT max(abs(customer_segment.pareto_nbd_clv(m, h.x, h.tx, h.t, 42.5, 24, 0.02, 4.345, 0.3)
                   / (SELECT sum(42.5 * 0.3 * (customer_segment.pareto_nbd_expected_purchases(m, i * 4.345, h.x, h.tx, h.t)
                                               - customer_segment.pareto_nbd_expected_purchases(m, (i - 1) * 4.345, h.x, h.tx, h.t))
                                 / 1.02 ^ i) FROM generate_series(1, 24) i) - 1))
      FROM h, m;});
ok($clv->[0] < 1e-12, "pareto_nbd_clv equals the plain-SQL discounted sum (max rel. diff $clv->[0])");

SKIP: {
    skip 'CDNOW data (../shared/data/cdnow) not present', 11 unless load_cdnow($db, 'cdnow');
    psql($db, q{CREATE TABLE cal AS SELECT customer_id, (customer_segment.rfm_summary(day, dollars, DATE '1997-09-30', 'day', 'week')).*
                  FROM cdnow GROUP BY 1;});
    my ($m) = psql_rows($db, q{SELECT (m).r, (m).alpha, (m).a, (m).b, (m).log_likelihood, (m).customers, (m).distinct_rows
        FROM (SELECT customer_segment.bgnbd_fit(frequency, recency, t) AS m FROM cal) s;});
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4.
    ok(abs($m->[0] - 0.243) < 0.0006 && abs($m->[1] - 4.414) < 0.0006 && abs($m->[2] - 0.793) < 0.0006
       && abs($m->[3] - 2.426) < 0.0006, sprintf('CDNOW BG/NBD r %.4f alpha %.4f a %.4f b %.4f as published', @$m[0 .. 3]));
    ok(abs($m->[4] - -9582.4) < 0.05, sprintf('CDNOW log-likelihood %.2f as published (-9582.4)', $m->[4]));
    cmp_ok($m->[6], '<', $m->[5], "state compressed to $m->[6] distinct triples for $m->[5] customers");
    my @cal = psql_rows($db, 'SELECT frequency, recency, t FROM cal');
    my $sref = python('fit', join('', map { join(',', @$_) . "\n" } @cal))->[0];
    ok(rel_close($m->[4], $sref->[4], 1e-9) && rel_close($m->[0], $sref->[0], 1e-5),
       'CDNOW fit equals the scipy reference fit');

    # Pareto/NBD, Fader, Hardie & Lee (2005): r = 0.55, alpha = 10.58, s = 0.61, beta = 11.67, LL = -9595.0.
    my ($pn) = psql_rows($db, q{SELECT (m).r, (m).alpha, (m).s, (m).beta, (m).log_likelihood, (m).converged
        FROM (SELECT customer_segment.pareto_nbd_fit(frequency, recency, t) AS m FROM cal) s;});
    ok(abs($pn->[0] - 0.55) < 0.005 && abs($pn->[1] - 10.58) < 0.005 && abs($pn->[2] - 0.61) < 0.005
       && abs($pn->[3] - 11.67) < 0.005 && abs($pn->[4] - -9595.0) < 0.05,
       sprintf('CDNOW Pareto/NBD r %.3f alpha %.3f s %.3f beta %.3f LL %.2f as published', @$pn[0 .. 4]));
    my $pref = python('pnbdfit', join('', map { join(',', @$_) . "\n" } @cal))->[0];
    ok(rel_close($pn->[4], $pref->[4], 1e-8) && rel_close($pn->[0], $pref->[0], 1e-4),
       "CDNOW Pareto/NBD fit equals the scipy reference fit (LL $pref->[4])");

    # Gamma-Gamma on repeat customers' mean spend: lifetimes documents p 6.25, q 3.74, gamma 15.44.
    my ($g) = psql_rows($db, q{SELECT (m).p, (m).q, (m).gamma, (m).log_likelihood, (m).customers
        FROM (SELECT customer_segment.gamma_gamma_fit(frequency, monetary_value) AS m FROM cal) s;});
    ok(abs($g->[0] - 6.25) < 0.01 && abs($g->[1] - 3.74) < 0.01 && abs($g->[2] - 15.44) < 0.02,
       sprintf('CDNOW Gamma-Gamma p %.3f q %.3f gamma %.3f (%d repeat customers)', @$g[0 .. 2], $g->[4]));
    my @rep = psql_rows($db, 'SELECT frequency, monetary_value FROM cal WHERE frequency > 0');
    my $gref = python('ggfit', join('', map { join(',', @$_) . "\n" } @rep))->[0];
    ok(rel_close($g->[3], $gref->[3], 1e-9) && rel_close($g->[0], $gref->[0], 1e-4), 'Gamma-Gamma fit equals the scipy reference');
    my @ggl = psql_rows($db, q{SELECT frequency, monetary_value, customer_segment.gamma_gamma_loglik(ROW(6.25, 3.74, 15.44, 0, 0, 0, 0, true), frequency, monetary_value)
        FROM cal WHERE frequency > 0 ORDER BY customer_id;});
    my $ggref = python('ggloglik 6.25 3.74 15.44', join('', map { "$_->[0],$_->[1]\n" } @ggl));
    is(scalar(grep { !rel_close($ggl[$_][2], $ggref->[$_][0], 1e-8) } 0 .. $#ggl), 0, 'Gamma-Gamma log-likelihoods equal scipy to 1e-8');

    # Holdout: expected purchases in the 39 weeks after calibration vs what the customers bought.
    my ($h) = psql_rows($db, q{WITH m AS (SELECT customer_segment.bgnbd_fit(frequency, recency, t) AS m FROM cal),
        actual AS (SELECT customer_id, count(DISTINCT day) AS n FROM cdnow WHERE day > DATE '1997-09-30' GROUP BY 1)
        SELECT sum(customer_segment.bgnbd_expected_purchases(m.m, 39, frequency, recency, t)), sum(coalesce(a.n, 0))
          FROM cal CROSS JOIN m LEFT JOIN actual a USING (customer_id);});
    ok(abs($h->[0] - $h->[1]) / $h->[1] < 0.15, sprintf('holdout: %.0f purchase days expected, %d made (within 15%%)', @$h));
    my ($pa) = psql_rows($db, q{WITH m AS (SELECT customer_segment.bgnbd_fit(frequency, recency, t) AS m FROM cal)
        SELECT count(*) FILTER (WHERE p < 0 OR p > 1 OR p <> p) FROM (SELECT customer_segment.bgnbd_p_alive(m.m, frequency, recency, t) p FROM cal, m) x;});
    is($pa->[0], 0, 'every P(alive) is a probability');
}

psql('postgres', "DROP DATABASE $db;");
done_testing();

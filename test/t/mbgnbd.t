# MBG/NBD against an independent scipy implementation (btyd_reference.py: the likelihood, predictions and
# P(n) as Batislam, Denizel & Filiztekin 2007 and lifetimes' ModifiedBetaGeoFitter write them, fitted by
# scipy.optimize): on the sample store's calibration summary and, when ../shared/data is there, on CDNOW.
use strict;
use warnings;
use Test::More;
use List::Util qw(max sum);
use lib 't/lib', 'test/t/lib';
use CsTest;

my $root = project_root();
plan skip_all => 'python3-scipy is not installed' if system('/usr/bin/python3 -c "import scipy" 2>/dev/null') != 0;
sub reference { my ($args, $stdin) = @_; return python_rows("$root/test/t/btyd_reference.py $args", $stdin); }

my $db = new_database('cs_mbgnbd');
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 2000, 5);
    CREATE TABLE cal AS SELECT customer_id, (customer_segment.rfm_summary(ordered_at, amount, DATE '2024-12-31', 'day', 'week', 'UTC')).*
      FROM shop.orders GROUP BY 1;
    DELETE FROM cal WHERE coalesce(orders, 0) = 0;});
my @sets = (['the sample store', 'cal']);
if (load_cdnow($db, 'cdnow')) {
    psql($db, q{CREATE TABLE cdnow_cal AS SELECT customer_id, (customer_segment.rfm_summary(day, dollars, DATE '1997-09-30', 'day', 'week')).*
                  FROM cdnow GROUP BY 1;
                DELETE FROM cdnow_cal WHERE coalesce(orders, 0) = 0;});
    push @sets, ['CDNOW', 'cdnow_cal'];
} else {
    diag('CDNOW data (../shared/data/cdnow) not present: the sample store only');
}

for my $set (@sets) {
    my ($name, $table) = @$set;
    my $rows = psql($db, qq{COPY (SELECT frequency, recency, t FROM $table ORDER BY customer_id) TO STDOUT (FORMAT csv);});
    my ($fit) = psql_rows($db, qq{SELECT (m).r, (m).alpha, (m).a, (m).b, (m).log_likelihood, (m).converged, (m).customers
        FROM (SELECT customer_segment.mbgnbd_fit(frequency, recency, t) AS m FROM $table) x;});
    my ($sp) = reference('mbgfit', $rows);
    is($fit->[5], 't', "$name: the MBG/NBD fit converged ($fit->[6] customers)");
    cmp_ok(worst_relative([@$fit[0 .. 3]], [@$sp[0 .. 3]], 0), '<', 1e-4,
           sprintf('... r %.4f, alpha %.4f, a %.4f, b %.4f: scipy.optimize\'s maximum (%.4f, %.4f, %.4f, %.4f)', @$fit[0 .. 3], @$sp[0 .. 3]));
    cmp_ok($fit->[4] - $sp->[4], '>', -1e-6, sprintf('... log-likelihood %.4f, at least scipy\'s %.4f', $fit->[4], $sp->[4]));

    # Per customer at our estimates: the log-likelihood, P(alive), expectations and P(n | history).
    my @ll = map { $_->[0] } psql_rows($db, qq{WITH m AS (SELECT customer_segment.mbgnbd_fit(frequency, recency, t) AS m FROM $table)
        SELECT customer_segment.mbgnbd_loglik(m.m, frequency, recency, t) FROM $table, m ORDER BY customer_id;});
    my @llr = map { $_->[0] } reference("mbgloglik @$fit[0 .. 3]", $rows);
    cmp_ok(worst_relative(\@ll, \@llr, 1), '<', 1e-10, "... every customer's log-likelihood is scipy's (" . scalar(@ll) . ' customers)');
    is(sprintf('%.6f', sum(@ll)), sprintf('%.6f', $fit->[4]), '... and they add up to the fit\'s');
    for my $n (0, 2) {
        my @ours = psql_rows($db, qq{WITH m AS (SELECT customer_segment.mbgnbd_fit(frequency, recency, t) AS m FROM $table)
            SELECT customer_segment.mbgnbd_p_alive(m.m, frequency, recency, t), customer_segment.mbgnbd_expected_purchases(m.m, 39, frequency, recency, t),
                   customer_segment.mbgnbd_probability_purchases(m.m, 39, $n, frequency, recency, t)
              FROM $table, m ORDER BY customer_id;});
        my @ref = reference("mbgpredict @$fit[0 .. 3] 39 $n", $rows);
        my $w = max(map { my $i = $_; worst_relative($ours[$i], $ref[$i], 1e-12) } 0 .. $#ref);
        cmp_ok($w, '<', 1e-9, sprintf('... P(alive), expected purchases in 39 weeks and P(%d in 39 weeks | history) are scipy\'s (worst %.1e)', $n, $w));
    }
    my ($alive0) = psql_rows($db, qq{WITH m AS (SELECT customer_segment.mbgnbd_fit(frequency, recency, t) AS m FROM $table)
        SELECT max(customer_segment.mbgnbd_p_alive(m.m, 0, 0, t)) FROM $table, m WHERE frequency = 0;});
    cmp_ok($alive0->[0], '<', 1, "... a customer without a repeat purchase may have dropped out (P(alive) up to $alive0->[0])");

    # A new customer: expectation and P(n), n = 0..5, and they are one distribution with that mean.
    my ($new) = psql_rows($db, qq{WITH m AS (SELECT customer_segment.mbgnbd_fit(frequency, recency, t) AS m FROM $table)
        SELECT customer_segment.mbgnbd_expected_purchases_new(m.m, 52), (SELECT array_to_string(array_agg(customer_segment.mbgnbd_probability_purchases(m.m, 52, n) ORDER BY n), ' ')
                                                                          FROM generate_series(0, 5) n),
               (SELECT sum(customer_segment.mbgnbd_probability_purchases(m.m, 52, n)) FROM generate_series(0, 400) n),
               (SELECT sum(n * customer_segment.mbgnbd_probability_purchases(m.m, 52, n)) FROM generate_series(0, 400) n),
               customer_segment.mbgnbd_expected_purchases(m.m, 52, 0, 0, 0)
          FROM m;});
    my @nref = map { $_->[0] } reference("mbgnew @$fit[0 .. 3] 52");
    cmp_ok(worst_relative([$new->[0], split / /, $new->[1]], \@nref, 1e-15), '<', 1e-10,
           sprintf('... a new customer: %.4f purchases expected in 52 weeks and P(0..5) as lifetimes writes them', $new->[0]));
    ok(abs($new->[2] - 1) < 1e-9 && abs($new->[3] - $new->[0]) < 1e-7 * $new->[0] && abs($new->[4] - $new->[0]) < 1e-12 * $new->[0],
       sprintf('... P(n) sums to 1 (%.12f) with mean the expectation (%.8f), which is the history (0, 0, 0)\'s', $new->[2], $new->[3]));

    # Uncertainty: the inverse of scipy's numerical Hessian.
    my ($u) = psql_rows($db, qq{SELECT array_to_string((u).standard_error, ' '), array_to_string((u).estimate, ' '), array_to_string((u).parameter, ' ')
        FROM (SELECT customer_segment.mbgnbd_fit_uncertainty(frequency, recency, t) AS u FROM $table) x;});
    my ($se_ref) = reference("hessian mbgnbd $u->[1]", $rows);
    is($u->[2], 'r alpha a b', '... uncertainty of r, alpha, a, b');
    cmp_ok(worst_relative([split / /, $u->[0]], $se_ref, 0), '<', 1e-4, "... standard errors $u->[0] are scipy's numerical Hessian's");
}

# CLV: the discounted sum of monthly expected purchases; btyd_analyze with model => 'mbgnbd'.
my ($clv) = psql_rows($db, q{WITH m AS (SELECT customer_segment.mbgnbd_fit(frequency, recency, t) AS m FROM cal),
         c AS (SELECT customer_id, frequency, recency, t FROM cal ORDER BY customer_id LIMIT 50)
    SELECT max(abs(customer_segment.mbgnbd_clv(m.m, c.frequency, c.recency, c.t, 40, 12, 0.01, 4.345, 0.3)
                   - (SELECT sum(40 * 0.3 * (customer_segment.mbgnbd_expected_purchases(m.m, i * 4.345, c.frequency, c.recency, c.t)
                                             - customer_segment.mbgnbd_expected_purchases(m.m, (i - 1) * 4.345, c.frequency, c.recency, c.t))
                                  / 1.01 ^ i) FROM generate_series(1, 12) i)))
      FROM c, m;});
cmp_ok($clv->[0], '<', 1e-9, 'mbgnbd_clv is the discounted sum of monthly expected purchases');
my ($ba) = psql_rows($db, q{WITH a AS (SELECT * FROM customer_segment.btyd_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount',
                                             DATE '2024-12-31', 52, 'week', zone => 'UTC', model => 'mbgnbd')),
         m AS (SELECT customer_segment.mbgnbd_fit(frequency, recency, t) AS mb FROM cal)
    SELECT count(*), count(*) FILTER (WHERE abs(a.p_alive - customer_segment.mbgnbd_p_alive(m.mb, c.frequency, c.recency, c.t)) < 1e-12
                                        AND abs(a.expected_purchases - customer_segment.mbgnbd_expected_purchases(m.mb, 52, c.frequency, c.recency, c.t)) < 1e-9
                                        AND a.clv IS NOT NULL)
      FROM a JOIN cal c ON c.customer_id::text = a.customer_id, m;});
ok($ba->[0] > 1000 && $ba->[0] == $ba->[1], "btyd_analyze(model => 'mbgnbd'): the MBG/NBD predictions for all $ba->[0] customers");

done_testing();

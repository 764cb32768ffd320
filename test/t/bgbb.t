# BG/BB against the published donations fit (Fader, Hardie & Shang 2010) and an independent scipy
# implementation (btyd_reference.py: the likelihood summed term by term, fitted by scipy.optimize; predictions
# in the closed forms lifetimes uses, with 1/(gamma - 1) and scipy's 2F1); bgbb_summary against pandas.
use strict;
use warnings;
use Test::More;
use List::Util qw(max sum);
use lib 't/lib', 'test/t/lib';
use CsTest;
my $tmpdir = tmpdir();

my $root = project_root();
plan skip_all => 'python3-scipy and python3-pandas are not installed'
    if system('/usr/bin/python3 -c "import scipy, pandas" 2>/dev/null') != 0;

my $db = new_database('cs_bgbb');
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 1500, 3);});

# Histories from orders: monthly opportunities of the sample store, and pandas' count of the same.
my @ours = psql_rows($db, q{SELECT customer_id, frequency, recency, n_periods, first_period FROM customer_segment.bgbb_summary(
    'shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-11-20', 'month', 'UTC') ORDER BY customer_id::int;});
my $orders = psql($db, q{COPY (SELECT customer_id, (ordered_at AT TIME ZONE 'UTC')::date, amount FROM shop.orders) TO STDOUT (FORMAT csv);});
my $pandas = <<'PY';
import sys
import pandas as pd
o = pd.read_csv(sys.stdin, names=["customer_id", "day", "amount"], parse_dates=["day"])
o = o[(o.amount >= 0) & (o.day < pd.Timestamp("2025-11-01"))]          # October 2025 is the last complete month
o["k"] = o.day.dt.year * 12 + o.day.dt.month - 1
last = 2025 * 12 + 10 - 1
for cid, g in sorted(o.groupby("customer_id")):
    ks = sorted(set(g.k))
    later = [k - ks[0] for k in ks[1:]]
    print(f"{cid},{len(later)},{max(later) if later else 0},{last - ks[0]},{g.day.min().strftime('%Y-%m')}-01")
PY
open my $ph, '>', "$tmpdir/bgbb_summary.$$.py" or die;
print $ph $pandas;
close $ph;
my @ref = python_rows("$tmpdir/bgbb_summary.$$.py", $orders);
unlink "$tmpdir/bgbb_summary.$$.py";
is_deeply([map { join ',', @$_ } @ours], [map { join ',', @$_ } @ref],
          'bgbb_summary: every customer\'s (frequency, recency, n_periods, first period) in complete months equals pandas\' (' . scalar(@ref) . ' customers)');
my ($week) = psql_rows($db, q{SELECT count(*), count(*) FILTER (WHERE recency > n_periods OR frequency > recency OR (frequency = 0) <> (recency = 0))
    FROM customer_segment.bgbb_summary('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-11-23', 'week', 'UTC');});
is($week->[1], 0, "... weekly histories of $week->[0] customers are valid BG/BB histories");

my @pn = psql_rows($db, q{SELECT customer_segment.period_number(d, p) FROM (VALUES
    (DATE '1969-12-28', 'week'), (DATE '1969-12-29', 'week'), (DATE '1970-01-04', 'week'), (DATE '1970-01-05', 'week'), (DATE '2025-11-23', 'week'),
    (DATE '2025-04-01', 'quarter'), (DATE '2025-03-31', 'quarter'), (DATE '2025-12-31', 'month'), (DATE '1969-12-31', 'day'), (DATE '2001-06-30', 'year')) v(d, p);});
is_deeply([map { $_->[0] } @pn], [-2, -1, -1, 0, 2915, 8101, 8100, 24311, -1, 2001],
          'period_number: Monday-to-Sunday weeks from 1970-01-05 (also before it), quarters, months, days, years');

# The donations data (or, without ../shared/data, the sample store's monthly histories).
my $data = shared_data();
my ($name, $table);
if ($data && -f "$data/donations/donations.csv") {
    open my $fh, '<', "$data/donations/donations.csv" or die;
    my $csv = join('', grep { !/^frequency/ } <$fh>);
    close $fh;
    psql($db, "CREATE TABLE donations (frequency int, recency int, periods int, weights int); \\copy donations FROM PSTDIN WITH CSV", $csv);
    ($name, $table) = ('donations', 'donations');
} else {
    diag('donations data (../shared/data/donations) not present: the sample store\'s histories instead');
    psql($db, q{CREATE TABLE hist AS SELECT frequency, recency, n_periods AS periods, 1 AS weights FROM customer_segment.bgbb_summary(
        'shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-11-20', 'month', 'UTC');});
    ($name, $table) = ('the sample store', 'hist');
}
my $rows = psql($db, qq{COPY (SELECT frequency, recency, periods, weights FROM $table) TO STDOUT (FORMAT csv);});
my ($fit) = psql_rows($db, qq{SELECT (m).alpha, (m).beta, (m).gamma, (m).delta, (m).log_likelihood, (m).customers, (m).distinct_rows, (m).converged
    FROM (SELECT customer_segment.bgbb_fit(frequency, recency, periods, weights) AS m FROM $table) x;});
my ($sp) = python_rows("$root/test/t/btyd_reference.py bgbbfit", $rows);
is($fit->[7], 't', "$name: the BG/BB fit converged ($fit->[5] customers, $fit->[6] distinct histories)");
cmp_ok(worst_relative([@$fit[0 .. 3]], [@$sp[0 .. 3]], 0), '<', 1e-4,
       sprintf('... alpha %.4f, beta %.4f, gamma %.4f, delta %.4f: scipy.optimize\'s maximum (%.4f, %.4f, %.4f, %.4f)', @$fit[0 .. 3], @$sp[0 .. 3]));
cmp_ok($fit->[4] - $sp->[4], '>', -1e-6, sprintf('... log-likelihood %.4f, at least scipy\'s %.4f', $fit->[4], $sp->[4]));
if ($name eq 'donations') {
    is(sprintf('%.3f %.3f %.3f %.3f %.1f', @$fit[0 .. 4]), '1.204 0.750 0.657 2.783 -33225.6',
       '... the estimates and log-likelihood published by Fader, Hardie & Shang (2010)');
    my ($expanded) = psql_rows($db, q{SELECT (m).alpha, (m).beta, (m).gamma, (m).delta, (m).customers FROM (SELECT customer_segment.bgbb_fit(frequency, recency, periods) AS m
        FROM donations, generate_series(1, weights)) x;});
    is(join(' ', @$expanded), join(' ', @$fit[0 .. 3], $fit->[5]), '... and the same fit from the 11,104 donors one row each');
}

# Per history: log-likelihood, P(alive), expected transactions in the next 5 opportunities, DERT at 10%.
my @hist = psql_rows($db, qq{WITH m AS (SELECT customer_segment.bgbb_fit(frequency, recency, periods, weights) AS m FROM $table),
         h AS (SELECT DISTINCT frequency, recency, periods FROM $table)
    SELECT h.frequency, h.recency, h.periods, customer_segment.bgbb_loglik(m.m, h.frequency, h.recency, h.periods),
           customer_segment.bgbb_p_alive(m.m, h.frequency, h.recency, h.periods),
           customer_segment.bgbb_expected_purchases(m.m, 5, h.frequency, h.recency, h.periods),
           customer_segment.bgbb_dert(m.m, 0.1, h.frequency, h.recency, h.periods)
      FROM h, m ORDER BY 1, 2, 3;});
my @pr = python_rows("$root/test/t/btyd_reference.py bgbbpredict @$fit[0 .. 3] 5 0.1", join('', map { "$_->[0],$_->[1],$_->[2]\n" } @hist));
my $w = max(map { my $i = $_; worst_relative([@{ $hist[$i] }[3 .. 6]], $pr[$i], 1e-12) } 0 .. $#pr);
cmp_ok($w, '<', 1e-9, sprintf('... log-likelihood, P(alive), expected transactions in 5 opportunities and DERT at 10%% of %d histories are scipy\'s closed forms (worst %.1e)',
                              scalar(@hist), $w));
my $total = sum(map { $_->[0] * $_->[1] } psql_rows($db, qq{WITH m AS (SELECT customer_segment.bgbb_fit(frequency, recency, periods, weights) AS m FROM $table)
    SELECT weights, customer_segment.bgbb_loglik(m.m, frequency, recency, periods) FROM $table, m;}));
cmp_ok(abs($total - $fit->[4]), '<', 1e-6 * abs($fit->[4]), '... the histories\' log-likelihoods times their weights add up to the fit\'s');

# A new customer: P(X(6) = x), x = 0..6, and the expectation.
my ($new) = psql_rows($db, qq{WITH m AS (SELECT customer_segment.bgbb_fit(frequency, recency, periods, weights) AS m FROM $table)
    SELECT customer_segment.bgbb_expected_purchases_new(m.m, 6),
           (SELECT array_to_string(array_agg(customer_segment.bgbb_probability_purchases(m.m, 6, x) ORDER BY x), ' ') FROM generate_series(0, 6) x),
           (SELECT sum(x * customer_segment.bgbb_probability_purchases(m.m, 6, x)) FROM generate_series(0, 6) x),
           customer_segment.bgbb_probability_purchases(m.m, 6, 7)
      FROM m;});
my @nref = map { $_->[0] } python_rows("$root/test/t/btyd_reference.py bgbbnew @$fit[0 .. 3] 6");
my @pmf = split / /, $new->[1];
cmp_ok(worst_relative([$new->[0], @pmf], \@nref, 1e-15), '<', 1e-10,
       sprintf('... a new customer: %.4f transactions expected in 6 opportunities and P(X(6) = 0..6) are scipy\'s (eq. 7)', $new->[0]));
ok(abs(sum(@pmf) - 1) < 1e-12 && abs($new->[2] - $new->[0]) < 1e-12 && $new->[3] == 0,
   sprintf('... P(X(6) = x) sums to 1 (%.15f), has the expectation as its mean, and is 0 for x > 6', sum(@pmf)));
my ($dert) = psql_rows($db, qq{WITH m AS (SELECT customer_segment.bgbb_fit(frequency, recency, periods, weights) AS m FROM $table)
    SELECT customer_segment.bgbb_dert(m.m, 0.1, 3, 5, 6),
           (SELECT sum((customer_segment.bgbb_expected_purchases(m.m, k, 3, 5, 6) - customer_segment.bgbb_expected_purchases(m.m, k - 1, 3, 5, 6)) / 1.1 ^ k)
              FROM generate_series(1, 2000) k) FROM m;});
cmp_ok(abs($dert->[0] - $dert->[1]) / $dert->[1], '<', 1e-10, "... DERT ($dert->[0]) is the discounted sum of the expected transactions of each future opportunity");

# P(n in the next 5 | history) for every history: a distribution (sums to 1) whose mean is the expected
# transactions (a separate formula), equal to scipy's by direct enumeration of (gone before n + 1, gone at the
# start of opportunity n + i + 1, alive through n + 5) over the posterior.
my @cp = psql_rows($db, qq{WITH m AS (SELECT customer_segment.bgbb_fit(frequency, recency, periods, weights) AS m FROM $table),
         h AS (SELECT DISTINCT frequency, recency, periods FROM $table)
    SELECT h.frequency, h.recency, h.periods,
           (SELECT sum(customer_segment.bgbb_probability_purchases(m.m, 5, k, h.frequency, h.recency, h.periods)) FROM generate_series(0, 5) k),
           (SELECT sum(k * customer_segment.bgbb_probability_purchases(m.m, 5, k, h.frequency, h.recency, h.periods)) FROM generate_series(0, 5) k),
           customer_segment.bgbb_expected_purchases(m.m, 5, h.frequency, h.recency, h.periods),
           customer_segment.bgbb_probability_purchases(m.m, 5, 0, h.frequency, h.recency, h.periods),
           customer_segment.bgbb_probability_purchases(m.m, 5, 2, h.frequency, h.recency, h.periods)
      FROM h, m ORDER BY 1, 2, 3;});
my $wsum = max(map { abs($_->[3] - 1) } @cp);
my $wmean = max(map { abs($_->[4] - $_->[5]) / $_->[5] } @cp);
my @cref = python_rows("$root/test/t/btyd_reference.py bgbbcond @$fit[0 .. 3] 5", join('', map { "$_->[0],$_->[1],$_->[2]\n" } @cp));
my $wcond = max(map { my $i = $_; abs($cp[$i][6] - $cref[$i][0]) / $cref[$i][0], abs($cp[$i][7] - $cref[$i][2]) / $cref[$i][2] } 0 .. $#cp);
ok($wsum < 1e-12 && $wmean < 1e-10 && $wcond < 1e-10,
   sprintf('P(n in the next 5 | history) of %d histories: sums to 1 (worst %.1e), mean = expected transactions (%.1e), P(0) and P(2) = scipy\'s enumeration (%.1e)',
           scalar(@cp), $wsum, $wmean, $wcond));

# CLV and btyd_analyze(model => 'bgbb'): a month is one opportunity, the spend is btyd_predict's Gamma-Gamma rule.
my ($ba) = psql_rows($db, q{WITH a AS (SELECT * FROM customer_segment.btyd_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount',
                                             DATE '2024-12-31', 6, 'month', margin => 0.3, zone => 'UTC', model => 'bgbb')),
         h AS (SELECT * FROM customer_segment.bgbb_summary('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2024-12-31', 'month', 'UTC')),
         m AS (SELECT customer_segment.bgbb_fit(frequency, recency, n_periods) AS bb FROM h)
    SELECT count(*), count(h.customer_id),
           count(*) FILTER (WHERE h.customer_id IS NOT NULL AND a.frequency = h.frequency AND a.recency = h.recency AND a.t = h.n_periods
                              AND abs(a.p_alive - customer_segment.bgbb_p_alive(m.bb, h.frequency, h.recency, h.n_periods)) < 1e-12
                              AND abs(a.expected_purchases - customer_segment.bgbb_expected_purchases(m.bb, 6, h.frequency, h.recency, h.n_periods)) < 1e-12
                              AND abs(a.clv - customer_segment.bgbb_clv(m.bb, h.frequency, h.recency, h.n_periods, a.expected_spend, 12, 0.01, 1, 0.3)) < 1e-9),
           count(*) FILTER (WHERE h.customer_id IS NULL AND a.p_alive IS NULL AND a.clv IS NULL)
      FROM a LEFT JOIN h USING (customer_id), m;});
ok($ba->[1] > 500 && $ba->[2] == $ba->[1] && $ba->[0] == $ba->[1] + $ba->[3],
   "btyd_analyze(model => 'bgbb'): the monthly histories and BG/BB predictions of $ba->[1] customers, NULL for the $ba->[3] first seen in the incomplete last month");
my ($clv) = psql_rows($db, qq{WITH m AS (SELECT customer_segment.bgbb_fit(frequency, recency, periods, weights) AS m FROM $table)
    SELECT customer_segment.bgbb_clv(m.m, 3, 5, 6, 40, 5, 0.1, 0.5, 0.3),
           (SELECT sum(40 * 0.3 * (customer_segment.bgbb_expected_purchases(m.m, i * 0.5, 3, 5, 6)
                                   - customer_segment.bgbb_expected_purchases(m.m, (i - 1) * 0.5, 3, 5, 6)) / 1.1 ^ i) FROM generate_series(1, 5) i)
      FROM m;});
cmp_ok(abs($clv->[0] - $clv->[1]), '<', 1e-12 * $clv->[1], "bgbb_clv ($clv->[0]) is the discounted sum of the expected transactions of each month");

# Bad histories are errors.
like(psql_fails($db, q{SELECT customer_segment.bgbb_fit(2, 1, 6)}), qr/whole numbers 0 <= frequency <= recency <= n_periods/, 'frequency above recency: 22023');
like(psql_fails($db, q{SELECT customer_segment.bgbb_fit(0, 2, 6)}), qr/recency 0 exactly when frequency is 0/, 'recency without a transaction: 22023');

done_testing();

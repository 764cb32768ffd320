# Holdout evaluation against independent computations: the calibration/holdout split equals a pandas
# reimplementation of lifetimes' calibration_and_holdout_data (day periods, weeks); the BG/NBD holdout
# forecasts equal the scipy formulas of btyd_reference.py for the fitted parameters; btyd_evaluate's metrics
# and btyd_conditional_expectations equal pandas' over the per-customer rows.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;
my $tmpdir = tmpdir();
use List::Util qw(max);

my $root = project_root();
plan skip_all => 'python3-pandas is not installed' if system('/usr/bin/python3 -c "import pandas, scipy" 2>/dev/null') != 0;
sub python {
    my ($script, $args, $stdin) = @_;
    my $tmp = "$tmpdir/btyd_holdout.$$";
    open my $fh, '>', $tmp or die;
    print $fh $stdin;
    close $fh;
    my $out = `/usr/bin/python3 $script $args < $tmp`;
    die "python $script failed" if $? != 0;
    unlink $tmp;
    return $out;
}

my $db = new_database('cs_btyd_holdout');
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 2000, 5);});
my $args = q{'shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2024-12-31', DATE '2025-12-31', 'week', 'UTC'};

# The split, against pandas.
my $orders = psql($db, q{COPY (SELECT customer_id, (ordered_at AT TIME ZONE 'UTC')::date, amount FROM shop.orders) TO STDOUT (FORMAT csv);});
my $pandas = <<'PY';
import sys
import pandas as pd
o = pd.read_csv(sys.stdin, names=["customer_id", "day", "amount"], parse_dates=["day"])
cal_end, obs_end = pd.Timestamp("2024-12-31"), pd.Timestamp("2025-12-31")
buys = o[o.amount >= 0].groupby(["customer_id", "day"]).amount.sum().reset_index()
cal = buys[buys.day <= cal_end]
hold = buys[(buys.day > cal_end) & (buys.day <= obs_end)]
rows = []
for cid, g in cal.groupby("customer_id"):
    g = g.sort_values("day")
    first, last = g.day.iloc[0], g.day.iloc[-1]
    freq = len(g) - 1
    h = hold[hold.customer_id == cid]
    rows.append((cid, freq, (last - first).days / 7, (cal_end - first).days / 7,
                 g.amount.iloc[1:].mean() if freq > 0 else 0.0, len(h), h.amount.mean() if len(h) else 0.0,
                 (obs_end - cal_end).days / 7))
for r in sorted(rows):
    print(",".join(repr(float(v)) if isinstance(v, float) else str(v) for v in r))
PY
open my $ph, '>', "$tmpdir/btyd_holdout_split.$$.py" or die;
print $ph $pandas;
close $ph;
my @ref = map { [ split /,/ ] } split /\n/, python("$tmpdir/btyd_holdout_split.$$.py", '', $orders);
unlink "$tmpdir/btyd_holdout_split.$$.py";
my @ours = psql_rows($db, qq{SELECT customer_id::int, frequency_cal, recency_cal, t_cal, monetary_value_cal, frequency_holdout,
    monetary_value_holdout, duration_holdout FROM customer_segment.btyd_holdout($args) ORDER BY 1;});
is(scalar(@ours), scalar(@ref), scalar(@ref) . ' customers bought in the calibration window, in both');
my ($worst, $at) = (0, 'none');
for my $i (0 .. $#ref) {
    for my $j (0 .. 7) {
        my $d = abs($ours[$i][$j] - $ref[$i][$j]) / (1 + abs($ref[$i][$j]));
        ($worst, $at) = ($d, "customer $ref[$i][0], column $j") if $d > $worst;
    }
}
cmp_ok($worst, '<', 1e-9, sprintf('every calibration and holdout column equals pandas (worst %.1e at %s)', $worst, $at));
my ($active) = psql_rows($db, qq{SELECT count(*) FILTER (WHERE frequency_holdout > 0), count(*) FILTER (WHERE frequency_cal > 0) FROM customer_segment.btyd_holdout($args);});
ok($active->[0] > 100 && $active->[1] > 100, "the split is not trivial: $active->[0] customers bought in the holdout, $active->[1] repeated in calibration");

# BG/NBD holdout forecasts: the scipy formulas with the fitted parameters.
my @pred = psql_rows($db, qq{SELECT frequency_cal, recency_cal, t_cal, bgnbd_expected, duration_holdout,
    (bgnbd).r, (bgnbd).alpha, (bgnbd).a, (bgnbd).b FROM customer_segment.btyd_holdout_predictions($args) ORDER BY customer_id::int;});
my $p0 = $pred[0];
my $scipy = python("'$root/test/t/btyd_reference.py'", "predict $p0->[5] $p0->[6] $p0->[7] $p0->[8] $p0->[4]",
                   join('', map { "$_->[0],$_->[1],$_->[2]\n" } @pred));
my @sp = map { [ split /,/ ] } split /\n/, $scipy;
my $wp = 0;
for my $i (0 .. $#pred) {
    my $d = abs($pred[$i][3] - $sp[$i][1]) / (1e-12 + abs($sp[$i][1]));
    $wp = $d if $d > $wp;
}
cmp_ok($wp, '<', 1e-9, sprintf('BG/NBD expected holdout purchases equal scipy\'s for all %d customers (worst %.1e)', scalar(@pred), $wp));

# The metrics and the conditional expectations, against pandas over the per-customer rows.
my $rows = psql($db, qq{COPY (SELECT frequency_cal, frequency_holdout, bgnbd_expected, pareto_nbd_expected, bgnbd_probability, pareto_nbd_probability
    FROM customer_segment.btyd_holdout_predictions($args)) TO STDOUT (FORMAT csv);});
my $metrics = <<'PY';
import sys
import numpy as np
import pandas as pd
p = pd.read_csv(sys.stdin, names=["f", "x", "bg", "pn", "pbg", "ppn"])
for m, e, pr in (("bgnbd", "bg", "pbg"), ("pareto_nbd", "pn", "ppn")):
    err = p[e] - p.x
    print(f"{m},{len(p)},{p.x.sum()},{p[e].sum()!r},{(p[e].sum() - p.x.sum()) / p.x.sum()!r},{err.abs().mean()!r},"
          f"{np.sqrt((err ** 2).mean())!r},{err.mean()!r},{np.log(p[pr]).sum()!r}")
c = p.assign(f=p.f.clip(upper=7)).groupby("f").agg(n=("x", "size"), x=("x", "mean"), bg=("bg", "mean"), pn=("pn", "mean"))
for f, r in c.iterrows():
    print(f"cond,{f},{int(r.n)},{r.x!r},{r.bg!r},{r.pn!r}")
PY
open $ph, '>', "$tmpdir/btyd_holdout_metrics.$$.py" or die;
print $ph $metrics;
close $ph;
my @mref = map { [ split /,/ ] } split /\n/, python("$tmpdir/btyd_holdout_metrics.$$.py", '', $rows);
unlink "$tmpdir/btyd_holdout_metrics.$$.py";
my @ev = psql_rows($db, qq{SELECT model, customers, actual_purchases, predicted_purchases, total_error, mae, rmse, bias, holdout_log_likelihood
    FROM customer_segment.btyd_evaluate($args) WHERE model <> 'mbgnbd' ORDER BY model;});
for my $i (0 .. 1) {
    my ($wm) = (0);
    for my $j (1 .. 8) {
        my $d = abs($ev[$i][$j] - $mref[$i][$j]) / (1e-12 + abs($mref[$i][$j]));
        $wm = $d if $d > $wm;
    }
    cmp_ok($wm, '<', 1e-9, sprintf('%s: total %d vs %.1f predicted (%+.1f%%), MAE %.4f, RMSE %.4f, bias %+.4f, log-likelihood %.1f, as pandas computes them',
                                   $ev[$i][0], $ev[$i][2], $ev[$i][3], 100 * $ev[$i][4], $ev[$i][5], $ev[$i][6], $ev[$i][7], $ev[$i][8]));
}
{
    my $mrows = psql($db, qq{COPY (WITH p AS (SELECT * FROM customer_segment.btyd_holdout_predictions($args)),
            m AS (SELECT customer_segment.mbgnbd_fit(frequency_cal, recency_cal, t_cal) AS m FROM p)
        SELECT frequency_cal, frequency_holdout, customer_segment.mbgnbd_expected_purchases(m.m, duration_holdout, frequency_cal, recency_cal, t_cal),
               customer_segment.mbgnbd_expected_purchases(m.m, duration_holdout, frequency_cal, recency_cal, t_cal),
               customer_segment.mbgnbd_probability_purchases(m.m, duration_holdout, frequency_holdout, frequency_cal, recency_cal, t_cal),
               customer_segment.mbgnbd_probability_purchases(m.m, duration_holdout, frequency_holdout, frequency_cal, recency_cal, t_cal)
          FROM p, m) TO STDOUT (FORMAT csv);});
    open my $mh, '>', "$tmpdir/btyd_holdout_metrics.$$.py" or die;
    print $mh $metrics;
    close $mh;
    my $mbref = [split /,/, (split /\n/, python("$tmpdir/btyd_holdout_metrics.$$.py", '', $mrows))[0]];   # its first row: the forecasts given
    unlink "$tmpdir/btyd_holdout_metrics.$$.py";
    my ($mb) = psql_rows($db, qq{SELECT model, customers, actual_purchases, predicted_purchases, total_error, mae, rmse, bias, holdout_log_likelihood
        FROM customer_segment.btyd_evaluate($args) WHERE model = 'mbgnbd';});
    my $wm = max(map { abs($mb->[$_] - $mbref->[$_]) / (1e-12 + abs($mbref->[$_])) } 1 .. 8);
    cmp_ok($wm, '<', 1e-9, sprintf('mbgnbd: total %d vs %.1f predicted, MAE %.4f, log-likelihood %.1f, as pandas computes them from its own forecasts',
                                   $mb->[2], $mb->[3], $mb->[5], $mb->[8]));
}
my @ce = psql_rows($db, qq{SELECT * FROM customer_segment.btyd_conditional_expectations($args);});
my @cref = grep { $_->[0] eq 'cond' } @mref;
is(scalar(@ce), scalar(@cref), 'conditional expectations: ' . scalar(@ce) . ' frequency groups (7 = 7+)');
my $wc = 0;
for my $i (0 .. $#cref) {
    for my $j (0 .. 4) {
        my $d = abs($ce[$i][$j] - $cref[$i][$j + 1]) / (1e-12 + abs($cref[$i][$j + 1]));
        $wc = $d if $d > $wc;
    }
}
cmp_ok($wc, '<', 1e-9, sprintf('... equal to pandas\' group means (worst %.1e)', $wc));

# Period transactions: actual from the split; expected as a plain per-customer sum of the new-customer P(X(T) = x).
my @pt = psql_rows($db, qq{SELECT * FROM customer_segment.btyd_period_transactions($args);});
my %buckets;
$buckets{ $_->[1] > 7 ? 7 : $_->[1] }++ for @ref;
is_deeply([ map { $_->[1] } @pt ], [ map { $buckets{$_} // 0 } 0 .. 7 ], 'period transactions: the actual counts 0..7+ are the split\'s');
my ($ptx) = psql_rows($db, qq{WITH p AS (SELECT * FROM customer_segment.btyd_holdout_predictions($args)),
         e AS (SELECT x, sum(customer_segment.bgnbd_probability_purchases(p.bgnbd, p.t_cal, x)) AS bg,
                         sum(customer_segment.pareto_nbd_probability_purchases(p.pareto_nbd, p.t_cal, x)) AS pn
                 FROM p, generate_series(0, 6) x GROUP BY x)
    SELECT max(abs(t.bgnbd - e.bg) / e.bg), max(abs(t.pareto_nbd - e.pn) / e.pn),
           (SELECT abs(sum(bgnbd) - sum(actual)) + abs(sum(pareto_nbd) - sum(actual)) FROM customer_segment.btyd_period_transactions($args))
      FROM customer_segment.btyd_period_transactions($args) t JOIN e ON e.x = t.frequency_cal;});
ok($ptx->[0] < 1e-9 && $ptx->[1] < 1e-9 && $ptx->[2] < 1e-6,
   "... the expected counts equal a per-customer sum (worst $ptx->[0], $ptx->[1]) and add up to the customers");

# Tracking: actual repeat purchase days per week against pandas; expected against a plain per-customer sum.
my @tr = psql_rows($db, qq{SELECT period, period_end, actual, actual_cumulative, bgnbd_cumulative, holdout FROM customer_segment.btyd_tracking($args);});
my $weekly = <<'PY';
import sys
import pandas as pd
o = pd.read_csv(sys.stdin, names=["customer_id", "day", "amount"], parse_dates=["day"])
cal_end, obs_end = pd.Timestamp("2024-12-31"), pd.Timestamp("2025-12-31")
days = o[(o.amount >= 0) & (o.day <= obs_end)].drop_duplicates(["customer_id", "day"])
first = days.groupby("customer_id").day.min()
first = first[first <= cal_end]
days = days[days.customer_id.isin(first.index)]
repeat = days[days.day > days.customer_id.map(first)]
start = first.min()
weeks = ((repeat.day - start).dt.days // 7 + 1).value_counts().sort_index()
n = (obs_end - start).days // 7 + 1
for k in range(1, n + 1):
    print(f"{k},{int(weeks.get(k, 0))}")
PY
open my $wh, '>', "$tmpdir/btyd_tracking.$$.py" or die;
print $wh $weekly;
close $wh;
my @wref = map { [ split /,/ ] } split /\n/, python("$tmpdir/btyd_tracking.$$.py", '', $orders);
unlink "$tmpdir/btyd_tracking.$$.py";
is_deeply([ map { "$_->[0]:$_->[2]" } @tr ], [ map { "$_->[0]:$_->[1]" } @wref ],
          'tracking: ' . scalar(@tr) . ' weeks of actual repeat purchase days, as pandas counts them');
my ($last) = grep { $_->[0] == $tr[-1][0] } @tr;
my ($plain) = psql_rows($db, qq{WITH p AS (SELECT * FROM customer_segment.btyd_holdout_predictions($args)),
         f AS (SELECT customer_id::text, min((ordered_at AT TIME ZONE 'UTC')::date) AS first_day FROM shop.orders WHERE amount >= 0 GROUP BY 1)
    SELECT sum(customer_segment.bgnbd_expected_purchases_new(p.bgnbd, (DATE '$last->[1]' - f.first_day + 1) / 7.0))
      FROM p JOIN f USING (customer_id);});
cmp_ok(abs($last->[4] - $plain->[0]) / $plain->[0], '<', 1e-9,
       sprintf('... the expected cumulative repeat purchases at the end (%.1f; actual %d) equal a plain per-customer sum', $last->[4], $last->[3]));
is(scalar(grep { $_->[5] eq 't' } @tr), scalar(grep { $_->[1] gt '2024-12-31' } @tr), '... and the holdout flag marks the weeks after calibration_end');

# The frequency x recency matrix: both models' expectations and P(alive) against scipy.
my ($models) = psql_rows($db, qq{SELECT (bgnbd).r, (bgnbd).alpha, (bgnbd).a, (bgnbd).b, (pareto_nbd).r, (pareto_nbd).alpha, (pareto_nbd).s, (pareto_nbd).beta
    FROM customer_segment.btyd_holdout_predictions($args) LIMIT 1;});
my @mx = psql_rows($db, qq{WITH m AS (SELECT bgnbd, pareto_nbd FROM customer_segment.btyd_holdout_predictions($args) LIMIT 1)
    SELECT x.* FROM m, customer_segment.btyd_frequency_recency_matrix(m.bgnbd, m.pareto_nbd, 104, 52, 10, 8) x;});
my $grid = join('', map { "$_->[0],$_->[1],104\n" } @mx);
my @bgr = map { [ split /,/ ] } split /\n/, python("'$root/test/t/btyd_reference.py'", "predict @$models[0 .. 3] 52", $grid);
my @pnr = map { [ split /,/ ] } split /\n/, python("'$root/test/t/btyd_reference.py'", "pnbdpredict @$models[4 .. 7] 52", $grid);
my $wmx = 0;
for my $i (0 .. $#mx) {
    for my $pair ([$mx[$i][2], $bgr[$i][1]], [$mx[$i][3], $bgr[$i][0]], [$mx[$i][4], $pnr[$i][1]], [$mx[$i][5], $pnr[$i][0]]) {
        my $d = abs($pair->[0] - $pair->[1]) / (1e-12 + abs($pair->[1]));
        $wmx = $d if $d > $wmx;
    }
}
cmp_ok($wmx, '<', 1e-8, sprintf('frequency x recency matrix: %d cells of expectations and P(alive) by both models equal scipy\'s (worst %.1e)', scalar(@mx), $wmx));

# The P(alive) history of the customer with the most purchase days: its (x, t_x, T) from its orders, P(alive) as scipy.
my ($who) = psql_rows($db, q{SELECT customer_id FROM shop.orders WHERE amount >= 0 GROUP BY 1 ORDER BY count(DISTINCT (ordered_at AT TIME ZONE 'UTC')::date) DESC, 1 LIMIT 1;});
my @hist = psql_rows($db, qq{WITH m AS (SELECT bgnbd FROM customer_segment.btyd_holdout_predictions($args) LIMIT 1)
    SELECT h.* FROM m, customer_segment.btyd_p_alive_history('shop.orders', 'customer_id', 'ordered_at', 'amount', '$who->[0]', m.bgnbd, DATE '2025-12-31', 'week', 'UTC') h;});
my @pdays = map { $_->[0] } psql_rows($db, qq{SELECT DISTINCT (ordered_at AT TIME ZONE 'UTC')::date FROM shop.orders WHERE customer_id = $who->[0] AND amount >= 0 ORDER BY 1;});
my $hist_ok = 0;
for my $h (@hist) {
    my @upto = grep { $_ le $h->[0] } @pdays;
    $hist_ok++ if $h->[1] == @upto - 1;
}
is($hist_ok, scalar(@hist), "P(alive) history of customer $who->[0] (" . scalar(@pdays) . ' purchase days): the repeat purchases at each of ' . scalar(@hist) . ' weeks are its orders\'');
my @hr = map { [ split /,/ ] } split /\n/, python("'$root/test/t/btyd_reference.py'", "predict @$models[0 .. 3] 1", join('', map { "$_->[1],$_->[2],$_->[3]\n" } @hist));
my $whist = 0;
for my $i (0 .. $#hist) {
    my $d = abs($hist[$i][4] - $hr[$i][0]);
    $whist = $d if $d > $whist;
}
cmp_ok($whist, "<", 1e-12, sprintf("... and its P(alive) is scipy's (worst %.1e; from %.3f to %.3f)", $whist, $hist[0][4], $hist[-1][4]));

# Parameter uncertainty: the standard errors and covariance equal the inverse of scipy's numerical Hessian.
my $cal = psql($db, qq{COPY (SELECT frequency_cal, recency_cal, t_cal FROM customer_segment.btyd_holdout($args)) TO STDOUT (FORMAT csv);});
for my $m (['bgnbd', 'bgnbd_fit_uncertainty', 'bgnbd_fit'], ['pareto_nbd', 'pareto_nbd_fit_uncertainty', 'pareto_nbd_fit']) {
    my ($model, $agg, $fit) = @$m;
    my ($u) = psql_rows($db, qq{SELECT array_to_string((u).estimate, ' '), array_to_string((u).standard_error, ' '),
        array_to_string((u).covariance, ' '), array_to_string((u).lower_95, ' '), array_to_string((u).upper_95, ' '),
        array_to_string(ARRAY[(f).r, (f).alpha, @{[ $model eq 'bgnbd' ? '(f).a, (f).b' : '(f).s, (f).beta' ]}], ' ')
      FROM (SELECT customer_segment.$agg(frequency_cal, recency_cal, t_cal) AS u, customer_segment.$fit(frequency_cal, recency_cal, t_cal) AS f
              FROM customer_segment.btyd_holdout($args)) x;});
    my @est = split / /, $u->[0];
    is($u->[0], $u->[5], "$model: the uncertainty's estimates are the fit's ($u->[0])");
    my @ref = map { [ split /,/ ] } split /\n/, python("'$root/test/t/btyd_reference.py'", "hessian $model @est", $cal);
    my @se = split / /, $u->[1];
    my @cov = split / /, $u->[2];
    my ($wse, $wcov) = (0, 0);
    for my $i (0 .. 3) {
        my $d = abs($se[$i] - $ref[0][$i]) / $ref[0][$i];
        $wse = $d if $d > $wse;
        for my $j (0 .. 3) {
            my $c = abs($cov[$i * 4 + $j] - $ref[$i + 1][$j]) / sqrt(abs($ref[$i + 1][$i] * $ref[$j + 1][$j]));
            $wcov = $c if $c > $wcov;
        }
    }
    cmp_ok($wse, '<', 1e-5, sprintf('%s: standard errors %s equal scipy\'s numerical Hessian (worst %.1e relative; covariance %.1e)',
                                    $model, join(' ', map { sprintf('%.4g', $_) } @se), $wse, $wcov));
    cmp_ok($wcov, '<', 1e-5, '... and so does the covariance');
    my @lo = split / /, $u->[3];
    my @hi = split / /, $u->[4];
    ok(!grep({ !($lo[$_] < $est[$_] && $est[$_] < $hi[$_] && abs(log($hi[$_] / $est[$_]) - 1.959963984540054 * $se[$_] / $est[$_]) < 1e-9) } 0 .. 3),
       '... the 95% intervals are estimate x exp(+-1.96 SE / estimate)');
}
{
    my $gcal = psql($db, qq{COPY (SELECT frequency_cal, monetary_value_cal FROM customer_segment.btyd_holdout($args)
                                  WHERE frequency_cal > 0 AND monetary_value_cal > 0) TO STDOUT (FORMAT csv);});
    my ($g) = psql_rows($db, qq{SELECT array_to_string((u).estimate, ' '), array_to_string((u).standard_error, ' ')
      FROM (SELECT customer_segment.gamma_gamma_fit_uncertainty(frequency_cal, monetary_value_cal) AS u
              FROM customer_segment.btyd_holdout($args) WHERE frequency_cal > 0 AND monetary_value_cal > 0) x;});
    my @gref = map { [ split /,/ ] } split /\n/, python("'$root/test/t/btyd_reference.py'", "hessian gamma_gamma $g->[0]", $gcal);
    my @gse = split / /, $g->[1];
    my $wg = 0;
    for my $i (0 .. 2) {
        my $d = abs($gse[$i] - $gref[0][$i]) / $gref[0][$i];
        $wg = $d if $d > $wg;
    }
    cmp_ok($wg, '<', 1e-4, sprintf('gamma_gamma: standard errors %s equal scipy\'s numerical Hessian (worst %.1e relative)',
                                   join(' ', map { sprintf('%.4g', $_) } @gse), $wg));
}
# Intervals of expected purchases and CLV (Gamma-Gamma spend) for every customer: the delta method computed
# again by scipy from the models and covariances (its own formulas, gradient step 1e-5 instead of 1e-6).
psql($db, qq{CREATE TABLE iv_models AS SELECT
    customer_segment.bgnbd_fit(frequency_cal, recency_cal, t_cal) AS bg, customer_segment.bgnbd_fit_uncertainty(frequency_cal, recency_cal, t_cal) AS bgu,
    customer_segment.pareto_nbd_fit(frequency_cal, recency_cal, t_cal) AS pn, customer_segment.pareto_nbd_fit_uncertainty(frequency_cal, recency_cal, t_cal) AS pnu,
    customer_segment.gamma_gamma_fit(frequency_cal, monetary_value_cal) FILTER (WHERE frequency_cal > 0 AND monetary_value_cal > 0) AS gg,
    customer_segment.gamma_gamma_fit_uncertainty(frequency_cal, monetary_value_cal) FILTER (WHERE frequency_cal > 0 AND monetary_value_cal > 0) AS ggu
  FROM customer_segment.btyd_holdout($args);
  CREATE TABLE iv_rows AS SELECT customer_id, frequency_cal, recency_cal, t_cal, monetary_value_cal FROM customer_segment.btyd_holdout($args);});
my $iv_in = psql($db, q{COPY (SELECT frequency_cal, recency_cal, t_cal, monetary_value_cal FROM iv_rows ORDER BY customer_id) TO STDOUT (FORMAT csv);});
for my $q (['bgnbd_expected', 'bgnbd_expected_purchases_interval(m.bg, m.bgu, 52, d.frequency_cal, d.recency_cal, d.t_cal)', 'bg', 'ARRAY[(m.bg).r, (m.bg).alpha, (m.bg).a, (m.bg).b]'],
           ['pareto_nbd_expected', 'pareto_nbd_expected_purchases_interval(m.pn, m.pnu, 52, d.frequency_cal, d.recency_cal, d.t_cal)', 'pn', 'ARRAY[(m.pn).r, (m.pn).alpha, (m.pn).s, (m.pn).beta]'],
           ['bgnbd_clv', 'bgnbd_clv_interval(m.bg, m.bgu, m.gg, m.ggu, d.frequency_cal, d.recency_cal, d.t_cal, d.monetary_value_cal, 12, 0.01, 4.345, 0.3)', 'bg', 'ARRAY[(m.bg).r, (m.bg).alpha, (m.bg).a, (m.bg).b]'],
           ['pareto_nbd_clv', 'pareto_nbd_clv_interval(m.pn, m.pnu, m.gg, m.ggu, d.frequency_cal, d.recency_cal, d.t_cal, d.monetary_value_cal, 12, 0.01, 4.345, 0.3)', 'pn', 'ARRAY[(m.pn).r, (m.pn).alpha, (m.pn).s, (m.pn).beta]']) {
    my ($name, $call, $u, $params) = @$q;
    my @ours = psql_rows($db, qq{SELECT i.estimate, i.lower_95, i.upper_95 FROM iv_rows d, iv_models m, customer_segment.$call i ORDER BY d.customer_id;});
    my ($pm) = psql_rows($db, qq{SELECT array_to_string($params, ' '), array_to_string((m.${u}u).covariance, ' '),
        array_to_string(ARRAY[(m.gg).p, (m.gg).q, (m.gg).gamma], ' '), array_to_string((m.ggu).covariance, ' ') FROM iv_models m;});
    my ($p, $cov, $g, $gcov) = map { s/ /,/gr } @$pm;
    ($g, $gcov) = ('-', '-') if $name =~ /expected/;
    my @ref = map { [ split /,/ ] } split /\n/, python("'$root/test/t/btyd_reference.py'", "interval $name $p $g $cov $gcov 52 12 0.01 4.345 0.3", $iv_in);
    is(scalar(@ours), scalar(@ref), "$name interval: " . scalar(@ours) . ' customers');
    my ($west, $wlo, $whi, $width) = (0, 0, 0, 0);
    for my $k (0 .. $#ref) {
        my ($e, $lo, $hi) = @{ $ours[$k] };
        $west = max($west, abs($e - $ref[$k][0]) / abs($ref[$k][0]));
        $wlo = max($wlo, abs($lo - $ref[$k][1]) / abs($ref[$k][0]));
        $whi = max($whi, abs($hi - $ref[$k][2]) / abs($ref[$k][0]));
        $width += ($hi - $lo) / $e / @ref;
    }
    cmp_ok($west, '<', 1e-9, sprintf('... estimates equal scipy\'s (worst %.1e relative)', $west));
    cmp_ok(max($wlo, $whi), '<', 1e-6, sprintf('... and the 95%% bounds (worst %.1e of the estimate; mean width %.1f%% of the estimate)', max($wlo, $whi), 100 * $width));
}
is_deeply([psql_rows($db, q{SELECT i.estimate IS NULL, i.lower_95 IS NULL FROM iv_models m,
    customer_segment.bgnbd_clv_interval(m.bg, NULL, m.gg, m.ggu, 1, 1, 2, 10) i;})], [['t', 't']], 'no covariance: NULL interval');
# btyd_analyze with model => 'pareto_nbd': the Pareto/NBD of the calibration summary.
my ($ba) = psql_rows($db, q{WITH a AS (SELECT * FROM customer_segment.btyd_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount',
                                             DATE '2024-12-31', 52, 'week', zone => 'UTC', model => 'pareto_nbd')),
         h AS (SELECT * FROM customer_segment.btyd_holdout('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2024-12-31', DATE '2025-12-31', 'week', 'UTC')),
         m AS (SELECT customer_segment.pareto_nbd_fit(frequency_cal, recency_cal, t_cal) AS pn FROM h)
    SELECT count(*), count(*) FILTER (WHERE abs(a.p_alive - customer_segment.pareto_nbd_p_alive(m.pn, h.frequency_cal, h.recency_cal, h.t_cal)) < 1e-12
                                        AND abs(a.expected_purchases - customer_segment.pareto_nbd_expected_purchases(m.pn, 52, h.frequency_cal, h.recency_cal, h.t_cal)) < 1e-9)
      FROM a JOIN h USING (customer_id), m;});
is_deeply($ba, [$ba->[0], $ba->[0]], "btyd_analyze(model => 'pareto_nbd') predicts all $ba->[0] customers with the Pareto/NBD fit of their summary");
like(psql_fails($db, q{SELECT count(*) FROM customer_segment.btyd_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2024-12-31', model => 'nonesuch')}) // '',
     qr/unknown purchase model "nonesuch"/, '... and an unknown model is 22023');

# Bad input.
like(psql_fails($db, q{SELECT * FROM customer_segment.btyd_holdout('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', DATE '2025-12-31')}) // '',
     qr/observation_end must be a finite date after calibration_end/, 'an empty holdout window is 22023');
like(psql_fails($db, q{SELECT * FROM customer_segment.btyd_holdout('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2024-12-31', DATE '2025-12-31', 'fortnight')}) // '',
     qr/unknown unit/, 'an unknown unit is 22023');

psql('postgres', "DROP DATABASE $db;");
done_testing();

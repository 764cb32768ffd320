# The CDNOW holdout of Fader, Hardie & Lee (2005): calibrate on the 39 weeks to 1997-09-30, forecast the 39
# weeks to 1998-06-30.  The conditional expectations and the tracking chart of the 2,357-customer sample equal
# an independent computation: pandas counts the purchase days, scipy evaluates each model's expectations from
# its own formulas at the fitted parameters (the fits themselves equal the published estimates: btyd.t).
use strict;
use warnings;
use Test::More;
use List::Util qw(max);
use lib 't/lib', 'test/t/lib';
use CsTest;
my $tmpdir = tmpdir();

my $root = project_root();
my $csv = cdnow_csv();
plan skip_all => 'CDNOW data (../shared/data/cdnow) not present' unless defined $csv;
plan skip_all => 'python3-pandas is not installed' if system('/usr/bin/python3 -c "import pandas, scipy" 2>/dev/null') != 0;

my $db = new_database('cs_cdnow_holdout');
load_cdnow($db, 'cdnow');
my $args = q{'cdnow', 'customer_id', 'day', 'dollars', DATE '1997-09-30', DATE '1998-06-30'};

my ($m) = psql_rows($db, qq{SELECT (bgnbd).r, (bgnbd).alpha, (bgnbd).a, (bgnbd).b, (pareto_nbd).r, (pareto_nbd).alpha,
    (pareto_nbd).s, (pareto_nbd).beta FROM customer_segment.btyd_holdout_predictions($args) LIMIT 1;});
is(join(' ', map { sprintf('%.3f', $_) } @$m), '0.243 4.414 0.793 2.426 0.553 10.578 0.606 11.669',
   'the calibration fits are the published BG/NBD (FHL 2005) and Pareto/NBD estimates');

my $reference = <<'PY';
import sys
import numpy as np
import pandas as pd
from scipy import special

r, alpha, a, b, pr, palpha, s, beta = (float(v) for v in sys.argv[1:9])
o = pd.read_csv(sys.stdin, names=["customer_id", "day", "dollars"])
o["day"] = pd.to_datetime(o.day.astype(str), format="%Y%m%d")
cal_end, obs_end = pd.Timestamp("1997-09-30"), pd.Timestamp("1998-06-30")
days = o[(o.dollars >= 0) & (o.day <= obs_end)].drop_duplicates(["customer_id", "day"])
cal = days[days.day <= cal_end]
first = cal.groupby("customer_id").day.min()
last = cal.groupby("customer_id").day.max()
x = (cal.groupby("customer_id").size() - 1).astype(float)
tx = (last - first).dt.days / 7.0
T = (cal_end - first).dt.days / 7.0
hold = days[days.day > cal_end].groupby("customer_id").size().reindex(x.index, fill_value=0)
t = (obs_end - cal_end).days / 7.0


def bg_expected(t, x, tx, T):
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    num = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    return num / (1 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + tx)) ** (r + x), 0))


def pn_expected(t, x, tx, T):
    # Pareto/NBD (Schmittlein, Morrison & Colombo; Fader & Hardie's note), alpha < beta here
    A0 = (special.hyp2f1(pr + s + x, pr + x, pr + s + x + 1, (beta - palpha) / (beta + tx)) / (beta + tx) ** (pr + s + x)
          - special.hyp2f1(pr + s + x, pr + x, pr + s + x + 1, (beta - palpha) / (beta + T)) / (beta + T) ** (pr + s + x))
    alive = 1 / (1 + s / (pr + s + x) * (palpha + T) ** (pr + x) * (beta + T) ** s * A0)
    return (pr + x) * (beta + T) / ((palpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) * alive


g = pd.DataFrame({"f": x.clip(upper=7), "x": hold, "bg": bg_expected(t, x, tx, T), "pn": pn_expected(t, x, tx, T)})
for f, row in g.groupby("f").agg(n=("x", "size"), x=("x", "mean"), bg=("bg", "mean"), pn=("pn", "mean")).iterrows():
    print(f"cond,{int(f)},{int(row.n)},{row.x!r},{row.bg!r},{row.pn!r}")

start = first.min()
repeat = days[days.customer_id.isin(first.index)]
repeat = repeat[repeat.day > repeat.customer_id.map(first)]
weekly = ((repeat.day - start).dt.days // 7 + 1).value_counts()
cumulative = 0
for k in range(1, (obs_end - start).days // 7 + 2):
    end = min(start + pd.Timedelta(days=7 * k - 1), obs_end)
    cumulative += int(weekly.get(k, 0))
    age = ((end - first).dt.days + 1).clip(lower=0) / 7.0
    bg_new = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + age)) ** r * special.hyp2f1(r, b, a + b - 1, age / (alpha + age)))
    pn_new = pr * beta / (palpha * (s - 1)) * (1 - (beta / (beta + age)) ** (s - 1))
    print(f"week,{k},{end.date()},{int(weekly.get(k, 0))},{cumulative},{bg_new.sum()!r},{pn_new.sum()!r}")
PY
open my $ph, '>', "$tmpdir/cdnow_holdout.$$.py" or die;
print $ph $reference;
close $ph;
open my $in, '>', "$tmpdir/cdnow_holdout.$$.csv" or die;
print $in $csv;
close $in;
my @ref = map { [ split /,/ ] } split /\n/, `/usr/bin/python3 $tmpdir/cdnow_holdout.$$.py @$m < $tmpdir/cdnow_holdout.$$.csv`;
die 'the pandas/scipy reference failed' if $? != 0;
unlink "$tmpdir/cdnow_holdout.$$.py", "$tmpdir/cdnow_holdout.$$.csv";

# Conditional expectations (FHL 2005, figure 4): by calibration repeat purchases 0..7+.
my @ce = psql_rows($db, qq{SELECT * FROM customer_segment.btyd_conditional_expectations($args);});
my @cref = map { [ @$_[1 .. 5] ] } grep { $_->[0] eq 'cond' } @ref;
is_deeply([map { "$_->[0]:$_->[1]" } @ce], [map { "$_->[0]:$_->[1]" } @cref], 'conditional expectations: the customers per calibration frequency are pandas\'');
my $wc = 0;
for my $i (0 .. $#cref) {
    $wc = max($wc, map { abs($ce[$i][$_] - $cref[$i][$_]) / (1e-12 + abs($cref[$i][$_])) } 2 .. 4);
}
cmp_ok($wc, '<', 1e-9, sprintf('... the mean actual holdout purchase days and both models\' expectations equal pandas and scipy (worst %.1e)', $wc));

# Tracking (FHL 2005, figures 2 and 3): 78 weeks of repeat purchase days, incremental and cumulative.
my @tr = psql_rows($db, qq{SELECT period, period_end, actual, actual_cumulative, bgnbd_cumulative, pareto_nbd_cumulative, holdout
    FROM customer_segment.btyd_tracking($args);});
my @wref = grep { $_->[0] eq 'week' } @ref;
is(scalar(@tr), 78, 'tracking: 78 weeks');
is_deeply([map { "$_->[0] $_->[1] $_->[2] $_->[3]" } @tr], [map { "$_->[1] $_->[2] $_->[3] $_->[4]" } @wref],
          '... their ends, actual and cumulative repeat purchase days are pandas\'');
my $wt = 0;
for my $i (0 .. $#wref) {
    $wt = max($wt, abs($tr[$i][4] - $wref[$i][5]) / $wref[$i][5], abs($tr[$i][5] - $wref[$i][6]) / $wref[$i][6]) if $wref[$i][5] > 0;
}
cmp_ok($wt, '<', 1e-9, sprintf('... the expected cumulative repeat purchase days of both models are scipy\'s every week (worst %.1e)', $wt));
is(scalar(grep { $_->[6] eq 't' } @tr), 39, '... of which the last 39 are the holdout');
my ($w39, $w78) = @tr[38, 77];
diag(sprintf('week 39: actual %d, BG/NBD %.1f, Pareto/NBD %.1f; week 78: actual %d, BG/NBD %.1f, Pareto/NBD %.1f',
             $w39->[3], $w39->[4], $w39->[5], $w78->[3], $w78->[4], $w78->[5]));

done_testing();

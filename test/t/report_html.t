# report_html: the HTML report of a refreshed source is self-contained (no scripts, no external
# references), every chart is well-formed SVG showing the rows of the helper views and the holdout
# functions it draws, and a real headless browser (Debian's chromium) loads it and paints the charts.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use lib 't/lib', 'test/t/lib';
use CsTest;
my $tmpdir = tmpdir();

my $root = project_root();
my $chromium = (grep { -x $_ } map { "$_/chromium" } split /:/, $ENV{PATH})[0];
plan skip_all => 'chromium is not installed (apt-get install chromium)' unless $chromium;
plan skip_all => 'python3-pil is not installed' if system('/usr/bin/python3 -c "import PIL" 2>/dev/null') != 0;

my $dir = "$tmpdir/cs_report_html.$$";
mkdir $dir or die "cannot create $dir: $!";
mkdir "$dir/home";
my $db = new_database('cs_report_html');
psql($db, q{
    CREATE SCHEMA shop;
    SELECT customer_segment.create_sample_store('shop', 3000, 7);
    INSERT INTO customer_segment.tier_ladders VALUES ('club', 'Silver', 1, 0, NULL), ('club', 'Gold <& "VIP">', 2, 500, NULL);
    SELECT customer_segment.register_source('web', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        as_of => DATE '2025-12-31', tier_ladder => 'club', time_zone => 'UTC');
    SELECT customer_segment.refresh('web');
});

# The report as psql writes it with \o; stderr apart, for warnings.
sub report {
    my ($call, $file) = @_;
    my $err = `psql -X -q -A -t -v ON_ERROR_STOP=1 -d $db -o '$file' -c "SELECT $call" 2>&1`;
    die "report failed: $err" if $? != 0;
    return $err;
}
sub facts {
    my @files = @_;
    my $json = `/usr/bin/python3 $root/test/t/report_html_facts.py @files`;
    die "report_html_facts.py failed on @files" if $? != 0;
    return decode_json($json);
}
sub slurp { my ($f) = @_; open my $fh, '<:encoding(UTF-8)', $f or die "cannot read $f: $!"; local $/; return <$fh>; }

my $warnings = report(q{customer_segment.report_html('web')}, "$dir/report.html");
is($warnings, '', 'no warnings');
my $html = slurp("$dir/report.html");
like($html, qr/\A<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">/, 'an HTML5 document in UTF-8');
like($html, qr{</body></html>\n?\z}, '... complete');
unlike($html, qr/<script|<link|<img|<iframe|<object/i, 'no scripts, style sheets, images or frames to load');
unlike($html, qr/\b(?:src|href)\s*=|url\(|\@import|https?:/i, 'no reference to anything outside the file');

my $f = facts("$dir/report.html");
is_deeply([map { $_->{kind} } @{ $f->{svgs} }], [qw(bars heat bars bars heat lines lines lines heat heat)],
          'charts: segments, R x F, lifecycle, tiers, cohorts, tracking, conditional expectations, period transactions, '
          . 'P(alive) and expected purchases by frequency x recency; each well-formed XML');
is_deeply($f->{h2}, ['RFM segments', 'Recency &times; frequency', 'Lifecycle stages', 'Tiers (club)', 'Cohort retention', 'Purchase models'],
          'sections');
my ($segments, $rf, $stages, $tiers, $cohorts, $tracking, $conditional, $periods, $p_alive, $expected) = @{ $f->{svgs} };

# Segment bars: the segments view's rows by revenue, bar length proportional to customers.
my @seg = psql_rows($db, q{SELECT segment, customers FROM shop.web_segments ORDER BY revenue DESC NULLS LAST, segment;});
is_deeply($segments->{labels}, [map { $_->[0] } @seg], 'segment bars: the segments in revenue order');
my ($top) = sort { $b <=> $a } map { $_->[1] } @seg;
is_deeply($segments->{widths}, [map { int(360 * $_->[1] / $top + 0.5) } @seg], 'segment bars: length 360 x customers / the largest');
is(scalar(grep { /^\d[\d,]* customers \([\d.]+%\), revenue -?[\d,]+$/ } @{ $segments->{notes} }), scalar(@seg), 'segment bars: notes');

# R x F heat map: every cell of the rf_grid view, rows R = 5..1, columns F = 1..5, 0 for an empty cell.
my %grid = map { ("$_->[0],$_->[1]" => $_->[2]) } psql_rows($db, q{SELECT r_score, f_score, customers FROM shop.web_rf_grid;});
my @cells = map { my $r = $_; map { $grid{"$r,$_"} // 0 } 1 .. 5 } reverse 1 .. 5;
is_deeply([map { s/,//gr } @{ $rf->{cells} }], [map { "$_" } @cells], 'R x F heat map: the rf_grid counts');
my ($most) = sort { $b <=> $a } @cells;
is($rf->{fills}[(grep { $cells[$_] == $most } 0 .. $#cells)[0]], '#08519c', '... the busiest cell darkest');

is_deeply($stages->{labels}, [map { $_->[0] } psql_rows($db, q{SELECT lifecycle_stage FROM shop.web_lifecycle ORDER BY customers DESC, 1;})],
          'lifecycle bars');
is_deeply($tiers->{labels}, ['Gold <& "VIP">', 'Silver'], 'tier bars, highest first; a tier name with < & " shown as written');
like($html, qr/Gold &lt;&amp; &quot;VIP&quot;&gt;/, '... escaped in the HTML');

# Cohort heat map: the view's active shares in percent, grey where not observed.
my @coh = psql_rows($db, q{
    WITH c AS (SELECT * FROM shop.web_cohorts WHERE cohort >= (SELECT max(cohort) FROM shop.web_cohorts) - interval '23 months'
                                             AND period_offset < 24)
    SELECT to_char(100 * active_share, 'FM990') FROM c WHERE active_share IS NOT NULL ORDER BY cohort, period_offset;});
is_deeply($cohorts->{cells}, [map { $_->[0] } @coh], 'cohort heat map: the active shares of the 24 latest cohorts');

# Models: the holdout metrics and charts of the 26 weeks before as_of.
my $args = q{'shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31' - 182, DATE '2025-12-31', 'week', 'UTC'};
my @ev = psql_rows($db, qq{SELECT customers, actual_purchases, round(predicted_purchases::numeric, 1), round(mae::numeric, 3),
    round(holdout_log_likelihood::numeric, 1) FROM customer_segment.btyd_evaluate($args) ORDER BY model;});
is_deeply([map { [map { s/,//gr } @$_[1, 2, 3, 5, 7]] } @{ $f->{table} }[1 .. 3]], \@ev, 'metrics table: btyd_evaluate of the last 26 weeks (3 models)');
is_deeply([map { $_->[0] } @{ $f->{table} }[1 .. 3]], ['BG/NBD', 'MBG/NBD', 'Pareto/NBD'], '... named');
is_deeply($tracking->{series}, ['actual', 'BG/NBD', 'Pareto/NBD'], 'tracking lines');
my @tr = psql_rows($db, qq{SELECT count(*), max(actual_cumulative), max(bgnbd_cumulative) FROM customer_segment.btyd_tracking($args);});
is(scalar(@{ $tracking->{points}[$_] }), $tr[0][0], "tracking line $_: a point per week") for 0 .. 2;
ok($tracking->{marker}, 'tracking: the holdout marked');
my @ce = psql_rows($db, qq{SELECT count(*) FROM customer_segment.btyd_conditional_expectations($args);});
is(scalar(@{ $conditional->{points}[0] }), $ce[0][0], 'conditional expectations: a point per calibration frequency');

# Model choice: btyd_model_choice's criteria of the three calibration fits.
my @mc = psql_rows($db, qq{SELECT parameters, round(log_likelihood::numeric, 1), round(aic::numeric, 1), round(delta_aic::numeric, 1),
    round(bic::numeric, 1), round(delta_bic::numeric, 1) FROM customer_segment.btyd_model_choice($args) ORDER BY model;});
is_deeply($f->{table}[4], ['model', 'parameters', 'log-likelihood', 'AIC', "\x{0394}AIC", 'BIC', "\x{0394}BIC"], 'model-choice table');
is_deeply([map { [map { s/,//gr } @$_[1 .. 6]] } @{ $f->{table} }[5 .. 7]], \@mc, '... btyd_model_choice of the last 26 weeks (3 models)');
my @pt = psql_rows($db, qq{SELECT count(*) FROM customer_segment.btyd_period_transactions($args);});
is_deeply($periods->{series}, ['actual', 'BG/NBD', 'Pareto/NBD'], 'period transactions lines');
is(scalar(@{ $periods->{points}[$_] }), $pt[0][0], "period transactions line $_: a point per repeat-purchase count") for 0 .. 2;
my @matrix = psql_rows($db, qq{WITH m AS (SELECT bgnbd, pareto_nbd, duration_holdout, max(t_cal) OVER () AS t
        FROM customer_segment.btyd_holdout_predictions($args) LIMIT 1)
    SELECT to_char(100 * x.bgnbd_p_alive, 'FM990'), to_char(x.bgnbd_expected, 'FM990.0')
      FROM m, customer_segment.btyd_frequency_recency_matrix(m.bgnbd, m.pareto_nbd, m.t, m.duration_holdout, 10, 10) x
     ORDER BY x.frequency DESC, x.recency;});
is(scalar(@matrix), 111, 'the frequency x recency matrix: frequencies 1..10 x 11 recencies, and frequency 0 at recency 0');
is_deeply($p_alive->{cells}, [map { $_->[0] } @matrix], 'P(alive) heat map: btyd_frequency_recency_matrix\'s BG/NBD P(alive) in percent');
is_deeply($expected->{cells}, [map { $_->[1] } @matrix], 'expected-purchases heat map: its BG/NBD expected holdout purchases');
is(scalar(grep { $_ eq '#eeeeee' } @{ $p_alive->{fills} }), 10, '... frequency 0 has recency 0 only: the other 10 cells grey');

# Without models; and with a holdout the calibration window cannot fit: said in the report and as a WARNING.
report(q{customer_segment.report_html('web', holdout_weeks => 0)}, "$dir/plain.html");
is(scalar(@{ facts("$dir/plain.html")->{svgs} }), 5, 'holdout_weeks => 0: no model charts');
psql($db, q{CREATE TABLE shop.few AS SELECT * FROM shop.orders WHERE customer_id <= 12;
    SELECT customer_segment.register_source('few', 'shop.few', 'customer_id', 'ordered_at', 'amount', as_of => DATE '2025-12-31', time_zone => 'UTC');
    SELECT customer_segment.refresh('few');});
$warnings = report(q{customer_segment.report_html('few', holdout_weeks => 150)}, "$dir/few.html");
like($warnings, qr/WARNING:  report_html: no model charts for source "few"/, 'a model failure is a WARNING');
like(slurp("$dir/few.html"), qr/<p class="problem">Not shown: .*no customer of source &quot;few&quot; bought by 2023-02-15/, '... and said in the report');

psql($db, q{CREATE TABLE shop.none AS SELECT * FROM shop.orders WHERE false;
    SELECT customer_segment.register_source('none', 'shop.none', 'customer_id', 'ordered_at', 'amount', as_of => DATE '2025-12-31', time_zone => 'UTC');
    SELECT customer_segment.refresh('none');});
$warnings = report(q{customer_segment.report_html('none')}, "$dir/none.html");
my $none = slurp("$dir/none.html");
ok($warnings =~ /no customer of source "none" bought by 2025-07-02/ && $none =~ /As of 2025-12-31 \(UTC\), 0 customers, net revenue 0\.00/
   && scalar(@{ facts("$dir/none.html")->{svgs} }) >= 3,
   'a source without orders: its as_of, empty charts, and why there are no model charts');

# With history: the segment migration between the two latest snapshots, as segment_migrations counts it.
psql($db, q{SET client_min_messages = warning;
    SELECT customer_segment.register_source('hist', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        as_of => DATE '2025-06-30', history_days => 400, time_zone => 'UTC');
    SELECT customer_segment.refresh('hist');
    UPDATE customer_segment.sources SET as_of = DATE '2025-12-31' WHERE name = 'hist';
    SELECT customer_segment.refresh('hist');});
report(q{customer_segment.report_html('hist', holdout_weeks => 0)}, "$dir/hist.html");
my $hist = facts("$dir/hist.html");
is_deeply($hist->{h2}[-1], 'Segment migration', 'with history: a segment migration section');
my @mig = psql_rows($db, q{WITH m AS (SELECT * FROM customer_segment.segment_migrations('hist', DATE '2025-06-30', DATE '2025-12-31')),
    r AS (SELECT DISTINCT from_segment AS s FROM m), c AS (SELECT DISTINCT to_segment AS s FROM m)
    SELECT m.customers FROM r CROSS JOIN c JOIN m ON m.from_segment = r.s AND m.to_segment = c.s ORDER BY r.s, c.s});
is_deeply([map { s/,//gr } @{ $hist->{svgs}[-1]{cells} }], [map { $_->[0] } @mig],
          '... its heat map holds segment_migrations\' customers from the 2025-06-30 to the 2025-12-31 segments (' . scalar(@mig) . ' cells)');
is(scalar(grep { $_->{kind} eq 'heat' } @{ facts("$dir/plain.html")->{svgs} }), 2, '... and a source without history has none');

# A real browser: it builds the ten charts and paints them.
my $browser = "HOME='$dir/home' '$chromium' --headless --no-sandbox --disable-gpu --hide-scrollbars";
system("$browser --enable-logging=stderr --dump-dom 'file://$dir/report.html' > '$dir/dom.html' 2> '$dir/dom.err'") == 0
    or die 'chromium --dump-dom failed: ' . slurp("$dir/dom.err");
unlike(slurp("$dir/dom.err"), qr/CONSOLE|Failed to load|net::ERR_/, 'chromium loads it without console or network errors');
system("$browser --window-size=1100,4200 --screenshot='$dir/shot.png' 'file://$dir/report.html' > '$dir/shot.log' 2>&1") == 0
    or die 'chromium --screenshot failed: ' . slurp("$dir/shot.log");
my $shot = facts("$dir/report.html", "$dir/dom.html", "$dir/shot.png");
is($shot->{dom_svgs}, 10, 'the browser built 10 SVG charts');
is($shot->{dom_polylines}, 9, '... and 9 lines');
is_deeply($shot->{screenshot}, [1100, 4200], 'screenshot taken');
cmp_ok($shot->{pixels}{'#4e79a7'}, '>', 20000, "bars and actual lines painted ($shot->{pixels}{'#4e79a7'} px)");
cmp_ok($shot->{pixels}{'#08519c'}, '>', 2000, "darkest heat-map cells painted ($shot->{pixels}{'#08519c'} px)");
cmp_ok($shot->{pixels}{'#f28e2b'}, '>', 300, "BG/NBD lines painted ($shot->{pixels}{'#f28e2b'} px)");
cmp_ok($shot->{pixels}{'#59a14f'}, '>', 300, "Pareto/NBD lines painted ($shot->{pixels}{'#59a14f'} px)");

system('rm', '-rf', $dir);
done_testing();

# Model choice: the information criteria of every fit equal AIC and BIC computed from log-likelihoods that
# test/t/btyd_reference.py sums at the fitted parameters (on CDNOW when ../shared has it, else the sample
# store), the likelihood-ratio test's p-value equals scipy's chi-square tail, btyd_model_choice puts them beside
# btyd_evaluate's holdout metrics, and bad inputs get SQLSTATEs.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

my $db = new_database('cs_model_choice');
my $ref = project_root() . '/test/t/btyd_reference.py';
my ($cal_end, $obs_end, $what);
if (load_cdnow($db, 'o')) {
    ($cal_end, $obs_end, $what) = ('1997-09-30', '1998-06-30', 'CDNOW');
} else {
    psql($db, q{CREATE SCHEMA s; SELECT customer_segment.create_sample_store('s', 1500, 11);
        CREATE TABLE o AS SELECT customer_id, ordered_at::date AS day, amount AS dollars FROM s.orders;});
    ($cal_end, $obs_end, $what) = ('2025-06-30', '2025-12-31', 'the sample store (no CDNOW data in ../shared)');
}
note("data: $what");
psql($db, qq{CREATE TABLE cal AS SELECT customer_id, (s).frequency::float8 AS x, (s).recency AS tx, (s).t
    FROM (SELECT customer_id, customer_segment.rfm_summary(day, dollars, DATE '$cal_end', 'day', 'week') AS s
            FROM o WHERE day <= DATE '$cal_end' GROUP BY 1) q WHERE (s).orders > 0;
    CREATE TABLE fits AS SELECT customer_segment.bgnbd_fit(x, tx, t) AS bg, customer_segment.pareto_nbd_fit(x, tx, t) AS pn,
        customer_segment.mbgnbd_fit(x, tx, t) AS mb,
        customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[(customer_id % 2)::float8], '{}') AS bgc,
        customer_segment.bgnbd_fit_uncertainty(x, tx, t) AS bgu FROM cal;});
my $rows = join("\n", map { join(',', @$_) } psql_rows($db, q{SELECT x, tx, t FROM cal ORDER BY customer_id}));

for my $m (['bg', 'BG/NBD', 'loglik', 'r, alpha, a, b'], ['pn', 'Pareto/NBD', 'pnbdloglik', 'r, alpha, s, beta'],
           ['mb', 'MBG/NBD', 'mbgloglik', 'r, alpha, a, b']) {
    my ($col, $name, $cmd, $fields) = @$m;
    my ($p) = psql_rows($db, "SELECT " . join(', ', map { "($col).$_" } split /, /, $fields) . " FROM fits");
    my ($ours) = psql_rows($db, "SELECT c.log_likelihood, c.parameters, c.customers, c.aic, c.bic FROM fits, customer_segment.btyd_fit_criteria($col) c");
    my $ll = 0;
    $ll += $_->[0] for python_rows("$ref $cmd @$p", $rows);
    my $n = scalar(split /\n/, $rows);
    my @want = ($ll, 4, $n, 8 - 2 * $ll, 4 * log($n) - 2 * $ll);
    cmp_ok(worst_relative([@$ours[0, 3, 4]], [@want[0, 3, 4]], 0), '<', 1e-9,
           sprintf("%s on %s: log-likelihood %.2f, AIC %.2f, BIC %.2f as summed by the reference at the fitted parameters", $name, $what, @$ours[0, 3, 4]));
    is("$ours->[1] $ours->[2]", "4 $n", "... with k = 4 parameters and n = $n customers");
}
my ($covariate) = psql_rows($db, q{SELECT (customer_segment.btyd_fit_criteria(bgc)).parameters, (customer_segment.btyd_fit_criteria(bgu)).parameters FROM fits});
is_deeply($covariate, [5, 4], 'a fit with one purchase covariate has 5 parameters; a fit with its uncertainty counts its estimates');

# The likelihood-ratio test: BG/NBD inside BG/NBD with a purchase covariate.
my ($lr) = psql_rows($db, q{SELECT t.statistic, t.df, t.p_value, (bgc).log_likelihood - (bg).log_likelihood FROM fits, customer_segment.btyd_lr_test(bg, bgc) t});
is($lr->[1], 1, 'the LR test of BG/NBD against BG/NBD with one covariate has 1 degree of freedom');
cmp_ok(abs($lr->[0] - 2 * $lr->[3]), '<', 1e-9 * (1 + abs($lr->[0])), "... statistic 2 (log L_full - log L_restricted) = $lr->[0]");
my ($scipy) = python_rows(qq{-c 'from scipy.stats import chi2; print(repr(float(chi2.sf(max($lr->[0], 0), 1))))'});
cmp_ok(worst_relative([$lr->[2]], $scipy, 1e-300), '<', 1e-12, "... p-value $lr->[2] = scipy's chi-square tail");
my @tails = ([3.841458820694124, 1], [5.991464547107979, 2], [10, 5], [0.3, 7], [150, 30], [1e-6, 3]);
my @ours = map { psql($db, "SELECT customer_segment.chi_square_upper_tail($_->[0], $_->[1])") =~ s/\s+$//r } @tails;
my @theirs = map { $_->[0] } python_rows(qq{-c 'from scipy.stats import chi2
for x, df in [} . join(', ', map { "($_->[0], $_->[1])" } @tails) . qq{]: print(repr(float(chi2.sf(x, df))))'});
cmp_ok(worst_relative(\@ours, \@theirs, 1e-300), '<', 1e-12, 'chi_square_upper_tail equals scipy at six points (0.05 quantiles of df 1 and 2, far tails)');

# btyd_model_choice: the criteria of the calibration fits beside btyd_evaluate's holdout metrics.
my @choice = psql_rows($db, qq{SELECT c.model, c.parameters, c.delta_aic, c.aic = 2 * c.parameters - 2 * c.log_likelihood,
        c.mae = e.mae AND c.rmse = e.rmse AND c.holdout_log_likelihood = e.holdout_log_likelihood
   FROM customer_segment.btyd_model_choice('o', 'customer_id', 'day', 'dollars', DATE '$cal_end', DATE '$obs_end') c
   JOIN customer_segment.btyd_evaluate('o', 'customer_id', 'day', 'dollars', DATE '$cal_end', DATE '$obs_end') e USING (model)});
is(join(' ', sort map { $_->[0] } @choice), 'bgnbd mbgnbd pareto_nbd', 'btyd_model_choice: the three purchase models');
is(psql($db, qq{SELECT delta_aic FROM customer_segment.btyd_model_choice('o', 'customer_id', 'day', 'dollars', DATE '$cal_end', DATE '$obs_end') LIMIT 1}),
   "0\n", '... best AIC first (delta 0)');
is(scalar(grep { $_->[1] == 4 && $_->[3] eq 't' && $_->[4] eq 't' } @choice), 3, '... each with its AIC and btyd_evaluate\'s holdout metrics');
my ($same) = psql_rows($db, qq{SELECT abs(c.log_likelihood - (f.bg).log_likelihood) < 1e-6 * abs(c.log_likelihood)
   FROM customer_segment.btyd_model_choice('o', 'customer_id', 'day', 'dollars', DATE '$cal_end', DATE '$obs_end') c, fits f WHERE c.model = 'bgnbd'});
is($same->[0], 't', '... the BG/NBD row is the fit of the calibration summaries');

my ($sbg) = psql_rows($db, q{SELECT (customer_segment.btyd_fit_criteria(customer_segment.sbg_fit_survival(ARRAY[1000, 631, 468, 382, 326, 289, 262, 241]))).*});
cmp_ok(abs($sbg->[3] - (4 - 2 * $sbg->[0])), '<', 1e-9, "an sBG fit: k = $sbg->[1], n = $sbg->[2], AIC = 4 - 2 log L");

psql($db, q{CREATE FUNCTION sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
    BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;});
for my $bad ([q{SELECT customer_segment.btyd_fit_criteria(customer_segment.kmeans_fit(ARRAY[x, t], 2)) FROM cal}, '42804', 'criteria of a k-means model'],
             [q{SELECT customer_segment.btyd_fit_criteria(42)}, '42804', 'criteria of a number'],
             [q{SELECT customer_segment.btyd_lr_test(bgc, bg) FROM fits}, '22023', 'an LR test with the larger model first'],
             [q{SELECT customer_segment.btyd_lr_test(bg, mb) FROM fits}, '22023', 'an LR test of models with as many parameters'],
             [q{SELECT customer_segment.btyd_lr_test(bg, (SELECT customer_segment.bgnbd_covariate_fit(x, tx, t, ARRAY[1.0 * (customer_id % 3)], '{}') FROM cal WHERE customer_id % 2 = 0)) FROM fits}, '22023', 'an LR test of fits of different customers'],
             [q{SELECT customer_segment.chi_square_upper_tail(-1, 2)}, '22023', 'a negative statistic'],
             [q{SELECT customer_segment.chi_square_upper_tail('NaN', 2)}, '22023', 'a NaN statistic'],
             [q{SELECT customer_segment.chi_square_upper_tail(1, 0)}, '22023', 'zero degrees of freedom']) {
    (my $q = $bad->[0]) =~ s/'/''/g;
    is(psql($db, "SET client_min_messages = warning; SELECT sqlstate_of('$q')") =~ s/\s+$//r, $bad->[1], "$bad->[2]: $bad->[1]");
}

psql('postgres', "DROP DATABASE $db;");
done_testing();

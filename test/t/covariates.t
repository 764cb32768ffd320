# BG/NBD, Pareto/NBD and Gamma-Gamma with time-invariant covariates, against an independent scipy
# implementation (covariates_reference.py): on 20,000 customers simulated from each model with known
# coefficients (a channel dummy and a standardised score on the purchase rate or spend, a region dummy on
# dropout), the fit is scipy.optimize's maximum, its standard errors are scipy's numerical Hessian's, the
# truth is recovered within 3 standard errors, and the predictions through *_customer_model are the
# individual-parameter formulas.  All-zero covariates give the plain fit; parallel plans the serial result.
use strict;
use warnings;
use Test::More;
use List::Util qw(max);
use lib 't/lib', 'test/t/lib';
use CsTest;

my $root = project_root();
plan skip_all => 'python3-scipy is not installed' if system('/usr/bin/python3 -c "import scipy" 2>/dev/null') != 0;
sub reference { my ($args, $stdin) = @_; return python_rows("$root/test/t/covariates_reference.py $args", $stdin); }

my $db = new_database('cs_covariates');
my %models = (
    bgnbd => { table => 'sim_bgnbd', columns => 'id int, x float8, tx float8, t float8, zp1 float8, zp2 float8, zd1 float8',
               rows => 'x, tx, t, zp1, zp2, zd1', fit => 'bgnbd_covariate_fit', plain => 'bgnbd_fit',
               args => 'x, tx, t, ARRAY[zp1, zp2], ARRAY[zd1]', zero => 'x, tx, t, ARRAY[0, 0]::float8[], ARRAY[0]::float8[]',
               plain_args => 'x, tx, t',
               names => 'r alpha a b purchase_coefficients[1] purchase_coefficients[2] dropout_coefficients_a[1] dropout_coefficients_b[1]',
               predict => q{customer_segment.bgnbd_p_alive(c, x, tx, t), customer_segment.bgnbd_expected_purchases(c, 10, x, tx, t)},
               customer => q{customer_segment.bgnbd_customer_model(mdl, ARRAY[zp1, zp2], ARRAY[zd1])} },
    pnbd => { table => 'sim_pnbd', columns => 'id int, x float8, tx float8, t float8, zp1 float8, zp2 float8, zd1 float8',
              rows => 'x, tx, t, zp1, zp2, zd1', fit => 'pareto_nbd_covariate_fit', plain => 'pareto_nbd_fit',
              args => 'x, tx, t, ARRAY[zp1, zp2], ARRAY[zd1]', zero => 'x, tx, t, ARRAY[0, 0]::float8[], ARRAY[0]::float8[]',
              plain_args => 'x, tx, t',
              names => 'r alpha s beta purchase_coefficients[1] purchase_coefficients[2] dropout_coefficients[1]',
              predict => q{customer_segment.pareto_nbd_p_alive(c, x, tx, t), customer_segment.pareto_nbd_expected_purchases(c, 10, x, tx, t)},
              customer => q{customer_segment.pareto_nbd_customer_model(mdl, ARRAY[zp1, zp2], ARRAY[zd1])} },
    gg => { table => 'sim_gg', columns => 'id int, x float8, m float8, z1 float8, z2 float8',
            rows => 'x, m, z1, z2', fit => 'gamma_gamma_covariate_fit', plain => 'gamma_gamma_fit',
            args => 'x, m, ARRAY[z1, z2]', zero => q{x, m, '{}'::float8[]}, plain_args => 'x, m',
            names => 'p q gamma spend_coefficients[1] spend_coefficients[2]',
            predict => q{customer_segment.gamma_gamma_expected_spend(c, x, m)},
            customer => q{customer_segment.gamma_gamma_customer_model(mdl, ARRAY[z1, z2])} },
);

for my $model (qw(bgnbd pnbd gg)) {
    my $s = $models{$model};
    my $sim = join('', map { join(',', @$_) . "\n" } reference("simulate $model 20000 11"));
    psql($db, "CREATE TABLE $s->{table} ($s->{columns}); \\copy $s->{table} FROM PSTDIN WITH CSV", $sim);
    my $rows = psql($db, "COPY (SELECT $s->{rows} FROM $s->{table} ORDER BY id) TO STDOUT (FORMAT csv);");
    my ($truth) = reference("truth $model");

    # The fit and its uncertainty, against scipy's maximum and numerical Hessian.
    my ($u) = psql_rows($db, qq{SELECT array_to_string((u).estimate, ' '), array_to_string((u).standard_error, ' '),
            array_to_string((u).parameter, ' '), (u).log_likelihood, (u).converged, (u).customers
        FROM (SELECT customer_segment.$s->{fit}_uncertainty($s->{args}) AS u FROM $s->{table}) x;});
    my @est = split / /, $u->[0];
    my @se = split / /, $u->[1];
    my ($sp_est, $sp_ll, $sp_se) = reference("fit $model", $rows);
    is($u->[4], 't', "$model: the covariate fit of $u->[5] simulated customers converged");
    is($u->[2], $s->{names}, "... parameters $u->[2]");
    cmp_ok(worst_relative(\@est, $sp_est, 1e-3), '<', 2e-5, "... estimates @est are scipy.optimize's maximum (@$sp_est)");
    cmp_ok($u->[3] - $sp_ll->[0], '>', -1e-6, sprintf('... log-likelihood %.6f, at least scipy\'s %.6f', $u->[3], $sp_ll->[0]));
    my ($ll_at_ours) = reference("loglik $model @est", $rows);
    cmp_ok(abs($u->[3] - $ll_at_ours->[0]) / abs($ll_at_ours->[0]), '<', 1e-12, '... and is scipy\'s log-likelihood at our estimates');
    cmp_ok(worst_relative(\@se, $sp_se, 0), '<', 1e-3, "... standard errors @se are scipy's numerical Hessian's");
    my @off = map { abs($est[$_] - $truth->[$_]) / $se[$_] } 0 .. $#est;
    cmp_ok(max(@off), '<', 3, sprintf("... the true parameters (@$truth) are recovered within 3 standard errors (worst %.2f SE)", max(@off)));

    # The aggregate without uncertainty: the same estimates.
    my @base = split / /, $s->{names};
    @base = @base[0 .. ($model eq 'gg' ? 2 : 3)];
    my ($plain_est) = psql_rows($db, 'SELECT ' . join(", ' ', ", map { "(m).$_" } @base)
        . " FROM (SELECT customer_segment.$s->{fit}($s->{args}) AS m FROM $s->{table}) x;");
    is(join('', @$plain_est), "@est[0 .. $#base]", '... the fit without uncertainty has the same parameters');

    # All-zero covariates: the plain model's fit.
    my ($z) = psql_rows($db, qq{SET client_min_messages = warning; SELECT (a).log_likelihood - (b).log_likelihood,
            greatest(abs((a).r - (b).r) / (b).r, abs((a).alpha - (b).alpha) / (b).alpha)
        FROM (SELECT customer_segment.$s->{fit}($s->{zero}) AS a, customer_segment.$s->{plain}($s->{plain_args}) AS b FROM $s->{table}) x;})
        if $model ne 'gg';
    ($z) = psql_rows($db, qq{SET client_min_messages = warning; SELECT (a).log_likelihood - (b).log_likelihood,
            greatest(abs((a).p - (b).p) / (b).p, abs((a).q - (b).q) / (b).q, abs((a).gamma - (b).gamma) / (b).gamma)
        FROM (SELECT customer_segment.$s->{fit}($s->{zero}) AS a, customer_segment.$s->{plain}($s->{plain_args}) AS b FROM $s->{table}) x;})
        if $model eq 'gg';
    ok(@$z == 2 && $z->[0] =~ /^-?[\d.e-]+$/ && $z->[1] =~ /^[\d.e-]+$/ && abs($z->[0]) <= 1e-8 && $z->[1] <= 1e-8, "... all-zero covariates give the plain fit (log-likelihood differs by $z->[0], parameters by $z->[1])");

    # Predictions: the plain model's functions on the customer's model are the individual-parameter formulas.
    my @ours = psql_rows($db, qq{WITH f AS (SELECT customer_segment.$s->{fit}($s->{args}) AS mdl FROM $s->{table})
        SELECT $s->{predict} FROM (SELECT s.*, $s->{customer} AS c FROM $s->{table} s, f ORDER BY id) x;});
    my @ref = reference("predict $model 10 @est", $rows);
    my $w = max(map { worst_relative($ours[$_], $ref[$_], 1e-12) } 0 .. $#ref);
    cmp_ok($w, '<', 1e-9, sprintf('... predictions of all %d customers through the customer model are scipy\'s (worst %.1e)', scalar(@ref), $w));

    # Parallel workers: partial states combined give the serial fit.
    my $q = "SELECT customer_segment.$s->{fit}($s->{args}) FROM $s->{table}";
    my $serial = psql($db, "SET max_parallel_workers_per_gather = 0; $q;");
    my $parallel_sql = "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
        SET max_parallel_workers_per_gather = 2; SET parallel_leader_participation = off;";
    like(psql($db, "$parallel_sql EXPLAIN (COSTS OFF) $q;"), qr/Partial Aggregate/, '... a forced parallel plan has partial aggregates');
    is(psql($db, "$parallel_sql $q;"), $serial, '... and gives the serial fit');
}

# btyd_analyze with a covariates relation: every customer's predictions are those of the covariate fits of the
# summary (through the customer models); customers without a covariates row get none.
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 2000, 5);
    CREATE TABLE cal AS SELECT customer_id, (customer_segment.rfm_summary(ordered_at, amount, DATE '2024-12-31', 'day', 'week', 'UTC')).*
      FROM shop.orders GROUP BY 1;
    DELETE FROM cal WHERE coalesce(orders, 0) = 0;
    CREATE TABLE feats AS SELECT customer_id, ARRAY[(channel = 'web')::int, (channel = 'app')::int]::float8[] AS purchase_covariates,
           ARRAY[(signup_date < DATE '2024-01-01')::int]::float8[] AS dropout_covariates,
           ARRAY[(channel = 'store')::int]::float8[] AS spend_covariates
      FROM shop.customers WHERE customer_id % 10 <> 3;});
for my $m (qw(bgnbd pareto_nbd)) {
    my $fit = $m;
    my $bg = $m eq 'bgnbd' ? 'customer_segment.bgnbd_customer_model(m.pm, f.purchase_covariates, f.dropout_covariates)'
                           : 'NULL::customer_segment.bgnbd_model';
    my $pn = $m eq 'pareto_nbd' ? 'customer_segment.pareto_nbd_customer_model(m.pm, f.purchase_covariates, f.dropout_covariates)'
                                : 'NULL::customer_segment.pareto_nbd_model';
    my ($ba) = psql_rows($db, qq{SET client_min_messages = warning;
        WITH a AS (SELECT * FROM customer_segment.btyd_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount',
                        DATE '2024-12-31', 26, 'week', margin => 0.3, zone => 'UTC', model => '$m', covariates => 'feats')),
             m AS (SELECT customer_segment.${fit}_covariate_fit(c.frequency, c.recency, c.t, f.purchase_covariates, f.dropout_covariates) AS pm,
                          customer_segment.gamma_gamma_covariate_fit(c.frequency, c.monetary_value, f.spend_covariates)
                              FILTER (WHERE c.frequency = 0 OR c.monetary_value > 0) AS gm
                     FROM cal c JOIN feats f USING (customer_id)),
             d AS (SELECT c.customer_id::text AS customer_id, p.*
                     FROM cal c JOIN feats f USING (customer_id), m,
                          customer_segment.btyd_predict(
                              $bg, $pn,
                              customer_segment.gamma_gamma_customer_model(m.gm, f.spend_covariates),
                              c.frequency, c.recency, c.t, c.monetary_value, 26, 12, 0.01, 4.345, 0.3) p)
        SELECT count(*), count(d.customer_id),
               count(*) FILTER (WHERE d.customer_id IS NULL AND a.p_alive IS NULL AND a.clv IS NULL),
               count(*) FILTER (WHERE abs(a.p_alive - d.p_alive) <= 1e-12 AND abs(a.expected_purchases - d.expected_purchases) <= 1e-12
                                  AND abs(a.clv - d.clv) <= 1e-9 * abs(d.clv))
          FROM a LEFT JOIN d USING (customer_id);});
    ok($ba->[0] > 1000 && $ba->[1] + $ba->[2] == $ba->[0] && $ba->[3] == $ba->[1] && $ba->[2] > 50,
       "btyd_analyze(model => '$m', covariates => ...): $ba->[3] of $ba->[1] customers with covariates have the covariate fits' predictions, "
       . "the other $ba->[2] none");
}

done_testing();

# Subscriptions: the sBG fit reproduces Fader & Hardie's (2007) published estimates and scipy's maximum on
# their two cohorts (years 1-7), the aggregate over contract histories (weighted, parallel) agrees with the
# survival-count form, the curve, DERL and values equal independent computations (test/t/sbg_reference.py:
# betaln and term-by-term loop sums), and bad inputs get SQLSTATEs.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

my $db = new_database('cs_sbg');
my $ref = project_root() . '/test/t/sbg_reference.py';

# Fader & Hardie (2007), Table 1: % of each cohort still a customer after 0..12 years.
my %cohort = (
    regular  => [100.0, 63.1, 46.8, 38.2, 32.6, 28.9, 26.2, 24.1, 22.3, 20.7, 19.4, 18.3, 17.3],
    high_end => [100.0, 86.9, 74.3, 65.3, 59.3, 55.1, 51.7, 49.1, 46.8, 44.5, 42.7, 40.9, 39.4],
);
my %published = (regular => [0.704, 1.182], high_end => [0.668, 3.806]);
my %model;
for my $name (sort keys %cohort) {
    my @years = @{ $cohort{$name} }[0 .. 7];
    my $array = 'ARRAY[' . join(',', @years) . ']::float8[]';
    my ($fit) = psql_rows($db, "SELECT m.alpha, m.beta, m.log_likelihood, m.converged FROM customer_segment.sbg_fit_survival($array) m");
    is(sprintf('%.3f %.3f', @$fit[0, 1]), sprintf('%.3f %.3f', @{ $published{$name} }), "$name cohort, years 1-7: the paper's alpha and beta to its three decimals");
    my ($scipy) = python_rows("$ref fit", join(',', @years));
    cmp_ok(worst_relative([@$fit[0 .. 2]], $scipy, 0), '<', 1e-6, "... and scipy's maximum (alpha, beta, log-likelihood)");
    is($fit->[3], 't', '... converged');
    $model{$name} = "ROW($fit->[0], $fit->[1], 0, 0, 0, 0, true)::customer_segment.sbg_model";
}

# The aggregate over contract histories: a cohort of 1000 customers as per-customer rows, weighted rows, and in
# parallel, gives the fit of the counts.
psql($db, q{
    CREATE TABLE contracts AS
    SELECT c.k AS renewals, c.active FROM (VALUES (0, false, 369), (1, false, 163), (2, false, 86), (3, false, 56),
        (4, false, 37), (5, false, 27), (6, false, 21), (7, true, 241)) c(k, active, n), generate_series(1, c.n);
    CREATE TABLE contracts_big AS SELECT c.* FROM contracts c, generate_series(1, 200);
    ANALYZE contracts; ANALYZE contracts_big;});
my ($counts) = psql_rows($db, q{SELECT alpha, beta, log_likelihood, customers FROM customer_segment.sbg_fit_survival(ARRAY[1000, 631, 468, 382, 326, 289, 262, 241])});
my ($rows) = psql_rows($db, q{SELECT (m).alpha, (m).beta, (m).log_likelihood, (m).customers, (m).distinct_rows FROM (SELECT customer_segment.sbg_fit(renewals, active) m FROM contracts) x});
cmp_ok(worst_relative([@$rows[0 .. 2]], [@$counts[0 .. 2]], 0), '<', 1e-9, "sbg_fit over 1000 customers' histories equals the survival-count fit ($rows->[4] distinct rows)");
is($rows->[3], 1000, '... counting 1000 customers');
my ($weighted) = psql_rows($db, q{SELECT (m).alpha, (m).beta FROM (SELECT customer_segment.sbg_fit(renewals, active, n::float8) m
    FROM (SELECT renewals, active, count(*) n FROM contracts GROUP BY 1, 2) g) x});
cmp_ok(worst_relative($weighted, [@$rows[0, 1]], 0), '<', 1e-12, '... and the weighted form');
my ($par) = psql_rows($db, q{SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
    SET max_parallel_workers_per_gather = 2;
    SELECT (m).alpha, (m).beta, (m).customers FROM (SELECT customer_segment.sbg_fit(renewals, active) m FROM contracts_big) x});
cmp_ok(worst_relative([@$par[0, 1]], [@$rows[0, 1]], 0), '<', 1e-9, 'a parallel fit over 200,000 histories (combined states) has the same maximum');
like(psql($db, q{SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0;
    EXPLAIN (COSTS OFF) SELECT customer_segment.sbg_fit(renewals, active) FROM contracts_big}), qr/Partial Aggregate/, '... planned in two phases');
my ($unc) = psql_rows($db, q{SELECT (u).estimate[1], (u).estimate[2], (u).standard_error[1] > 0, (u).standard_error[2] > 0,
    (u).lower_95[1] < (u).estimate[1] AND (u).estimate[1] < (u).upper_95[1]
    FROM (SELECT customer_segment.sbg_fit_uncertainty(renewals, active) u FROM contracts) x});
is_deeply([@$unc[2 .. 4]], ['t', 't', 't'], 'sbg_fit_uncertainty gives standard errors and an interval around alpha');
cmp_ok(worst_relative([@$unc[0, 1]], [@$rows[0, 1]], 0), '<', 1e-12, '... at the same estimates');

# Survival, retention and churn by period, against betaln; projected years 8-12 against the paper's data.
for my $name (sort keys %model) {
    my ($a, $b) = $model{$name} =~ /ROW\(([^,]+), ([^,]+),/;
    my @ours = psql_rows($db, "SELECT period, survival, retention_rate, churn_probability FROM customer_segment.sbg_projection($model{$name}, 12) ORDER BY 1");
    my @theirs = python_rows("$ref curve $a $b 12");
    is(scalar(@ours), 13, "$name: 13 periods projected");
    my $worst = 0;
    for my $i (0 .. 12) {
        for my $j (1 .. 3) {
            next if $ours[$i][$j] eq '' && ($theirs[$i][$j] // '') eq '';
            my $w = worst_relative([$ours[$i][$j]], [$theirs[$i][$j]], 0);
            $worst = $w if $w > $worst;
        }
    }
    cmp_ok($worst, '<', 1e-12, '... survival, retention rate and churn probability equal betaln\'s');
    my $gap = 0;
    for my $t (8 .. 12) {
        my $g = abs($ours[$t][1] * 100 - $cohort{$name}[$t]);
        $gap = $g if $g > $gap;
    }
    cmp_ok($gap, '<', 3.0, sprintf('... the projection of years 8-12 is within %.2f points of what the paper observed', $gap));
}

# DERL and values against loop sums, for customers early and late in their contracts.
for my $case ([0.1, 0], [0.1, 4], [0.01, 0], [0.01, 10], [0.25, 50]) {
    my ($d, $k) = @$case;
    for my $name (sort keys %model) {
        my ($a, $b) = $model{$name} =~ /ROW\(([^,]+), ([^,]+),/;
        my ($ours) = psql_rows($db, "SELECT customer_segment.sbg_derl($model{$name}, $d, $k), customer_segment.sbg_expected_payments_new($model{$name}, $d),
            customer_segment.sbg_value($model{$name}, $d, 25, $k), customer_segment.sbg_value_new($model{$name}, $d, 25)");
        my ($theirs) = python_rows("$ref derl $a $b $d $k");
        cmp_ok(worst_relative([@$ours[0, 1]], $theirs, 0), '<', 1e-10, "$name, discount $d, $k renewals: DERL $ours->[0] and a new customer's payments equal loop sums");
        cmp_ok(worst_relative([@$ours[2, 3]], [25 * $theirs->[0], 25 * $theirs->[1]], 0), '<', 1e-10, '... and the values at a margin of 25');
    }
}
my ($undiscounted) = psql_rows($db, q{SELECT customer_segment.sbg_expected_renewals(ROW(2.5, 3, 0, 0, 0, 0, true)::customer_segment.sbg_model, 4),
    customer_segment.sbg_expected_renewals(ROW(0.7, 1.2, 0, 0, 0, 0, true)::customer_segment.sbg_model, 4)});
my ($loop) = python_rows("$ref derl 2.5 3 0 4");
cmp_ok(worst_relative([$undiscounted->[0]], [$loop->[0]], 0), '<', 1e-6, "undiscounted expected renewals (alpha 2.5) $undiscounted->[0] = (beta + k) / (alpha - 1), as the loop sum");
is($undiscounted->[1], 'Infinity', '... and infinite when alpha <= 1');

# One call over a subscriptions table: monthly contracts started in 2022-2024, cancelled after a geometric
# number of months (some mid-period), running at as_of with no end or a future one.
psql($db, q{
    SELECT setseed(0.42);
    CREATE TABLE subs AS
    SELECT i AS member, s, p,
           CASE WHEN s + t * p <= DATE '2025-12-31' THEN (s + t * p)::date - CASE WHEN i % 3 = 0 THEN 10 ELSE 0 END
                WHEN i % 2 = 0 THEN (s + t * p)::date END AS ended_on
      FROM (SELECT i, (DATE '2022-01-01' + (i % 3) * interval '1 year' + (i % 31) * interval '1 day')::date AS s,
                   interval '1 month' AS p,
                   greatest(1, ceil(ln(1 - random()) / ln(1 - (0.02 + 0.5 * random() ^ 2))))::int AS t
              FROM generate_series(1, 3000) i) x;});
my @contracts = psql_rows($db, q{SELECT a.customer_id, a.cohort, a.renewals, a.active,
        (SELECT max(n) FROM generate_series(0, 2000) n
          WHERE s.s + n * s.p <= CASE WHEN s.ended_on <= DATE '2025-12-31' THEN s.ended_on - 1 ELSE DATE '2025-12-31' END),
        s.ended_on IS NULL OR s.ended_on > DATE '2025-12-31'
   FROM customer_segment.sbg_analyze('subs', 'member', 's', 'ended_on', 'p', DATE '2025-12-31') a
   JOIN subs s ON s.member::text = a.customer_id ORDER BY a.customer_id::int});
is(scalar(@contracts), 3000, 'sbg_analyze: a row per contract');
is(scalar(grep { $_->[2] != $_->[4] || $_->[3] ne $_->[5] } @contracts), 0,
   '... renewals and activity of every contract equal a count of the periods begun (plain SQL over generate_series)');
my %by_cohort;
push @{ $by_cohort{$_->[1]} }, "$_->[2]," . ($_->[3] eq 't' ? 0 : 1) for @contracts;
my %fit = map { $_->[0] => $_ } psql_rows($db, q{SELECT cohort, min(alpha), min(beta), count(*) FILTER (WHERE active),
    sum(value) FILTER (WHERE active), min(renewals) FILTER (WHERE active)
    FROM customer_segment.sbg_analyze('subs', 'member', 's', 'ended_on', 'p', DATE '2025-12-31', 0.01, 25) GROUP BY 1});
is(join(' ', sort keys %fit), '2022-01-01 2023-01-01 2024-01-01', '... in three yearly cohorts');
for my $c (sort keys %by_cohort) {
    my ($scipy) = python_rows("$ref histories", join("\n", @{ $by_cohort{$c} }));
    cmp_ok(worst_relative([@{ $fit{$c} }[1, 2]], [@$scipy[0, 1]], 0), '<', 1e-5,
           "cohort $c: alpha $fit{$c}[1], beta $fit{$c}[2] are scipy's maximum over its contracts");
}
my ($first_active) = psql_rows($db, q{SELECT cohort, alpha, beta, renewals, derl, value, renewal_probability
    FROM customer_segment.sbg_analyze('subs', 'member', 's', 'ended_on', 'p', DATE '2025-12-31', 0.01, 25)
    WHERE active ORDER BY customer_id::int LIMIT 1});
my ($active_loop) = python_rows("$ref derl $first_active->[1] $first_active->[2] 0.01 $first_active->[3]");
cmp_ok(worst_relative([$first_active->[4], $first_active->[5]], [$active_loop->[0], 25 * $active_loop->[0]], 0), '<', 1e-10,
       "an active contract's DERL and value (margin 25) equal the loop sum at its cohort's fit");
cmp_ok(abs($first_active->[6] - ($first_active->[2] + $first_active->[3]) / ($first_active->[1] + $first_active->[2] + $first_active->[3])), '<', 1e-12,
       '... and its probability of renewing next is (beta + k) / (alpha + beta + k)');
my @cohorts = psql_rows($db, q{SELECT cohort, contracts, active, active_value, new_contract_value, period
    FROM customer_segment.sbg_cohorts('subs', 'member', 's', 'ended_on', 'p', DATE '2025-12-31', 0.01, 25)});
is(scalar(grep { $_->[1] == 1000 && $_->[2] == $fit{$_->[0]}[3] && abs($_->[3] - $fit{$_->[0]}[4]) < 1e-6 * abs($_->[3]) && $_->[4] > 25 && $_->[5] eq '1 mon' } @cohorts), 3,
   'sbg_cohorts: 1000 contracts a cohort, its active ones and the sum of their values, a new contract worth more than one payment');
my ($all) = psql_rows($db, q{SELECT count(DISTINCT alpha), count(*), bool_and(cohort IS NULL)
    FROM customer_segment.sbg_analyze('subs', 'member', 's', 'ended_on', 'p', DATE '2025-12-31', cohort_by => 'all')});
is_deeply($all, [1, 3000, 't'], "cohort_by => 'all': one fit over every contract");
psql($db, q{CREATE TABLE subs_tz AS SELECT member, (s + time '23:30')::timestamp AT TIME ZONE 'UTC' AS started_at,
    (ended_on + time '23:30')::timestamp AT TIME ZONE 'UTC' AS ended_at, p FROM subs;
    CREATE TABLE subs_next_day AS SELECT member, s + 1 AS s, ended_on + 1 AS ended_on, p FROM subs;});
my $differ = q{SELECT count(*) FROM customer_segment.sbg_analyze('subs_tz', 'member', 'started_at', 'ended_at', 'p', DATE '2025-12-31', zone => '%s') a
    JOIN customer_segment.sbg_analyze('%s', 'member', 's', 'ended_on', 'p', DATE '2025-12-31') b USING (customer_id)
    WHERE a.cohort IS DISTINCT FROM b.cohort OR a.renewals <> b.renewals OR a.active <> b.active OR a.alpha <> b.alpha};
is(psql($db, 'SET TimeZone = \'America/New_York\'; ' . sprintf($differ, 'UTC', 'subs')), "0\n",
   'timestamptz columns are taken as days in the zone given: 23:30 UTC is that day in UTC');
is(psql($db, 'SET TimeZone = \'America/New_York\'; ' . sprintf($differ, 'Asia/Tokyo', 'subs_next_day')), "0\n",
   '... and the next day in Tokyo, whatever the session\'s TimeZone');

# The sample memberships: reproducible, both plans, and sBG fits of every yearly cohort of the monthly plan.
psql($db, q{CREATE SCHEMA m1; CREATE SCHEMA m2; CREATE SCHEMA m3;
    SELECT count(*) FROM customer_segment.create_sample_subscriptions('m1', 3000, 7);
    SELECT count(*) FROM customer_segment.create_sample_subscriptions('m2', 3000, 7);
    SELECT count(*) FROM customer_segment.create_sample_subscriptions('m3', 3000, 8);});
my $digest = q{SELECT md5(string_agg(s::text, '|' ORDER BY subscription_id)) FROM %s.subscriptions s};
is(psql($db, sprintf($digest, 'm1')), psql($db, sprintf($digest, 'm2')), 'create_sample_subscriptions: one seed, one table');
isnt(psql($db, sprintf($digest, 'm1')), psql($db, sprintf($digest, 'm3')), '... another seed, another table');
my ($shape) = psql_rows($db, q{SELECT count(*), count(*) FILTER (WHERE plan = 'monthly'), count(*) FILTER (WHERE ended_on IS NULL),
    bool_and(started_on BETWEEN DATE '2023-01-01' AND DATE '2025-12-31' AND (ended_on IS NULL OR ended_on > started_on AND ended_on <= DATE '2025-12-31'))
    FROM m1.subscriptions});
ok($shape->[0] == 3000 && $shape->[1] > 1900 && $shape->[1] < 2300 && $shape->[2] > 300 && $shape->[3] eq 't',
   "... 3000 memberships, $shape->[1] monthly, $shape->[2] running, every one within the dates");
psql($db, q{CREATE VIEW m1.monthly AS SELECT * FROM m1.subscriptions WHERE plan = 'monthly';});
my @plan = psql_rows($db, q{SELECT cohort, alpha, beta FROM customer_segment.sbg_cohorts('m1.monthly', 'member_id', 'started_on', 'ended_on', 'period', DATE '2025-12-31')});
is(scalar(grep { $_->[1] > 0.05 && $_->[1] < 20 && $_->[2] > 0.05 && $_->[2] < 50 } @plan), 3, '... the monthly plan\'s three yearly cohorts have finite sBG fits');

# Bad inputs.
my @bad = (
    [q{SELECT customer_segment.sbg_fit_survival(ARRAY[100, 60, 70]::float8[])}, '22023', 'survival counts that rise'],
    [q{SELECT customer_segment.sbg_fit_survival(ARRAY[100, -1]::float8[])}, '22023', 'a negative count'],
    [q{SELECT customer_segment.sbg_fit_survival(ARRAY[100, NULL, 40]::float8[])}, '22004', 'a NULL count'],
    [q{SELECT customer_segment.sbg_fit_survival(ARRAY[100, 'NaN', 40]::float8[])}, '22023', 'a NaN count'],
    [q{SELECT customer_segment.sbg_fit_survival(ARRAY[100]::float8[])}, '22023', 'a cohort without a later count'],
    [q{SELECT customer_segment.sbg_fit_survival(ARRAY[100, 100, 100]::float8[])}, '22023', 'a cohort nobody left'],
    [q{SELECT customer_segment.sbg_fit_survival(ARRAY[5, 3, 1]::float8[])}, '22023', 'fewer than 10 customers'],
    [q{SELECT customer_segment.sbg_fit_survival(ARRAY[[100, 50], [40, 30]]::float8[])}, '2202E', 'a two-dimensional array'],
    [q{SELECT customer_segment.sbg_fit(k, true) FROM (VALUES (-1)) v(k)}, '22023', 'negative renewals'],
    [q{SELECT customer_segment.sbg_fit(1, true, -2)}, '22023', 'a negative weight'],
    [q{SELECT customer_segment.sbg_fit(renewals, active) FROM contracts}, 'ok', 'a plain fit (control)'],
    [q{SELECT customer_segment.sbg_derl(ROW(0.7, 1.2, 0, 0, 0, 0, true)::customer_segment.sbg_model, 0, 1)}, '22023', 'a zero discount rate'],
    [q{SELECT customer_segment.sbg_derl(ROW(0.7, 1.2, 0, 0, 0, 0, true)::customer_segment.sbg_model, 'NaN', 1)}, '22023', 'a NaN discount rate'],
    [q{SELECT customer_segment.sbg_derl(ROW(0.7, 1.2, 0, 0, 0, 0, true)::customer_segment.sbg_model, 0.1, -3)}, '22023', 'negative renewals in DERL'],
    [q{SELECT customer_segment.sbg_derl(ROW(-0.7, 1.2, 0, 0, 0, 0, true)::customer_segment.sbg_model, 0.1, 1)}, '22023', 'a negative alpha'],
    [q{SELECT customer_segment.sbg_derl(ROW(NULL, 1.2, 0, 0, 0, 0, true)::customer_segment.sbg_model, 0.1, 1)}, '22004', 'a NULL alpha'],
    [q{SELECT customer_segment.sbg_survival(ROW(0.7, 1.2, 0, 0, 0, 0, true)::customer_segment.sbg_model, -1)}, '22023', 'a negative period'],
    [q{SELECT customer_segment.sbg_churn_probability(ROW(0.7, 1.2, 0, 0, 0, 0, true)::customer_segment.sbg_model, 0)}, '22023', 'churn in period 0'],
    [q{SELECT count(*) FROM customer_segment.sbg_projection(ROW(0.7, 1.2, 0, 0, 0, 0, true)::customer_segment.sbg_model, -2)}, '22023', 'a negative projection horizon'],
    [q{SELECT count(*) FROM customer_segment.sbg_analyze('subs_mixed', 'member', 's', 'ended_on', 'p', DATE '2025-12-31')}, '22023', 'a cohort of monthly and yearly contracts'],
    [q{SELECT count(*) FROM customer_segment.sbg_analyze('subs_bad_period', 'member', 's', 'ended_on', 'p', DATE '2025-12-31')}, '22023', 'a period of a month and a day'],
    [q{SELECT count(*) FROM customer_segment.sbg_analyze('subs_backwards', 'member', 's', 'ended_on', 'p', DATE '2025-12-31')}, '22023', 'a contract that ends before it starts'],
    [q{SELECT count(*) FROM customer_segment.sbg_analyze('subs', 'member', 's', 'ended_on', 'member', DATE '2025-12-31')}, '42804', 'a period column that is not an interval'],
    [q{SELECT count(*) FROM customer_segment.sbg_analyze('subs', 'member', 's', 'ended_on', 'p', NULL)}, '22004', 'a NULL as_of'],
    [q{SELECT count(*) FROM customer_segment.sbg_analyze('subs', 'member', 's', 'ended_on', 'p', DATE '2025-12-31', 0)}, '22023', 'a zero discount rate in sbg_analyze'],
    [q{SELECT count(*) FROM customer_segment.sbg_analyze('subs', 'member', 's', 'ended_on', 'p', DATE '2025-12-31', cohort_by => 'week')}, '22023', 'an unknown cohort'],
    [q{SELECT count(*) FROM customer_segment.sbg_analyze('subs', 'member', 's', 'ended_on', 'p', DATE '2025-12-31', zone => 'Mars/Olympus')}, '22023', 'an unknown zone'],
    [q{SELECT count(*) FROM customer_segment.sbg_analyze('m1.subscriptions', 'member_id', 'started_on', 'ended_on', 'period', DATE '2025-12-31')}, '22023', 'both plans at once (mixed periods)'],
    [q{SELECT count(*) FROM customer_segment.create_sample_subscriptions('m1')}, '42P07', 'a second sample in one schema'],
    [q{SELECT count(*) FROM customer_segment.create_sample_subscriptions('m1', 0)}, '22023', 'no members'],
    [q{SELECT count(*) FROM customer_segment.create_sample_subscriptions('nowhere')}, '3F000', 'a schema that does not exist'],
);
psql($db, q{CREATE TABLE subs_mixed AS SELECT member, s, ended_on, CASE WHEN member % 2 = 0 THEN interval '1 year' ELSE p END AS p FROM subs;
    CREATE TABLE subs_bad_period AS SELECT member, s, ended_on, interval '1 month 1 day' AS p FROM subs;
    CREATE TABLE subs_backwards AS SELECT member, s, CASE WHEN member = 7 THEN s - 3 ELSE ended_on END AS ended_on, p FROM subs;});
psql($db, q{CREATE FUNCTION sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
    BEGIN EXECUTE q; RETURN 'ok'; EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE; END $$;});
for my $b (@bad) {
    (my $q = $b->[0]) =~ s/'/''/g;
    is(psql($db, "SELECT sqlstate_of('$q')") =~ s/\s+$//r, $b->[1], "$b->[2]: $b->[1]");
}

psql('postgres', "DROP DATABASE $db;");
done_testing();

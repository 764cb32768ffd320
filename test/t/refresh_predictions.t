# Optional prediction columns never abort a refresh: when a prediction fails on a data error, the refresh
# succeeds with p_alive, expected_purchases_90d, expected_spend and clv_12m NULL and says why in
# refresh_log.note; any other failure still fails the refresh and keeps the previous results.
# The failure is injected by replacing gamma_gamma_expected_spend in this test's own database (real data
# that breaks a fit is rare: the fits guard their inputs); a NaN amount stands for a failure elsewhere.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

my $db = new_database('cs_refresh_predictions');
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 800, 9);
    SELECT count(*) FROM customer_segment.register_source('web', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        as_of => DATE '2025-12-31', history_days => 30);});
my $spend_sig = 'customer_segment.gamma_gamma_expected_spend(model customer_segment.gamma_gamma_model, frequency float8, monetary_value float8)';
sub spend_raises {
    my ($sqlstate) = @_;
    psql($db, qq{CREATE OR REPLACE FUNCTION $spend_sig RETURNS float8 LANGUAGE plpgsql IMMUTABLE STRICT AS \$\$
        BEGIN
            IF \$2 > 3 THEN RAISE EXCEPTION 'value out of range: overflow' USING ERRCODE = '$sqlstate'; END IF;
            RETURN \$3;
        END \$\$;});
}
sub spend_restored {
    psql($db, qq{CREATE OR REPLACE FUNCTION $spend_sig RETURNS float8
        AS '\$libdir/customer_segment', 'gg_expected_spend_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;});
}
sub last_log {
    my ($r) = psql_rows($db, q{SELECT status, coalesce(error, ''), coalesce(note, ''), customers FROM customer_segment.refresh_log ORDER BY id DESC LIMIT 1;});
    return $r;
}
my $view_sql = q{SELECT count(*), count(p_alive), count(expected_purchases_90d), count(expected_spend), count(clv_12m),
    count(segment), count(lifecycle_stage), (SELECT sum(customers) FROM shop.web_segments),
    (SELECT count(*) FROM customer_segment.segment_history) FROM shop.web_customers WHERE orders > 0;};

# A prediction that overflows: the refresh is ok, the four columns NULL, everything else fresh, the note says why.
spend_raises('22003');
my ($st) = psql_rows($db, q{SET client_min_messages = error; SELECT customer_segment.refresh('web');});
is($st->[0], 'ok', 'a prediction raising 22003 does not fail the refresh');
my $log = last_log();
is_deeply([@$log[0, 1]], ['ok', ''], 'logged as ok, no error');
like($log->[2], qr/^prediction columns left NULL: 22003: value out of range: overflow$/, 'the note says which error left the predictions NULL');
my ($v) = psql_rows($db, $view_sql);
ok($v->[0] > 600, "$v->[0] buying customers refreshed");
is_deeply([@$v[1 .. 4]], [0, 0, 0, 0], 'p_alive, expected purchases, spend and CLV are NULL for all of them');
is_deeply([@$v[5, 6]], [$v->[0], $v->[0]], 'segments and lifecycle stages are all there');
cmp_ok($v->[7], '>=', $v->[0], 'the summaries were refreshed too');
cmp_ok($v->[8], '>', 0, 'and the history snapshot taken');

# Predictions that work again: the next refresh fills them and has no note.
spend_restored();
($st) = psql_rows($db, q{SET client_min_messages = error; SELECT customer_segment.refresh('web');});
$log = last_log();
is_deeply([$st->[0], @$log[0 .. 2]], ['ok', 'ok', '', ''], 'with the predictions working the refresh is ok without a note');
my ($filled) = psql_rows($db, $view_sql);
is_deeply([@$filled[1, 2, 4]], [($filled->[0]) x 3], 'and the prediction columns are filled again');

# An error that is not a data error is a failed refresh; the previous rows stay.
spend_raises('XX000');
($st) = psql_rows($db, q{SET client_min_messages = error; SELECT customer_segment.refresh('web');});
$log = last_log();
is_deeply([$st->[0], $log->[0], $log->[2]], ['failed', 'failed', ''], 'an internal error (XX000) in a prediction still fails the refresh');
like($log->[1], qr/^XX000: /, '... logged with its SQLSTATE');
is_deeply([psql_rows($db, $view_sql)]->[0], $filled, 'and the views keep the previous rows, predictions included');
spend_restored();

# A data error outside the predictions fails the second attempt as well: failed, with that error.
psql($db, q{INSERT INTO shop.orders VALUES (99999999, 1, '2025-06-01 10:00+00', 'NaN');});
($st) = psql_rows($db, q{SET client_min_messages = error; SELECT customer_segment.refresh('web');});
$log = last_log();
is_deeply([$st->[0], $log->[0], $log->[2]], ['failed', 'failed', ''], 'a NaN amount still fails the refresh, without a note');
like($log->[1], qr/^22023: /, '... with the error of the orders');
is_deeply([psql_rows($db, $view_sql)]->[0], $filled, 'and the views keep the previous rows');

psql('postgres', "DROP DATABASE $db;");
done_testing();

# Across PostgreSQL majors: the same battery on every major test/check.sh installed the extension into
# (CS_MAJOR_PG_CONFIGS, "major:pg_config ...": 15, 17 and 18) finds the same results, and what one major
# stored (aggregate states, fitted models, a k-means model) reads back on the others after pg_dump and
# restore, with the same answers.  Each major gets its own cluster here.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;
use CsCluster;

my @majors = map { [ split /:/, $_, 2 ] } split ' ', ($ENV{CS_MAJOR_PG_CONFIGS} // '');
plan skip_all => 'fewer than two PostgreSQL majors installed (test/check.sh fetches 17 and 18, see CS_MAJORS in test/lib.sh)'
    if @majors < 2;

my %bindir;
for my $m (@majors) {
    my ($major, $pg_config) = @$m;
    chomp($bindir{$major} = `'$pg_config' --bindir`);
    cluster_start($bindir{$major}, "pg$major");
    like(on_cluster("pg$major", 'SHOW server_version'), qr/^$major\./, "PostgreSQL $major is up");
}
my @names = map { $_->[0] } @majors;
my $first = $names[0];

# Read the same way everywhere: one line per result, floats in shortest exact form.
my $battery = <<'SQL';
SET TimeZone = 'UTC';
SET extra_float_digits = 1;
CREATE SCHEMA s;
SELECT 'sample store', customers_created, orders_created FROM customer_segment.create_sample_store('s', 800, 7);
SELECT 'rfm_analyze', count(*), md5(string_agg(r::text, '|' ORDER BY r.customer_id))
  FROM customer_segment.rfm_analyze('s.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31') r;
-- the exact numeric amounts (numeric_fast_amount reads the server's numeric format) against plain SQL
SELECT 'amounts', count(*), count(*) FILTER (WHERE (x).monetary_total = t::float8)
  FROM (SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-12-31', 'day', 'week') AS x, sum(amount) AS t
          FROM s.orders GROUP BY customer_id) q;
CREATE TABLE s.cal AS
SELECT customer_id, (customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'week')).*
  FROM s.orders GROUP BY 1;
DELETE FROM s.cal WHERE orders IS NULL OR orders = 0;
CREATE TABLE s.hb AS
SELECT * FROM customer_segment.bgbb_summary('s.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', 'month', 'UTC');
SELECT 'bgnbd', customer_segment.bgnbd_fit(frequency, recency, t) FROM s.cal;
SELECT 'pareto_nbd', customer_segment.pareto_nbd_fit(frequency, recency, t) FROM s.cal;
SELECT 'mbgnbd', customer_segment.mbgnbd_fit(frequency, recency, t) FROM s.cal;
SELECT 'gamma_gamma', customer_segment.gamma_gamma_fit(frequency, monetary_value) FILTER (WHERE frequency > 0 AND monetary_value > 0) FROM s.cal;
SELECT 'bgbb', customer_segment.bgbb_fit(frequency, recency, n_periods) FROM s.hb;
SELECT 'btyd_evaluate', e.* FROM customer_segment.btyd_evaluate('s.orders', 'customer_id', 'ordered_at', 'amount',
    DATE '2025-06-30', DATE '2025-12-31', 'week', 'UTC') e ORDER BY e.model;
SELECT 'kmeans', customer_segment.kmeans_fit(ARRAY[recency_days, orders, monetary_total]::float8[], 4, 0, 'log1p+zscore')
  FROM customer_segment.rfm_analyze('s.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31') WHERE orders > 0;
-- a source of an ordinary role, under the documented recipe
CREATE ROLE analyst LOGIN;
GRANT USAGE ON SCHEMA customer_segment TO analyst;
GRANT USAGE ON SCHEMA s TO analyst;
GRANT SELECT ON s.orders TO analyst;
CREATE SCHEMA analyst_views AUTHORIZATION analyst;
SET ROLE analyst;
SELECT 'register_source', count(*) FROM customer_segment.register_source('shop', 's.orders', 'customer_id', 'ordered_at', 'amount',
    target_schema => 'analyst_views', as_of => DATE '2025-12-31', time_zone => 'UTC');
SELECT 'refresh', customer_segment.refresh('shop');
SELECT 'shop_customers', count(*), md5(string_agg(c::text, '|' ORDER BY c.customer_id)) FROM analyst_views.shop_customers c;
SELECT 'shop_segments', string_agg(format('%s %s %s', segment, customers, revenue), ', ' ORDER BY segment) FROM analyst_views.shop_segments;
RESET ROLE;
SQL
# ... and every bad-input SQLSTATE of the pg_regress suite.
open my $fh, '<', project_root() . '/sql/sqlstates.sql' or die "sql/sqlstates.sql: $!";
my $sqlstates = do { local $/; <$fh> };
$sqlstates =~ s/^\\set .*$//mg;

my %out;
for my $major (@names) {
    on_cluster("pg$major", 'CREATE DATABASE battery;');
    on_cluster("pg$major", 'CREATE EXTENSION customer_segment;', 'battery');
    $out{$major} = on_cluster("pg$major", $battery . $sqlstates, 'battery');
}
like($out{$first}, qr/^refresh,ok$/m, "the battery ran on $first (the ordinary role's refresh is ok)");
my $lines = () = $out{$first} =~ /\n/g;
for my $major (@names[1 .. $#names]) {
    is($out{$major}, $out{$first}, "PostgreSQL $major gives the same $lines lines of results as $first");
}
like($out{$first}, qr/^amounts,(\d+),\1$/m, '... the aggregate sums every customer\'s numeric amounts exactly as plain SQL');

# What the first major stored, read on every other after pg_dump (the first's) and restore (the other's psql).
on_cluster("pg$first", <<'SQL', 'battery');
CREATE TABLE s.stored_states AS
SELECT customer_id::text, customer_segment.rfm_state(ordered_at, amount) AS state FROM s.orders GROUP BY 1;
CREATE TABLE s.stored_models AS
SELECT customer_segment.bgnbd_fit(frequency, recency, t) AS bg, customer_segment.pareto_nbd_fit(frequency, recency, t) AS pn,
       customer_segment.gamma_gamma_fit(frequency, monetary_value) FILTER (WHERE frequency > 0 AND monetary_value > 0) AS gg,
       (SELECT customer_segment.kmeans_fit(ARRAY[frequency, recency, t]::float8[], 3, 0, 'zscore') FROM s.cal) AS km
  FROM s.cal;
SQL
my $read_back = <<'SQL';
SET TimeZone = 'UTC';
SELECT 'states', count(*), md5(string_agg(state::text, '|' ORDER BY customer_id)) FROM s.stored_states;
SELECT 'states read', count(*), md5(string_agg(r::text, '|' ORDER BY r.customer_id))
  FROM customer_segment.rfm_analyze_states('s.stored_states', DATE '2025-12-31') r;
SELECT 'states merged', customer_segment.rfm_state_summary(customer_segment.rfm_state_merge(state), DATE '2025-12-31')
  FROM s.stored_states;
SELECT 'models', m.bg, m.pn, m.gg, m.km FROM s.stored_models m;
SELECT 'predictions', md5(string_agg(p::text, '|' ORDER BY c.customer_id))
  FROM s.cal c, s.stored_models m,
       LATERAL customer_segment.btyd_predict(m.bg, NULL, m.gg, c.frequency, c.recency, c.t, c.monetary_value, 90) p;
SELECT 'clusters', md5(string_agg(customer_segment.kmeans_assign(m.km, ARRAY[c.frequency, c.recency, c.t]::float8[])::text, ',' ORDER BY c.customer_id))
  FROM s.cal c, s.stored_models m;
SQL
my $dump = tmpdir() . '/majors.dump';
sub on_port { my ($major) = @_; return (split /\n/, on_cluster("pg$major", 'SHOW port'))[0]; }
is(system("'$bindir{$first}/pg_dump' -h 127.0.0.1 -p " . on_port($first) . " -U postgres -Fc -d battery -f '$dump'"), 0,
   "pg_dump of ${first}'s database");
chmod 0644, $dump;
my $expected = on_cluster("pg$first", $read_back, 'battery');
for my $major (@names[1 .. $#names]) {
    on_cluster("pg$major", 'CREATE DATABASE travel;');
    my $restore = `'$bindir{$major}/pg_restore' -h 127.0.0.1 -p @{[on_port($major)]} -U postgres --exit-on-error -d travel '$dump' 2>&1`;
    is($?, 0, "${first}'s dump restores on $major with ${major}'s pg_restore") or diag($restore);
    is(on_cluster("pg$major", $read_back, 'travel'), $expected,
       "states, fitted models and a k-means model stored on $first read back on $major with the same answers");
}

done_testing();

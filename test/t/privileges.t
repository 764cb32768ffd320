# Privileges: an ordinary LOGIN role with nothing but SELECT on its orders table, plus the five-line
# recipe of doc/operations.md, uses the whole extension on its own data; another role cannot see, refresh, change or
# read through the extension anything of the first one's.  Scheduling as an ordinary role: test/t/cron.t.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

my $root = project_root();
open my $fh, '<', "$root/doc/operations.md" or die "doc/operations.md: $!";
my $readme = do { local $/; <$fh> };
close $fh;
my ($recipe) = $readme =~ /```sql recipe\n(.*?)```/s;
ok(defined $recipe, 'doc/operations.md has the privileges recipe');
my @lines = grep { /\S/ } split /\n/, $recipe;
is(scalar(@lines), 5, 'the recipe is five statements');

my @roles = qw(cs_analyst cs_other cs_bi cs_deputy);
my $db = 'cs_privileges';
psql('postgres', "DROP DATABASE IF EXISTS $db;" . join('', map { "DROP ROLE IF EXISTS $_;" } @roles)
    . join('', map { "CREATE ROLE $_ LOGIN;" } @roles) . 'GRANT cs_analyst TO cs_deputy;');
new_database($db);
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 600, 5);
            CREATE SCHEMA other_shop; SELECT customer_segment.create_sample_store('other_shop', 300, 6);
            GRANT USAGE ON SCHEMA customer_segment, other_shop TO cs_other; GRANT SELECT ON other_shop.orders TO cs_other;
            CREATE SCHEMA other_views AUTHORIZATION cs_other;});
my ($has_cron) = psql_rows($db, q{SELECT to_regnamespace('cron') IS NOT NULL;});
for my $line (@lines) {
    next if $line =~ /SCHEMA cron/ && $has_cron->[0] ne 't';    # pg_cron lives in another database here
    (my $sql = $line) =~ s/\banalyst\b/cs_analyst/g;
    psql($db, $sql);
}

# Runs SQL as a role (a LOGIN connection of its own, not SET ROLE).
sub as { my ($role, $sql) = @_; local $ENV{PGUSER} = $role; return psql($db, $sql); }
sub rows_as { my ($role, $sql) = @_; local $ENV{PGUSER} = $role; return psql_rows($db, $sql); }
sub fails_as { my ($role, $sql) = @_; local $ENV{PGUSER} = $role; return psql_fails($db, $sql) // 'succeeded'; }
my @called;     # every extension function this test calls as an ordinary role
sub record_calls { my ($sql) = @_; push @called, $sql =~ /customer_segment\.(\w+)\s*\(/g; return $sql; }

my ($super) = rows_as('cs_analyst', q{SELECT rolsuper, current_user FROM pg_roles WHERE rolname = current_user;});
is_deeply($super, ['f', 'cs_analyst'], 'connected as cs_analyst, not a superuser');

# --- every function and aggregate, and the one-call functions on a table it can read
my ($exec) = rows_as('cs_analyst', q{SELECT count(*), count(*) FILTER (WHERE has_function_privilege(p.oid, 'EXECUTE')),
           string_agg(p.proname, ' ' ORDER BY p.proname) FILTER (WHERE NOT has_function_privilege(p.oid, 'EXECUTE'))
    FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'customer_segment';});
ok($exec->[0] > 150 && $exec->[0] == $exec->[1] + 5, "it may execute $exec->[1] of the $exec->[0] functions and aggregates");
is($exec->[2], 'create_history_partition drop_empty_history_partitions record_source_relations registry_apply snapshot_history',
   '... all but the registry\'s own steps');
my ($definers) = rows_as('cs_analyst', q{SELECT count(*) FROM pg_proc p
    WHERE p.pronamespace = 'customer_segment'::regnamespace AND p.prosecdef;});
is($definers->[0], 0, 'no function is SECURITY DEFINER (the registry writes through registry_write)');

my $analyses = record_calls(q{
    WITH s AS (SELECT customer_id, (customer_segment.rfm_summary(ordered_at, amount, DATE '2025-12-31', 'day', 'week', 'UTC')).*
                 FROM shop.orders GROUP BY 1),
         f AS (SELECT customer_segment.bgnbd_fit(frequency, recency, t) AS bg, customer_segment.pareto_nbd_fit(frequency, recency, t) AS pn,
                      customer_segment.gamma_gamma_fit(frequency, monetary_value) FILTER (WHERE frequency > 0 AND monetary_value > 0) AS gg,
                      customer_segment.score_breakpoints(monetary_total, 5) AS m_cuts
                 FROM s)
    SELECT count(*), count(customer_segment.bgnbd_p_alive(f.bg, s.frequency, s.recency, s.t)),
           count(customer_segment.score(s.monetary_total, f.m_cuts)), (f.pn).converged IS NOT NULL, (f.gg).p > 0
      FROM s, f GROUP BY f.pn, f.gg;
    SELECT count(*) FROM customer_segment.rfm_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', rule_set => 'a_rules');
    SELECT count(*) FROM customer_segment.clv_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31');
    SELECT count(*) FROM customer_segment.btyd_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31');
    SELECT count(*) FROM customer_segment.cohort_retention('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31');
    SELECT customer_segment.clv_historical(ordered_at, amount, DATE '2025-12-31', 0.1) IS NOT NULL,
           customer_segment.purchase_activity(ordered_at, amount, DATE '2025-12-31', 'month') IS NOT NULL
      FROM shop.orders GROUP BY customer_id LIMIT 1;
    SELECT customer_segment.tier_for('a_club', 700), customer_segment.tier_next('a_club', 'Silver', 700) IS NOT NULL,
           customer_segment.rfm_segment(5, 5, 5, 5, 'a_rules'), (SELECT count(*) FROM customer_segment.rfm_segment_map(5, 'a_rules')),
           (SELECT count(*) >= 0 FROM customer_segment.check_segment_rules('a_rules')), customer_segment.check_tier_ladder('a_club'),
           (SELECT name FROM customer_segment.value_grid_cells WHERE rule_set = 'a_grid' AND cell = customer_segment.value_grid_cell(1, 1, 1, 0, 0, 0));
    SELECT customer_segment.create_sample_store('analyst_views', 50, 1);
});

# --- its own rule sets, tier ladders and value-grid names
my $config = record_calls(q{
    SELECT customer_segment.copy_segment_rules('standard', 'a_rules');
    UPDATE customer_segment.rfm_segment_rules SET segment = 'Stars' WHERE rule_set = 'a_rules' AND segment = 'Champions';
    INSERT INTO customer_segment.tier_ladders (ladder, tier, rank, lower_bound) VALUES ('a_club', 'Silver', 1, 0), ('a_club', 'Gold', 2, 500);
    INSERT INTO customer_segment.value_grid_cells (rule_set, cell, name, action)
        SELECT 'a_grid', cell, upper(name), action FROM customer_segment.value_grid_cells WHERE rule_set = 'standard';
});
as('cs_analyst', $config);
my ($owned) = rows_as('cs_analyst', q{SELECT (SELECT count(*) FROM customer_segment.rfm_segment_rules WHERE owner = 'cs_analyst'),
    (SELECT count(*) FROM customer_segment.tier_ladders WHERE owner = 'cs_analyst'),
    (SELECT count(*) FROM customer_segment.value_grid_cells WHERE owner = 'cs_analyst');});
is_deeply($owned, [12, 2, 8], 'it copied and edited a rule set, a tier ladder and a value-grid naming, owned by it');
my $a_out = as('cs_analyst', $analyses);
like($a_out, qr/^\d+,\d+,\d+,t,t$/m, 'aggregates (summary, fits, breakpoints, scores) work for it');
my @counts = $a_out =~ /^(\d+)$/mg;
ok(@counts >= 4 && !grep({ $_ == 0 } @counts[0 .. 3]), 'rfm_analyze, clv_analyze, btyd_analyze and cohort_retention return rows: ' . join(' ', @counts[0 .. 3]));
like($a_out, qr/Gold,t,Stars,125,t,t,STARS/, 'tiers, segments and value-grid names read its own sets');
like(as('cs_analyst', q{UPDATE customer_segment.rfm_segment_rules SET action = 'x' WHERE rule_set = 'standard' RETURNING 1;}), qr/^$/,
     "an UPDATE of 'standard' changes no row");
like(fails_as('cs_analyst', q{INSERT INTO customer_segment.rfm_segment_rules (rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max) VALUES ('standard', 'X', 99, 1, 1, 1, 1, 1, 1)}),
     qr/42501|belongs to role|read-only/, "and it cannot add to 'standard'");

# --- the other role: reads the sets, cannot change them
is(as('cs_other', q{SELECT count(*) FROM customer_segment.rfm_segment_rules WHERE rule_set = 'a_rules';}), "12\n", 'another role reads the rule set');
is(as('cs_other', q{UPDATE customer_segment.rfm_segment_rules SET action = 'mine now' WHERE rule_set = 'a_rules' RETURNING 1;
    DELETE FROM customer_segment.tier_ladders WHERE ladder = 'a_club' RETURNING 1;
    UPDATE customer_segment.value_grid_cells SET owner = 'cs_other' WHERE rule_set = 'a_grid' RETURNING 1;}), '',
   "but its UPDATE and DELETE of the first one's rows change nothing");
for my $sql (q{INSERT INTO customer_segment.rfm_segment_rules (rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max) VALUES ('a_rules', 'X', 99, 1, 1, 1, 1, 1, 1)},
             q{INSERT INTO customer_segment.tier_ladders (ladder, tier, rank, lower_bound) VALUES ('a_club', 'Platinum', 3, 5000)},
             q{INSERT INTO customer_segment.tier_ladders (ladder, tier, rank, lower_bound, owner) VALUES ('o_club', 'Gold', 1, 0, 'cs_analyst')}) {
    like(fails_as('cs_other', $sql), qr/belongs to role cs_analyst|row-level security/, 'and it cannot add to them or write as their owner: ' . substr($sql, 0, 60));
}
is(as('cs_analyst', q{SELECT count(*) FILTER (WHERE action = 'mine now') FROM customer_segment.rfm_segment_rules;}), "0\n", 'the rule set is unchanged');

# --- its own source: register, refresh, history, log, report, settings, BI grant
my $source = record_calls(q{
    SELECT count(*) FROM customer_segment.register_source('a_shop', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        target_schema => 'analyst_views', rule_set => 'a_rules', tier_ladder => 'a_club', history_days => 400,
        as_of => DATE '2025-11-30', time_zone => 'Europe/Berlin');
    SELECT count(*) FROM customer_segment.set_source_clusters('a_shop', 3);
    SELECT customer_segment.set_source_change_column('a_shop', 'order_id');
    SELECT customer_segment.refresh('a_shop');
    UPDATE customer_segment.sources SET as_of = DATE '2025-12-31' WHERE name = 'a_shop';
    SELECT customer_segment.set_source_time_zone('a_shop', 'UTC');
    SELECT customer_segment.refresh('a_shop');
    SELECT count(*) FROM customer_segment.segment_migrations('a_shop');
    SELECT count(*) FROM customer_segment.report('a_shop');
    SELECT customer_segment.report_html('a_shop') ~ '<h2>Purchase models</h2><p>BG/NBD';
    SELECT customer_segment.grant_source_read('a_shop', 'cs_bi');
    CALL customer_segment.refresh_job('a_shop');
});
my $s_out = as('cs_analyst', $source);
like($s_out, qr/\A6\n2\n\nok\n\nok\n\d+\n\d+\nt\n\n\z/, 'it registers a source on the table it reads, refreshes it incrementally (also as a job), reads migrations, the report and the HTML report with its models');
is(as('cs_analyst', q{SELECT i.note ~ 'new rows merged', c.relowner::regrole FROM customer_segment.source_increments i, pg_class c
                      WHERE c.oid = 'analyst_views.a_shop_states'::regclass}), "t,cs_analyst\n",
   'its states table is its own and the last refresh merged new rows into it');
my ($mine) = rows_as('cs_analyst', q{SELECT (SELECT count(*) FROM customer_segment.sources),
    (SELECT count(*) FROM customer_segment.refresh_log WHERE status = 'ok' AND owner = 'cs_analyst'),
    (SELECT count(DISTINCT snapshot_date) FROM customer_segment.segment_history),
    (SELECT count(*) FROM analyst_views.a_shop_customers WHERE segment = 'Stars' AND tier IS NOT NULL AND p_alive IS NOT NULL),
    (SELECT count(*) FROM customer_segment.migration_matrix('analyst_views.a_shop_customers', 'analyst_views.a_shop_customers'));});
ok($mine->[0] == 1 && $mine->[1] == 3 && $mine->[2] == 2 && $mine->[3] > 0 && $mine->[4] > 0,
   "it sees its source, its 3 log rows, its 2 history snapshots, its edited segments and tiers ($mine->[3] Stars)");
like(fails_as('cs_analyst', q{UPDATE customer_segment.sources SET orders = 'other_shop.orders' WHERE name = 'a_shop'}), qr/permission denied/,
     'it cannot point its source at another table');
is(as('cs_bi', q{SELECT count(*) > 0 FROM analyst_views.a_shop_segments;}), "t\n", 'the BI role reads the helper views it was granted');
like(fails_as('cs_bi', q{SELECT count(*) FROM customer_segment.sources}), qr/permission denied/, '... and not the source');
like(fails_as('cs_bi', q{SELECT count(*) FROM shop.orders}), qr/permission denied/, '... nor the orders');

# A member of the owning role acts as it, as for PostgreSQL's own objects.
is(as('cs_deputy', q{SELECT customer_segment.refresh('a_shop'); SELECT count(*) FROM customer_segment.refresh_log;}), "ok\n4\n",
   'a role that inherits the owner\'s rights refreshes the source and reads its log');

# --- the other role cannot see, refresh, alter, unregister or read anything of it
my ($seen) = rows_as('cs_other', q{SELECT (SELECT count(*) FROM customer_segment.sources), (SELECT count(*) FROM customer_segment.refresh_log),
    (SELECT count(*) FROM customer_segment.segment_history), (SELECT count(*) FROM customer_segment.source_increments);});
is_deeply($seen, [0, 0, 0, 0], 'another role sees none of its sources, log rows, history or incremental state');
like(fails_as('cs_other', q{SELECT count(*) FROM analyst_views.a_shop_states}), qr/permission denied/, '... nor its states table');
is(as('cs_other', q{UPDATE customer_segment.sources SET bins = 3 WHERE name = 'a_shop' RETURNING 1;}), '',
   'its UPDATE of the source changes nothing');
my @denied = (
    [q{SELECT customer_segment.refresh('a_shop')}, qr/not registered/],
    [q{SELECT customer_segment.unregister_source('a_shop')}, qr/not registered/],
    [q{SELECT customer_segment.set_source_time_zone('a_shop', 'UTC')}, qr/not registered/],
    [q{SELECT customer_segment.set_source_change_column('a_shop', NULL)}, qr/not registered/],
    [q{SELECT customer_segment.report('a_shop')}, qr/not registered/],
    [q{SELECT customer_segment.report_html('a_shop')}, qr/not registered/],
    [q{SELECT customer_segment.grant_source_read('a_shop', 'cs_other')}, qr/not registered/],
    [q{SELECT customer_segment.schedule_refresh('a_shop')}, qr/not registered/],
    [q{SELECT count(*) FROM customer_segment.source_customers('a_shop')}, qr/not registered/],
    [q{SELECT count(*) FROM customer_segment.source_segments('a_shop')}, qr/not registered/],
    [q{SELECT count(*) FROM customer_segment.segment_migrations('a_shop')}, qr/fewer than two snapshots/],
    [q{SELECT count(*) FROM analyst_views.a_shop_customers}, qr/permission denied/],
    [q{SELECT count(*) FROM customer_segment.rfm_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31')}, qr/permission denied/],
    [q{SELECT customer_segment.register_source('o_shop', 'shop.orders', 'customer_id', 'ordered_at', 'amount', target_schema => 'other_views')}, qr/permission denied/],
    [q{SELECT customer_segment.snapshot_history(s) FROM (SELECT (s::customer_segment.sources).* FROM (SELECT ROW('a_shop', 'shop.orders'::regclass, 'customer_id', 'ordered_at', 'amount', 'analyst_views', 5, 'standard', NULL, NULL, 400, now(), 'cs_other', 'UTC')::customer_segment.sources s) x) s}, qr/permission denied/],
    [q{INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, status, owner) VALUES ('a_shop', now(), now(), 'ok', 'cs_analyst')}, qr/permission denied for table refresh_log/],
    [q{INSERT INTO customer_segment.segment_history (source, snapshot_date, customer_id, owner) VALUES ('a_shop', DATE '2025-12-31', 'x', 'cs_analyst')}, qr/permission denied for table segment_history/],
    [q{DELETE FROM customer_segment.sources}, qr/permission denied for table sources/],
    [q{DELETE FROM customer_segment.segment_history}, qr/permission denied for table segment_history/],
    [q{SELECT customer_segment.registry_write('log', 'a_shop', jsonb_build_object('status', 'ok'))}, qr/source "a_shop" is not registered/],
    [q{SELECT customer_segment.registry_write('unregister', 'a_shop')}, qr/source "a_shop" is not registered/],
    [q{SELECT customer_segment.registry_write('snapshot', 'a_shop')}, qr/source "a_shop" is not registered/],
    [q{SELECT customer_segment.registry_write('create_views', 'a_shop')}, qr/source "a_shop" is not registered/],
    [q{SELECT customer_segment.registry_apply('cs_analyst', 'unregister', 'a_shop', NULL)}, qr/permission denied for function registry_apply/],
);
for my $d (@denied) {
    like(fails_as('cs_other', $d->[0]), $d->[1], 'denied: ' . substr($d->[0], 0, 90));
}
my ($parts) = psql_rows($db, q{SELECT string_agg(DISTINCT pg_get_userbyid(c.relowner), ' ') FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'customer_segment.segment_history'::regclass;});
is($parts->[0], 'postgres', 'the history partitions belong to the extension\'s owner');
like(fails_as('cs_other', q{SELECT count(*) FROM customer_segment.segment_history_2025_12}), qr/permission denied/,
     'and nobody else reads them directly');

# The other role's own source lives beside it, with the same name rules.
is(as('cs_other', q{SELECT count(*) FROM customer_segment.register_source('o_shop', 'other_shop.orders', 'customer_id', 'ordered_at', 'amount', target_schema => 'other_views');
    SELECT customer_segment.refresh('o_shop'); SELECT count(*) FROM customer_segment.sources;}), "6\nok\n1\n", 'another role registers and refreshes a source of its own');
like(fails_as('cs_other', q{SELECT customer_segment.register_source('a_shop', 'other_shop.orders', 'customer_id', 'ordered_at', 'amount', target_schema => 'other_views')}),
     qr/duplicate key/, 'source names are unique in the database');
like(fails_as('cs_analyst', q{SELECT customer_segment.grant_source_read('a_shop', 'cs_other')}), qr/^$|succeeded/, 'the owner may grant its views to any role');
like(fails_as('cs_other', q{SELECT customer_segment.grant_source_read('o_shop', 'cs_bi')}), qr/succeeded/, 'a role grants on a schema it owns');

# What its refreshes ran: the helper views' queries (fill_source_views runs each).
record_calls(psql($db, q{SELECT string_agg(v.definition, ' ') FROM customer_segment.sources s, customer_segment.source_views(s) v
                          WHERE s.target_schema = 'analyst_views';}));

# The owner unregisters: views, history go; its log stays, still its own.
is(as('cs_analyst', record_calls(q{SELECT customer_segment.unregister_source('a_shop');
    SELECT (SELECT count(*) FROM customer_segment.segment_history), (SELECT count(*) FROM customer_segment.refresh_log);})), "\n0,4\n",
   'the owner unregisters its source; its history goes, its log stays');

# Every function that reads one of the extension's tables was called above as an ordinary role, directly or
# by a function called (the closure over the catalog's function bodies).
my %body = map { $_->[0] => $_->[1] } map { [ split /\t/, $_, 2 ] } split /\n/,
    psql($db, q{SELECT proname || E'\t' || string_agg(translate(prosrc, E'\n\t', '  '), ' ') FROM pg_proc
                 WHERE pronamespace = 'customer_segment'::regnamespace GROUP BY proname;});
my %called;
my @todo = @called;
while (defined(my $f = shift @todo)) {
    next if $called{$f}++;
    push @todo, ($body{$f} // '') =~ /customer_segment\.(\w+)\s*\(/g;
    push @todo, 'registry_apply' if $f eq 'registry_write';   # in C: src/as_owner.c
}
my @readers = map { $_->[0] } psql_rows($db, q{SELECT DISTINCT p.proname FROM pg_proc p
    WHERE p.pronamespace = 'customer_segment'::regnamespace AND p.prokind = 'f'
      AND p.prosrc ~ 'customer_segment\.(rfm_segment_rules|tier_ladders|value_grid_cells|sources|refresh_log|segment_history|source_increments)\M'
      AND p.prorettype <> 'trigger'::regtype ORDER BY 1;});   # triggers run on the writes above
my @missed = grep { !$called{$_} } @readers;
is_deeply(\@missed, [], 'every function that reads the extension\'s tables (' . scalar(@readers) . ') ran as an ordinary role, directly or through refresh');

psql('postgres', "DROP DATABASE $db;" . join('', map { "DROP ROLE $_;" } reverse @roles));
done_testing();

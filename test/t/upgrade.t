# Upgrade path: install the previous release (1.0), use it the way a customer
# does (edited rule set, tier ladder, a registered source with history, a few
# refreshes), ALTER EXTENSION ... UPDATE, and check nothing was lost or changed,
# that the updated database has exactly the objects of a fresh install, that
# refresh and the new functions work, and that it survives pg_dump -> restore.
use strict;
use warnings;
use Test::More;
use Digest::MD5 qw(md5_hex);
use lib 't/lib', 'test/t/lib';
use CsTest;

my $root = project_root();
my $sharedir = `\${PG_CONFIG:-pg_config} --sharedir`;
chomp $sharedir;
sub slurp { my ($f) = @_; open my $fh, '<', $f or die "cannot read $f: $!"; local $/; return <$fh>; }
my ($current) = slurp("$root/customer_segment.control") =~ /^default_version = '([^']+)'/m;

# Released scripts never change: a database installed or updated with one must keep meaning the same.
# src/release holds the first release's install script and the update scripts; an older version installs as
# 1.0 plus the updates up to it, the current one from the script the Makefile builds from src/sql.  Recording
# the checksum of the update script to default_version here is what releases that version; until then it is
# the one script that may still change.
my %released = (
    'customer_segment--1.0.sql'      => 'e2d7eade82174f3740320d2a7e597a97',
    'customer_segment--1.0--1.1.sql' => '19a7f35c97372bf656bb723ac0cd5114',
    'customer_segment--1.1--1.2.sql' => 'f1dc6a29a29b91b12b36aee5b5e0edaf',
    'customer_segment--1.2--1.3.sql' => 'cf8c7ed59f6f6613d3db4b32bb41638e',
    'customer_segment--1.3--1.4.sql' => '547539f73eefdc8b46804312c31bf296',
    'customer_segment--1.4--1.5.sql' => 'aa7524d779c552262f9058bacc46c431',
    'customer_segment--1.5--1.6.sql' => '4bb5d959a06f22eb8c66437ec9d2be68',
    'customer_segment--1.6--1.7.sql' => 'bfaf78d99871e806ededf6aac37ca9f3',
);
my @shipped = sort map { s{.*/}{}r } glob("$root/src/release/*.sql");
my @unreleased = grep { !$released{$_} } @shipped;
my @ours = grep { /--\Q$current\E\.sql$/ } @unreleased;
is_deeply(\@unreleased, \@ours, 'src/release holds the released scripts and at most the update script to the current version '
          . ($current) . (@ours ? ' (not yet released)' : ''));
ok(!grep({ /^customer_segment--(?!1\.0\.sql)[^-]+\.sql$/ } @shipped), 'the only install script kept is 1.0\'s');
ok(-f "$root/src/release/customer_segment--1.0.sql" && ($current eq '1.0' || grep { /--\Q$current\E\.sql$/ } @shipped),
   "src/release reaches $current from 1.0");
for my $f (sort keys %released) {
    is(md5_hex(slurp("$root/src/release/$f")), $released{$f}, "$f is the released script, byte for byte");
    is(md5_hex(slurp("$sharedir/extension/$f")), $released{$f}, "... and installed as such");
}
# The installed current script is src/sql, as the Makefile builds it.
my $from_source = join('', map { slurp($_) } sort glob("$root/src/sql/*.sql"));
ok($from_source eq slurp("$sharedir/extension/customer_segment--$current.sql"),
   "the installed install script of $current is src/sql/*.sql concatenated");
ok(!grep({ !/^customer_segment--1\.0\.sql$/ && !/--.*--/ && !/--\Q$current\E\.sql$/ }
         map { s{.*/}{}r } glob("$sharedir/extension/customer_segment--*.sql")),
   'no install script of an older version is installed (an old `make install` would shadow 1.0 plus the updates)');

like(slurp("$root/README.md"), qr/^Version \Q$current\E ships/m, "README names the current version, $current");
like(slurp("$root/doc/operations.md"), qr/^\| \Q$current\E \|/m, "doc/operations.md says what $current adds");

my $db = 'cs_upgrade';
psql('postgres', "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db;");
psql($db, q{CREATE EXTENSION customer_segment VERSION '1.0';});
my ($v0) = psql_rows($db, q{SELECT extversion FROM pg_extension WHERE extname = 'customer_segment';});
is($v0->[0], '1.0', 'installed 1.0');

psql($db, q{
    SELECT customer_segment.copy_segment_rules('standard', 'mine');
    UPDATE customer_segment.rfm_segment_rules SET segment = 'Stars', action = 'Send a gift'
     WHERE rule_set = 'mine' AND segment = 'Champions';
    INSERT INTO customer_segment.tier_ladders VALUES ('club', 'Silver', 1, 0, NULL), ('club', 'Gold', 2, 500, 'Free shipping');
    CREATE SCHEMA shop;
    SELECT customer_segment.create_sample_store('shop', 1500, 11);
    SELECT customer_segment.register_source('web', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
        rule_set => 'mine', as_of => DATE '2025-11-30', history_days => 400, tier_ladder => 'club');
    SELECT customer_segment.refresh('web');
    UPDATE customer_segment.sources SET as_of = DATE '2025-12-31' WHERE name = 'web';
    SELECT customer_segment.refresh('web');
});

# Everything a user stored or the extension computed, as one text per object.
my %snapshot_sql = (
    sources    => q{SELECT name, orders, customer_column, time_column, amount_column, target_schema, bins, rule_set, as_of, tier_ladder, history_days, registered_at FROM customer_segment.sources ORDER BY name},
    rules      => q{SELECT rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max, action, enabled
                      FROM customer_segment.rfm_segment_rules ORDER BY rule_set, priority, segment},
    ladders    => q{SELECT ladder, tier, rank, lower_bound, benefits FROM customer_segment.tier_ladders ORDER BY ladder, rank},
    grid_cells => q{SELECT rule_set, cell, name, action FROM customer_segment.value_grid_cells ORDER BY 1, 2},
    log        => q{SELECT source, started_at, finished_at, status, customers, error FROM customer_segment.refresh_log ORDER BY started_at},
    history    => q{SELECT source, snapshot_date, customer_id, segment, rfm_cell, lifecycle_stage, tier, monetary_total
                      FROM customer_segment.segment_history ORDER BY 1, 2, 3},
    customers  => q{SELECT * FROM shop.web_customers ORDER BY customer_id},
    segments   => q{SELECT * FROM shop.web_segments ORDER BY 1},
    grid       => q{SELECT * FROM shop.web_rf_grid ORDER BY 1, 2},
    lifecycle  => q{SELECT * FROM shop.web_lifecycle ORDER BY 1},
    tiers      => q{SELECT * FROM shop.web_tiers ORDER BY 1},
    cohorts    => q{SELECT * FROM shop.web_cohorts ORDER BY 1, 2},
    orders     => q{SELECT * FROM shop.orders ORDER BY 1, 2, 3},
);
sub snapshot {
    my ($d) = @_;
    return { map { $_ => psql($d, "$snapshot_sql{$_};") } keys %snapshot_sql };
}
my $before = snapshot($db);
my ($hist) = psql_rows($db, q{SELECT count(DISTINCT snapshot_date), count(*) FROM customer_segment.segment_history;});
ok($hist->[0] == 2 && $hist->[1] > 2000, "1.0 kept two history snapshots ($hist->[1] rows)");
like($before->{customers}, qr/Stars/, 'the edited rule set is in use');

# A BI role reads the helper views; a view of the user's own depends on one of them.
psql('postgres', 'DROP ROLE IF EXISTS cs_upgrade_bi; CREATE ROLE cs_upgrade_bi;');
psql($db, q{SELECT customer_segment.grant_source_read('web', 'cs_upgrade_bi');
            CREATE VIEW shop.my_dashboard AS SELECT segment, customers FROM shop.web_segments;});
# 1.3 recreates the helper views: it refuses, changing nothing, while the user's view depends on them.
my $uerr = psql_fails($db, q{ALTER EXTENSION customer_segment UPDATE;});
like($uerr, qr/objects of yours depend on them.*shop\.my_dashboard depends on shop\.web_segments/s,
     'the update refuses while a view of the user depends on a helper view, and names it');
my ($vstill) = psql_rows($db, q{SELECT extversion FROM pg_extension WHERE extname = 'customer_segment';});
is($vstill->[0], '1.0', '... and changed nothing');
psql($db, q{DROP VIEW shop.my_dashboard;});

psql($db, q{ALTER EXTENSION customer_segment UPDATE;});
my ($v1) = psql_rows($db, q{SELECT extversion FROM pg_extension WHERE extname = 'customer_segment';});
is($v1->[0], $current, "ALTER EXTENSION UPDATE went from 1.0 to $current");
my $after = snapshot($db);
for my $k (sort keys %snapshot_sql) {
    is($after->{$k}, $before->{$k}, "unchanged by the update: $k (" . scalar(split /\n/, $before->{$k}) . ' rows)');
}

# The helper views now call one function each, still the user's (not the extension's), owner and grants kept.
# 1.8: the data behind them is a table each, with the rows of the materialized view it replaced.
my ($hv) = psql_rows($db, q{SELECT count(*) FILTER (WHERE c.relname LIKE 'web\_%\_data'),
           count(*) FILTER (WHERE has_table_privilege('cs_upgrade_bi', c.oid, 'SELECT')),
           count(*) FILTER (WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)),
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')),
           (SELECT count(*) FROM pg_class m WHERE m.relnamespace = 'shop'::regnamespace AND m.relkind = 'm')
      FROM pg_class c WHERE c.relnamespace = 'shop'::regnamespace AND c.relkind = 'r' AND c.relname LIKE 'web\_%';});
is_deeply($hv, [6, 6, 6, 0, 0], 'the six helper views\' data are tables now, keep their owner and the BI grant, and belong to the user');
# 1.4: each helper's name is now a plain view over <name>_<helper>_data, owned by the user, granted to the BI
# role, and every column has a comment.
my ($pv) = psql_rows($db, q{SELECT count(*), count(*) FILTER (WHERE pg_get_viewdef(c.oid) LIKE '%FROM shop.' || c.relname || '\_data%'),
           count(*) FILTER (WHERE has_table_privilege('cs_upgrade_bi', c.oid, 'SELECT')),
           count(*) FILTER (WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)),
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')),
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                                             AND coalesce(col_description(c.oid, a.attnum), '') = ''))
      FROM pg_class c WHERE c.relnamespace = 'shop'::regnamespace AND c.relkind = 'v' AND c.relname LIKE 'web\_%';});
is_deeply($pv, [6, 6, 6, 6, 0, 0], 'the update put a plain view over each, owned by the user, granted to the BI role, every column commented');
my ($tz) = psql_rows($db, q{SELECT time_zone = current_setting('TimeZone') FROM customer_segment.sources WHERE name = 'web';});
is($tz->[0], 't', 'a source registered before 1.3 got the TimeZone of the session that updated');

# 1.4: the rows of 1.0 got owners (the role that updated; the log and history: the source's owner).
my ($owners) = psql_rows($db, q{SELECT (SELECT string_agg(DISTINCT owner, ' ') FROM customer_segment.rfm_segment_rules),
    (SELECT string_agg(DISTINCT owner, ' ') FROM customer_segment.refresh_log),
    (SELECT string_agg(DISTINCT owner, ' ') FROM customer_segment.segment_history), current_user;});
is_deeply([@$owners[0 .. 2]], [($owners->[3]) x 3], "rule sets, log and history rows have owners ($owners->[3])");

# The updated database has the objects of a fresh install of the current version, with the same definitions,
# and the same columns, privileges, row security, policies and triggers on the extension's tables.
my $catalog = q{
    SELECT pg_describe_object(d.classid, d.objid, 0) || coalesce(' ' || md5(pg_get_functiondef(p.oid)), '')
                                                     || coalesce(' ' || obj_description(d.objid, d.classid::regclass::name), '')
                                                     || coalesce(' acl ' || p.proacl::text || ' secdef ' || p.prosecdef, '')
      FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'customer_segment'
      LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid AND p.prokind <> 'a'
     WHERE d.deptype = 'e'
    UNION ALL
    SELECT format('aggregate %s: sfunc %s stype %s final %s combine %s serial %s deserial %s initcond %s',
                  a.aggfnoid::regprocedure, a.aggtransfn::regprocedure, format_type(a.aggtranstype, NULL),
                  a.aggfinalfn::regprocedure, a.aggcombinefn::regprocedure, a.aggserialfn::regprocedure,
                  a.aggdeserialfn::regprocedure, a.agginitval)
      FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid WHERE p.pronamespace = 'customer_segment'::regnamespace
    UNION ALL
    SELECT format('table %s acl %s rls %s', c.oid::regclass, c.relacl, c.relrowsecurity)
      FROM pg_class c WHERE c.relnamespace = 'customer_segment'::regnamespace AND c.relkind IN ('r', 'p')
       AND c.relname NOT LIKE 'segment\_history\_%'
    UNION ALL
    SELECT format('column %s.%s %s not null %s default %s acl %s: %s', a.attrelid::regclass, a.attname, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attacl, col_description(a.attrelid, a.attnum))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
     WHERE c.relnamespace = 'customer_segment'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
       AND c.relname NOT LIKE 'segment\_history\_%'
    UNION ALL
    SELECT format('policy %s on %s: %s %s using %s check %s', p.polname, p.polrelid::regclass, p.polcmd, p.polroles,
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'customer_segment'::regnamespace
    UNION ALL
    SELECT format('trigger %s', pg_get_triggerdef(t.oid)) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'customer_segment'::regnamespace AND NOT t.tgisinternal
    ORDER BY 1;};
psql('postgres', 'DROP DATABASE IF EXISTS cs_upgrade_fresh; CREATE DATABASE cs_upgrade_fresh;');
psql('cs_upgrade_fresh', 'CREATE EXTENSION customer_segment;');
my $fresh_objects = psql('cs_upgrade_fresh', $catalog);
my $updated_objects = psql($db, $catalog);
cmp_ok(scalar(split /\n/, $fresh_objects), '>', 150, "a fresh $current install has its objects");
is($updated_objects, $fresh_objects, '1.0 plus every update and a fresh install have the same objects, definitions and comments');
# 1.4 changes btyd_analyze's signature: an update from 1.3 refuses while a view of the user calls it.
psql('postgres', 'DROP DATABASE IF EXISTS cs_upgrade_from; CREATE DATABASE cs_upgrade_from;');
psql('cs_upgrade_from', q{CREATE EXTENSION customer_segment VERSION '1.3'; CREATE TABLE o (c int, d date, a numeric);
    CREATE VIEW my_btyd AS SELECT * FROM customer_segment.btyd_analyze('o', 'c', 'd', 'a', DATE '2025-01-01');});
like(psql_fails('cs_upgrade_from', q{ALTER EXTENSION customer_segment UPDATE}) // '',
     qr/objects of yours depend on btyd_analyze.*my_btyd depends on/s, 'the update from 1.3 refuses while a view calls btyd_analyze, and names it');
psql('cs_upgrade_from', q{DROP VIEW my_btyd; ALTER EXTENSION customer_segment UPDATE;});
psql('postgres', 'DROP DATABASE cs_upgrade_from;');
# 1.7 changes it again (covariates): an update from 1.6 refuses the same way, then works without the view.
psql('postgres', 'DROP DATABASE IF EXISTS cs_upgrade_from; CREATE DATABASE cs_upgrade_from;');
psql('cs_upgrade_from', q{CREATE EXTENSION customer_segment VERSION '1.6'; CREATE TABLE o (c int, d date, a numeric);
    CREATE VIEW my_btyd AS SELECT * FROM customer_segment.btyd_analyze('o', 'c', 'd', 'a', DATE '2025-01-01', model => 'pareto_nbd');});
like(psql_fails('cs_upgrade_from', q{ALTER EXTENSION customer_segment UPDATE}) // '',
     qr/cannot update customer_segment to 1\.7: objects of yours depend on btyd_analyze.*my_btyd depends on/s,
     'the update from 1.6 refuses while a view calls btyd_analyze, and names it');
is(psql('cs_upgrade_from', q{SELECT extversion FROM pg_extension WHERE extname = 'customer_segment'}), "1.6\n", '... and leaves 1.6 in place');
psql('cs_upgrade_from', q{DROP VIEW my_btyd; ALTER EXTENSION customer_segment UPDATE;});
psql('postgres', 'DROP DATABASE cs_upgrade_from;');
# And from every later release too, with a view and a materialized view of the user calling every aggregate of
# that release (1.5 changes the state type of rfm_summary and purchase_activity: the update must keep them).
my $every_aggregate = q{
    SELECT string_agg(format('(SELECT %s(%s) FROM (SELECT 1 WHERE false) z)::text AS a%s', p.oid::regproc,
                             (SELECT string_agg(format('NULL::%s', format_type(t, NULL)), ', ') FROM unnest(p.proargtypes) t),
                             p.oid), ', ')
      FROM pg_proc p WHERE p.prokind = 'a' AND p.pronamespace = 'customer_segment'::regnamespace;};
my $summaries = q{SELECT c, customer_segment.rfm_summary(d, a, DATE '2025-03-31', 'week', 'month')::text AS s,
                         customer_segment.purchase_activity(d, a, DATE '2025-03-31', 'week')::text AS p FROM o GROUP BY c};
for my $from (grep { $_ ne '1.0' && $_ ne $current } map { /--([\d.]+)--/ ? $1 : () } @shipped) {
    psql('postgres', 'DROP DATABASE IF EXISTS cs_upgrade_from; CREATE DATABASE cs_upgrade_from;');
    psql('cs_upgrade_from', "CREATE EXTENSION customer_segment VERSION '$from';
        CREATE TABLE o AS SELECT g % 40 AS c, TIMESTAMPTZ '2024-01-01 12:00+00' + (g * 7 % 400) * interval '1 day' AS d,
                                 ((g * 37) % 200 - 20)::numeric AS a FROM generate_series(1, 2000) g;");
    my $calls = psql('cs_upgrade_from', $every_aggregate);
    chomp $calls;
    psql('cs_upgrade_from', "CREATE VIEW my_every_aggregate AS SELECT $calls;
        CREATE MATERIALIZED VIEW my_every_aggregate_m AS SELECT $calls;
        CREATE VIEW my_summaries AS $summaries; CREATE MATERIALIZED VIEW my_summaries_m AS $summaries;");
    my $before_update = psql('cs_upgrade_from', 'SELECT * FROM my_summaries ORDER BY c');
    psql('cs_upgrade_from', 'ALTER EXTENSION customer_segment UPDATE;');
    my ($n) = psql_rows('cs_upgrade_from', q{SELECT count(*) FROM pg_class WHERE relname LIKE 'my\_%'});
    is($n->[0], 4, "installed as $from, the user's views and materialized views over the aggregates survive the update");
    psql('cs_upgrade_from', 'REFRESH MATERIALIZED VIEW my_every_aggregate_m; REFRESH MATERIALIZED VIEW my_summaries_m;');
    is(psql('cs_upgrade_from', 'SELECT * FROM my_summaries ORDER BY c'), $before_update, '... the view computes what it did before');
    is(psql('cs_upgrade_from', 'SELECT * FROM my_summaries_m ORDER BY c'), $before_update, '... and so does the refreshed materialized view');
    is(psql('cs_upgrade_from', $catalog), $fresh_objects, "... and the extension has the objects of a fresh install");
    psql('postgres', 'DROP DATABASE cs_upgrade_from;');
}

# Refresh, history and the functions added since 1.0 work on the updated database.
my ($st) = psql_rows($db, q{SELECT customer_segment.refresh('web');});
is($st->[0], 'ok', 'refresh after the update');
my ($re) = psql_rows($db, q{SELECT count(*), (SELECT count(DISTINCT snapshot_date) FROM customer_segment.segment_history)
    FROM customer_segment.refresh_log WHERE status = 'ok';});
is_deeply($re, [3, 2], 'the refresh was logged next to the two before it; its snapshot replaced the one of the same as_of');
is(psql($db, "$snapshot_sql{customers};"), $before->{customers}, 'recomputed views equal those computed by 1.0 for the same as_of');
my ($new) = psql_rows($db, q{WITH m AS (SELECT customer_segment.pareto_nbd_fit(frequency, recency, t) AS m FROM shop.web_customers WHERE orders > 0)
    SELECT count(*), count(*) FILTER (WHERE customer_segment.pareto_nbd_clv(m, frequency, recency, t, 40) >= 0
                                       AND customer_segment.pareto_nbd_probability_purchases(m, 30, 1, frequency, recency, t) BETWEEN 0 AND 1)
      FROM shop.web_customers, m WHERE orders > 0;});
ok($new->[0] > 1000 && $new->[0] == $new->[1], "1.1's Pareto/NBD CLV and P(X = n) work for the $new->[0] customers");

# pg_dump of the updated database restores as the current version with the user's data.
my ($rc, $out) = dump_restore($db, 'cs_upgrade_restored');
is($rc, 0, 'the updated database dumps and restores') or diag($out);
my $restored = snapshot('cs_upgrade_restored');
my $now = snapshot($db);
is_deeply([ map { $restored->{$_} } qw(sources rules ladders history) ], [ map { $now->{$_} } qw(sources rules ladders history) ],
          'sources, rule sets, ladders and history came back');
my ($rv) = psql_rows('cs_upgrade_restored', q{SELECT extversion FROM pg_extension WHERE extname = 'customer_segment';});
is($rv->[0], $current, "restored as $current");

psql('postgres', 'DROP DATABASE cs_upgrade; DROP DATABASE cs_upgrade_fresh; DROP DATABASE cs_upgrade_restored; DROP ROLE cs_upgrade_bi;');
done_testing();

# User rule sets survive pg_dump and restore into a new database; the shipped
# 'standard' rule set comes from the extension and is not duplicated.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

my $src = new_database('cs_dump_src');
psql($src, q{
    SELECT customer_segment.copy_segment_rules('standard', 'mine');
    UPDATE customer_segment.rfm_segment_rules SET segment = 'Stars', action = 'Send a gift'
     WHERE rule_set = 'mine' AND segment = 'Champions';
    DELETE FROM customer_segment.rfm_segment_rules WHERE rule_set = 'mine' AND segment = 'Promising';
    CREATE SCHEMA shop;
    SELECT customer_segment.create_sample_store('shop', 300, 1);
});
my $before = psql($src, q{SELECT customer_id, segment FROM customer_segment.rfm_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', 5, 'mine') ORDER BY 1;});

my ($rc, $restore) = dump_restore($src, 'cs_dump_dst');
is($rc, 0, 'pg_dump output restores into a new database without errors') or diag($restore);

my ($standard) = psql_rows('cs_dump_dst', q{SELECT count(*) FROM customer_segment.rfm_segment_rules WHERE rule_set = 'standard';});
is($standard->[0], 12, 'the standard rule set is there once');
my ($mine) = psql_rows('cs_dump_dst', q{SELECT count(*), count(*) FILTER (WHERE segment = 'Stars' AND action = 'Send a gift'),
    count(*) FILTER (WHERE segment IN ('Champions', 'Promising')) FROM customer_segment.rfm_segment_rules WHERE rule_set = 'mine';});
is_deeply($mine, [11, 1, 0], 'the edited rule set came back with its edits and deletions');
my $after = psql('cs_dump_dst', q{SELECT customer_id, segment FROM customer_segment.rfm_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31', 5, 'mine') ORDER BY 1;});
is($after, $before, 'segments computed after restore equal those before');
like($before, qr/Stars/, 'the renamed segment is in use');

# An ordinary role's source: pg_dump sets row_security = off, and the restore refreshes the role's helper
# views as that role; they read the extension's tables with row security on, so they come back with their rows
# (1.7 failed: "query would be affected by row-level security policy"), in plain and custom format.
psql('postgres', q{DROP ROLE IF EXISTS cs_dump_owner; CREATE ROLE cs_dump_owner LOGIN;});
psql($src, q{GRANT USAGE ON SCHEMA customer_segment, shop TO cs_dump_owner; GRANT SELECT ON shop.orders TO cs_dump_owner;
             CREATE SCHEMA owner_views AUTHORIZATION cs_dump_owner;});
{
    local $ENV{PGUSER} = 'cs_dump_owner';
    psql($src, q{SET client_min_messages = warning;
        SELECT customer_segment.register_source('theirs', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
               target_schema => 'owner_views', as_of => DATE '2025-12-31', time_zone => 'UTC');
        SELECT customer_segment.refresh('theirs');});
}
my $views = q{SELECT (SELECT count(*) FROM owner_views.theirs_customers), (SELECT count(*) FROM owner_views.theirs_segments),
                     (SELECT count(*) FROM owner_views.theirs_cohorts), (SELECT sum(monetary_total) FROM owner_views.theirs_customers)};
my $views_before = psql($src, $views);
($rc, $restore) = dump_restore($src, 'cs_dump_dst');
is($rc, 0, "a dump with an ordinary role's source restores without errors (plain format)") or diag($restore);
is(psql('cs_dump_dst', $views), $views_before, '... and its helper views have their rows');
my $bindir = `\${PG_CONFIG:-pg_config} --bindir`;
chomp $bindir;
my $archive = tmpdir() . '/cs_dump.custom';
system("'$bindir/pg_dump' -Fc -d cs_dump_src -f '$archive'") == 0 or die 'pg_dump -Fc failed';
psql('postgres', 'DROP DATABASE IF EXISTS cs_dump_fc; CREATE DATABASE cs_dump_fc;');
my $out = `'$bindir/pg_restore' -d cs_dump_fc '$archive' 2>&1`;
is($? >> 8, 0, 'pg_restore of the custom format, without --enable-row-security, reports no error') or diag($out);
is(psql('cs_dump_fc', $views), $views_before, '... and the helper views have their rows');

# The relations recorded for the source name the restored views (regclass dumps as a name), so the owner's
# next refresh uses them, in both formats.
my $relations = q{SELECT string_agg(helper || ' ' || relation::text, ', ' ORDER BY helper) FROM customer_segment.source_relations};
my $relations_before = psql($src, $relations);
like($relations_before, qr/^cohorts owner_views\.theirs_cohorts_data, customers owner_views\.theirs_customers_data, /,
     'the source has its helper relations recorded');
for my $db ('cs_dump_dst', 'cs_dump_fc') {
    is(psql($db, $relations), $relations_before, "$db: the recorded relations are the restored views");
    local $ENV{PGUSER} = 'cs_dump_owner';
    is(psql($db, q{SELECT customer_segment.refresh('theirs')}), "ok\n", "$db: the owner refreshes the restored source");
}

psql('postgres', 'DROP DATABASE cs_dump_src; DROP DATABASE cs_dump_dst; DROP DATABASE cs_dump_fc; DROP ROLE cs_dump_owner;');
done_testing();

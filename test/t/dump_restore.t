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

psql('postgres', 'DROP DATABASE cs_dump_src; DROP DATABASE cs_dump_dst;');
done_testing();

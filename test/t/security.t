# Security: no code of another role runs with the rights of whoever calls the extension.
# A role (alice) owns a type with a cast to text, an equality operator and hash/btree operator
# classes whose functions make her a superuser when they run as one (CsTraps).  A superuser then runs every
# function that reads an orders table, and refreshes sources on her tables: none of her code may
# run.  A refresh runs its queries as the role that owns the source, never as the caller.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;
use CsTraps;

my $db = new_database('cs_security');
psql('postgres', q{DROP ROLE IF EXISTS cs_alice; CREATE ROLE cs_alice LOGIN;});
arm_key_traps($db, 'a', 'cs_alice', 400);
psql($db, q{INSERT INTO a.o VALUES (NULL, DATE '2025-03-01', 10);});
sub is_superuser {
    my ($r) = psql_rows($db, q{SELECT rolsuper FROM pg_roles WHERE rolname = 'cs_alice';});
    return $r->[0] eq 't';
}

# The traps are armed: applied directly by a superuser, the cast, the hash opclass and the btree opclass escalate.
for my $case (['cast to text', q{SELECT customer_id::text FROM a.o}],
              ['hash grouping', q{SET enable_sort = off; SELECT count(*) FROM a.o GROUP BY customer_id}],
              ['sorted grouping', q{SET enable_hashagg = off; SELECT count(*) FROM a.o GROUP BY customer_id}]) {
    my @r = psql_rows($db, qq{BEGIN; $case->[1]; SELECT rolsuper FROM pg_roles WHERE rolname = 'cs_alice'; ROLLBACK;});
    is($r[-1][0], 't', "the trap is armed: $case->[0] of the key type as a superuser runs cs_alice's code");
}
ok(!is_superuser(), 'cs_alice is not a superuser to begin with');

# Every function that reads a table, run by a superuser on cs_alice's tables, under both grouping strategies.
my @calls = (
    ['rfm_analyze', q{SELECT count(*), min(customer_id), max(customer_id) FROM customer_segment.rfm_analyze('a.o', 'customer_id', 'd', 'amount', DATE '2025-12-31')}],
    ['clv_analyze', q{SELECT count(*), min(customer_id), max(customer_id) FROM customer_segment.clv_analyze('a.o', 'customer_id', 'd', 'amount', DATE '2025-12-31')}],
    ['btyd_analyze', q{SELECT count(*), min(customer_id), max(customer_id) FROM customer_segment.btyd_analyze('a.o', 'customer_id', 'd', 'amount', DATE '2025-12-31')}],
    ['cohort_retention', q{SELECT sum(cohort_size) FILTER (WHERE period_offset = 0), '(0)', '(9)' FROM customer_segment.cohort_retention('a.o', 'customer_id', 'd', 'amount', DATE '2025-12-31')}],
);
for my $plan (['hash', 'SET enable_sort = off;'], ['sort', 'SET enable_hashagg = off;']) {
    for my $c (@calls) {
        my ($r) = psql_rows($db, "SET client_min_messages = warning; $plan->[1] $c->[1];");
        is_deeply($r, [40, '(0)', '(9)'], "$c->[0] ($plan->[0] plan) reads the 40 customers of a composite key, by their text form");
        ok(!is_superuser(), "... and ran none of cs_alice's code");
    }
}
my @mm = psql_rows($db, q{SELECT from_state, to_state, customers, value FROM customer_segment.migration_matrix('a.snap', 'a.snap', state_column => 'tier', value_column => 'value')});
is_deeply(\@mm, [['bronze', 'bronze', 20, 300], ['gold', 'gold', 10, 165]], 'migration_matrix joins composite keys and labels enum states by their text');
ok(!is_superuser(), "... and ran none of cs_alice's code");
like(psql_fails($db, q{SELECT * FROM customer_segment.migration_matrix('a.snap', 'a.snap', value_column => 'customer_id')}) // '',
     qr/has type a\.ct, expected a number/, 'a value column must be a built-in number type');

# A source a superuser registered on cs_alice's table, with its views in cs_alice's schema.
psql($db, q{SELECT customer_segment.register_source('ext', 'a.o', 'customer_id', 'd', 'amount', as_of => DATE '2025-12-31');});
my $st = (psql_rows($db, q{SET client_min_messages = warning; SELECT customer_segment.refresh('ext');
    SELECT 'refreshed', count(*), min(customer_id) FROM a.ext_customers;}))[-1];
is_deeply($st, ['refreshed', 40, '(0)'], 'a superuser refreshes a source on that table');
ok(!is_superuser(), "... and ran none of cs_alice's code");

# The schema's owner swaps the data of a helper view for a view of her own: refresh and report refuse to read it.
psql($db, q{SET ROLE cs_alice;
    SET client_min_messages = warning;
    DROP TABLE a.ext_customers_data CASCADE;
    CREATE VIEW a.ext_customers_data AS SELECT '(1)'::text AS customer_id, a.to_text(ROW(1)) AS as_of;});
$st = (psql_rows($db, q{SET client_min_messages = error; SELECT customer_segment.refresh('ext');}))[-1];
is($st->[0], 'failed', 'refresh fails when a helper view is no longer the one register_source made');
my ($log) = psql_rows($db, q{SELECT error FROM customer_segment.refresh_log WHERE source = 'ext' ORDER BY id DESC LIMIT 1;});
like($log->[0], qr/^55000: helper view a\.ext_customers_data of source "ext" is not the one register_source created/, '... and logs why');
like(psql_fails($db, q{SELECT * FROM customer_segment.report('ext')}) // '', qr/It is not a table/, 'report refuses it too');
ok(!is_superuser(), "... and neither ran cs_alice's code");

# A refresh runs as the source's owner.  cs_alice's orders view refuses to be read by a superuser;
# she registers a source on it (with the grants the privilege recipe will give), a superuser refreshes it.
psql($db, q{
    GRANT USAGE ON SCHEMA customer_segment TO cs_alice;
    GRANT SELECT ON ALL TABLES IN SCHEMA customer_segment TO cs_alice;
    GRANT INSERT ON customer_segment.sources TO cs_alice;
    SET ROLE cs_alice;
    CREATE FUNCTION a.not_as_superuser() RETURNS boolean LANGUAGE plpgsql STABLE AS $$
    BEGIN
        IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'cs_alice''s view was read as the superuser %', current_user;
        END IF;
        RETURN true;
    END$$;
    CREATE VIEW a.mine AS SELECT (customer_id).v AS customer_id, d, amount FROM a.o WHERE a.not_as_superuser();
    SELECT customer_segment.register_source('alices', 'a.mine', 'customer_id', 'd', 'amount', as_of => DATE '2025-12-31');
    RESET ROLE;});
like(psql_fails($db, q{SELECT count(*) FROM customer_segment.rfm_analyze('a.mine', 'customer_id', 'd', 'amount', DATE '2025-12-31')}) // '',
     qr/read as the superuser/, "the guard works: read directly by a superuser, cs_alice's view refuses");
$st = (psql_rows($db, q{SET client_min_messages = warning; SELECT customer_segment.refresh('alices');
    SELECT count(*), (SELECT relowner::regrole FROM pg_class WHERE oid = 'a.alices_customers'::regclass),
           (SELECT status FROM customer_segment.refresh_log WHERE source = 'alices') FROM a.alices_customers;}))[-1];
is_deeply($st, [40, 'cs_alice', 'ok'], "a superuser's refresh of cs_alice's source read her view as cs_alice");
ok(!is_superuser(), 'cs_alice is still not a superuser');

psql('postgres', q{DROP DATABASE cs_security; DROP ROLE cs_alice;});
done_testing();

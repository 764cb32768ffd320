# The privilege model against an attacker (doc/operations.md, "Security"): two ordinary roles under the
# documented recipe, mallory (who may read shop.orders) and eve (who may not), try every route by which
# release 1.7 let one of them become superuser or read the other's data through a superuser's call of the
# extension.  Each route runs twice: on a database of version 1.7 (where it must succeed, so the test can
# tell an open route from a closed one) and on the current version (where it must not).  Whose rights the hostile code ran with is recorded in a table the attacker owns.
use strict;
use warnings;
use Test::More;
use lib 't/lib', 'test/t/lib';
use CsTest;

my @roles = qw(cs_mallory cs_eve);
psql('postgres', join('', map { "DROP DATABASE IF EXISTS $_;" } qw(cs_routes cs_routes_17))
    . join('', map { "DROP ROLE IF EXISTS $_;" } @roles) . join('', map { "CREATE ROLE $_ LOGIN;" } @roles));

sub as { my ($db, $role, $sql) = @_; local $ENV{PGUSER} = $role; return psql($db, $sql); }
sub fails_as { my ($db, $role, $sql) = @_; local $ENV{PGUSER} = $role; return psql_fails($db, $sql) // 'succeeded'; }
sub superusers { return psql('postgres', q{SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles
                                             WHERE rolname IN ('cs_mallory', 'cs_eve') AND rolsuper;}) =~ s/\s+$//r; }
sub demote { psql('postgres', 'ALTER ROLE cs_mallory NOSUPERUSER; ALTER ROLE cs_eve NOSUPERUSER;'); }
# The roles hostile code ran as (recorded by mallory's functions), and forget them.
sub ran_as {
    my ($db) = @_;
    my $who = psql($db, q{SELECT coalesce(string_agg(DISTINCT who, ',' ORDER BY who), '') FROM mallory_views.seen;
                          TRUNCATE mallory_views.seen;}) =~ s/\s+$//r;
    return $who;
}

sub setup {
    my ($db, $version) = @_;
    psql('postgres', "CREATE DATABASE $db;");
    psql($db, "CREATE EXTENSION customer_segment VERSION '$version';");
    psql($db, q{
        SET client_min_messages = warning;
        CREATE SCHEMA sample; SELECT customer_segment.create_sample_store('sample', 400, 7);
        CREATE SCHEMA shop;
        CREATE TABLE shop.orders (order_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id int,
                                  ordered_at timestamptz, amount numeric);
        INSERT INTO shop.orders (customer_id, ordered_at, amount)
        SELECT customer_id, ordered_at, amount FROM sample.orders ORDER BY ordered_at, customer_id;
        GRANT USAGE ON SCHEMA customer_segment TO cs_mallory, cs_eve;
        GRANT USAGE ON SCHEMA shop TO cs_mallory;
        GRANT SELECT ON shop.orders TO cs_mallory;
        CREATE SCHEMA mallory_views AUTHORIZATION cs_mallory;
        CREATE SCHEMA eve_views AUTHORIZATION cs_eve;
        SELECT customer_segment.create_history_partition(DATE '2025-12-15');   -- planted history rows reach row security
    });
    # mallory's hostile code: records whose rights it runs with, and escalates when they are a superuser's.
    as($db, 'cs_mallory', q{
        CREATE TABLE mallory_views.seen (who name);
        GRANT INSERT ON mallory_views.seen TO PUBLIC;
        GRANT USAGE ON SCHEMA mallory_views TO PUBLIC;
        CREATE FUNCTION mallory_views.hostile() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            INSERT INTO mallory_views.seen VALUES (current_user);
            IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
                EXECUTE 'ALTER ROLE cs_mallory SUPERUSER';
            END IF;
            RETURN true;
        END$$;
        CREATE FUNCTION mallory_views.hostile_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM mallory_views.hostile();
            RETURN NULL;
        END$$;});
}
setup('cs_routes_17', '1.7');
setup('cs_routes', psql('postgres', q{SELECT default_version FROM pg_available_extensions WHERE name = 'customer_segment'}) =~ s/\s+$//r);

for my $case (['cs_routes_17', 1], ['cs_routes', 0]) {
    my ($db, $open) = @$case;
    my $tag = $open ? 'on 1.7 (route open)' : 'now';
    my $escalated = $open ? 'cs_mallory' : '';

    # 1. Triggers on the states table of mallory's incrementally refreshed source, a superuser refreshes.
    as($db, 'cs_mallory', q{SET client_min_messages = warning;
        SELECT customer_segment.register_source('m', 'shop.orders', 'customer_id', 'ordered_at', 'amount',
                                                target_schema => 'mallory_views', as_of => DATE '2025-12-31', time_zone => 'UTC');
        SELECT customer_segment.set_source_change_column('m', 'order_id');
        SELECT customer_segment.refresh('m');
        -- autovacuum's ANALYZE would run her index expression as her (PostgreSQL's own model): not what is tested
        ALTER TABLE mallory_views.m_states SET (autovacuum_enabled = false);
        CREATE TRIGGER t BEFORE INSERT OR UPDATE ON mallory_views.m_states FOR EACH STATEMENT EXECUTE FUNCTION mallory_views.hostile_trigger();
        CREATE TRIGGER t2 BEFORE TRUNCATE ON mallory_views.m_states FOR EACH STATEMENT EXECUTE FUNCTION mallory_views.hostile_trigger();});
    ran_as($db);
    psql($db, q{SET client_min_messages = warning;
        INSERT INTO shop.orders (customer_id, ordered_at, amount) VALUES (1, '2025-12-30 10:00+00', 10);
        SELECT customer_segment.refresh('m'); SELECT customer_segment.refresh('m', full => true);});
    is(superusers(), $escalated, "states-table triggers, superuser's refresh $tag: " . ($open ? 'mallory became superuser' : 'nobody became superuser'));
    is(ran_as($db), $open ? 'postgres' : 'cs_mallory', '... the triggers ran as ' . ($open ? 'the superuser' : 'mallory'));
    demote();
    unless ($open) {
        my $st = psql($db, q{SELECT status || ' ' || coalesce(error, '') FROM customer_segment.refresh_log WHERE source = 'm' ORDER BY id DESC LIMIT 1});
        like($st, qr/^ok/, '... and the refresh succeeded');
    }

    # 1b. The same table with an index expression and a column default of hers instead of triggers.
    as($db, 'cs_mallory', q{SET client_min_messages = warning;
        DROP TRIGGER t ON mallory_views.m_states; DROP TRIGGER t2 ON mallory_views.m_states;
        CREATE FUNCTION mallory_views.key_of(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
        BEGIN PERFORM mallory_views.hostile(); RETURN $1; END$$;
        CREATE FUNCTION mallory_views.default_of() RETURNS int LANGUAGE plpgsql AS $$
        BEGIN PERFORM mallory_views.hostile(); RETURN 1; END$$;
        CREATE INDEX ON mallory_views.m_states (mallory_views.key_of(customer_id));
        ALTER TABLE mallory_views.m_states ADD COLUMN extra int DEFAULT mallory_views.default_of();});
    ran_as($db);
    psql($db, q{SET client_min_messages = warning;
        INSERT INTO shop.orders (customer_id, ordered_at, amount) VALUES (1, '2025-12-30 10:30+00', 10);
        SELECT customer_segment.refresh('m'); SELECT customer_segment.refresh('m', full => true);});
    is(superusers(), $escalated, "an index expression and a column default on the states table, superuser's refresh $tag");
    is(ran_as($db), $open ? 'postgres' : 'cs_mallory', '... they ran as ' . ($open ? 'the superuser' : 'mallory'));
    demote();
    # The scheduler's path (refresh_job, as pg_cron calls it) and the text report.
    psql($db, q{SET client_min_messages = warning;
        INSERT INTO shop.orders (customer_id, ordered_at, amount) VALUES (1, '2025-12-30 10:40+00', 10);
        CALL customer_segment.refresh_job('m');
        SELECT count(*) FROM customer_segment.report('m');});
    is(superusers(), $escalated, "... a superuser's refresh_job (the pg_cron path) and report $tag");
    is(ran_as($db), $open ? 'postgres' : 'cs_mallory', '... her code ran as ' . ($open ? 'the superuser' : 'mallory'));
    demote();

    # 2. A source over mallory's view that calls her function: a superuser's report_html and refreshes.
    as($db, 'cs_mallory', q{SET client_min_messages = warning;
        CREATE VIEW mallory_views.v AS SELECT o.* FROM shop.orders o WHERE mallory_views.hostile();
        SELECT customer_segment.register_source('mv', 'mallory_views.v', 'customer_id', 'ordered_at', 'amount',
                                                as_of => DATE '2025-12-31', time_zone => 'UTC');
        SELECT customer_segment.set_source_change_column('mv', 'order_id');
        SELECT customer_segment.refresh('mv');});
    ran_as($db);
    psql($db, q{SET client_min_messages = error; SELECT length(customer_segment.report_html('mv', 26)) > 0;});
    is(superusers(), $escalated, "a source over mallory's view, superuser's report_html $tag");
    is(ran_as($db), $open ? 'postgres' : 'cs_mallory', "... mallory's view ran as " . ($open ? 'the superuser' : 'mallory'));
    demote();
    psql($db, q{SET client_min_messages = error; INSERT INTO shop.orders (customer_id, ordered_at, amount) VALUES (2, '2025-12-30 11:00+00', 10);
                SELECT customer_segment.refresh('mv');});
    is(superusers(), $escalated, "... superuser's incremental refresh $tag");
    is(ran_as($db), $open ? 'postgres' : 'cs_mallory', '... her view ran as ' . ($open ? 'the superuser' : 'mallory'));
    demote();

    # 3. Covariates keyed by mallory's type with her cast to text: a superuser's btyd_analyze.
    as($db, 'cs_mallory', q{
        CREATE TYPE mallory_views.ckey AS (id int);
        CREATE FUNCTION mallory_views.ckey_text(mallory_views.ckey) RETURNS text LANGUAGE plpgsql VOLATILE AS $$
        BEGIN PERFORM mallory_views.hostile(); RETURN ($1).id::text; END$$;
        CREATE CAST (mallory_views.ckey AS text) WITH FUNCTION mallory_views.ckey_text(mallory_views.ckey);
        CREATE TABLE mallory_views.cov WITH (autovacuum_enabled = false) AS
        SELECT DISTINCT ROW(customer_id)::mallory_views.ckey AS customer_id, ARRAY[(customer_id % 2)::float8] AS purchase_covariates,
               '{}'::float8[] AS dropout_covariates, '{}'::float8[] AS spend_covariates FROM shop.orders;});
    psql($db, q{SET client_min_messages = error;
        DO $$ BEGIN
            PERFORM count(*) FROM customer_segment.btyd_analyze('shop.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-12-31',
                                                                 covariates => 'mallory_views.cov');
        EXCEPTION WHEN OTHERS THEN NULL;   -- the keys may match nobody: what matters is whose code ran
        END $$;});
    is(superusers(), $escalated, "covariates with mallory's cast, superuser's btyd_analyze $tag");
    is(ran_as($db), $open ? 'postgres' : '', "... the cast " . ($open ? 'ran as the superuser' : 'did not run'));
    demote();

    # 4. eve forges a source over shop.orders (which she cannot read) by a direct INSERT.
    my $forge = fails_as($db, 'cs_eve', q{INSERT INTO customer_segment.sources (name, orders, customer_column, time_column, amount_column, target_schema, as_of, time_zone)
        SELECT 'e', c.oid::regclass, 'customer_id', 'ordered_at', 'amount', 'eve_views', DATE '2025-12-31', 'UTC'
          FROM pg_catalog.pg_class c WHERE c.relname = 'orders' AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = 'shop')});
    if ($open) {
        is($forge, 'succeeded', "eve's forged source over a table she cannot read $tag: accepted");
    } else {
        like($forge, qr/permission denied for table sources/, "eve's forged source over a table she cannot read $tag: refused");
    }
    # Even with the row in place (as an update from 1.7 may find it), a superuser's refresh reads as eve.
    psql($db, q{SET client_min_messages = error;
        INSERT INTO customer_segment.sources (name, orders, customer_column, time_column, amount_column, target_schema, as_of, time_zone, registered_by)
        SELECT 'e2', 'shop.orders'::regclass, 'customer_id', 'ordered_at', 'amount', 'eve_views', DATE '2025-12-31', 'UTC', 'cs_eve';
        INSERT INTO customer_segment.source_increments (source, change_column, owner) VALUES ('e2', 'order_id', 'cs_eve');});
    if ($open) {
        as($db, 'cs_eve', q{SET client_min_messages = warning;
            SELECT customer_segment.create_source_views(s) FROM customer_segment.sources s WHERE s.name = 'e2';});
    } else {
        psql($db, q{SET client_min_messages = warning; SELECT customer_segment.registry_write('create_views', 'e2');});
    }
    psql($db, q{SET client_min_messages = error; SELECT customer_segment.refresh('e2');});
    my $leaked = as($db, 'cs_eve', q{SELECT CASE WHEN to_regclass('eve_views.e2_states') IS NULL THEN 0
                                              ELSE (xpath('//c/text()', query_to_xml('SELECT count(*) AS c FROM eve_views.e2_states', false, false, '')))[1]::text::int END})
                 =~ s/\s+$//r;
    if ($open) {
        cmp_ok($leaked, '>', 0, "... a superuser's refresh of it $tag: eve reads $leaked customers' states of shop.orders");
    } else {
        is($leaked, 0, "... a superuser's refresh of it $tag: eve reads no state of shop.orders");
        like(psql($db, q{SELECT error FROM customer_segment.refresh_log WHERE source = 'e2' ORDER BY id DESC LIMIT 1}),
             qr/^42501: .*cs_eve cannot read shop\.orders/, '... the refresh failed for want of her rights, logged');
    }

    # 5. eve files rows under mallory's source.
    for my $plant (['source_increments', q{INSERT INTO customer_segment.source_increments (source, change_column, owner) VALUES ('mv', 'order_id', 'cs_eve')}],
                   ['segment_history', q{INSERT INTO customer_segment.segment_history VALUES ('m', DATE '2025-12-15', 'x', 'Champions', '555', 'active', NULL, 1, 'cs_eve')}],
                   ['refresh_log', q{INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, status, owner) VALUES ('m', now(), now(), 'ok', 'cs_eve')}]) {
        my $err = fails_as($db, 'cs_eve', $plant->[1]);
        if ($open) {
            unlike($err, qr/row-level security/, "eve files a $plant->[0] row under mallory's source $tag: not refused by row security");
        } else {
            like($err, qr/permission denied for table $plant->[0]/, "eve files a $plant->[0] row under mallory's source $tag: refused");
        }
    }

    # 6. Partition squatting: a BC day with the name of an AD month, and days no snapshot can have.  Now only
    # the registry (as the extension's owner) creates partitions, and even it only for days a snapshot can have.
    for my $day ("DATE '2031-03-15 BC'", "DATE '2999-01-01'", "DATE '1066-10-14'") {
        my $err = fails_as($db, 'cs_eve', "SELECT customer_segment.create_history_partition($day)");
        if ($open) {
            is($err, 'succeeded', "create_history_partition($day) $tag: accepted");
        } else {
            like($err, qr/permission denied for function create_history_partition/, "create_history_partition($day) $tag: refused to eve");
            like(fails_as($db, 'postgres', "SELECT customer_segment.create_history_partition($day)"), qr/snapshot day .* is out of range/,
                 '... and to the extension\'s owner (22023)');
        }
    }

    # run_as_owner only drops rights: eve cannot run a query as mallory.
    unless ($open) {
        like(fails_as($db, 'cs_eve', q{SELECT customer_segment.run_as_owner('cs_mallory', 'SELECT 1')}),
             qr/permission denied to act as role "cs_mallory"/, 'run_as_owner refuses a role the caller cannot act as (42501)');
    }

    # 7. The registry: a role writes through registry_write only what it may, and the extension uses only the
    # helper relations it created for a source (source_relations), not any relation of the same name.
    unless ($open) {
        my $shop_orders = q{(SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = 'orders'
                               AND c.relnamespace = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'shop'))};
        my $row = q{'customer_column', 'customer_id', 'time_column', 'ordered_at', 'amount_column', 'amount', 'bins', 5,
                    'rule_set', 'standard', 'time_zone', 'UTC'};
        like(fails_as($db, 'cs_eve', qq{SELECT customer_segment.registry_write('register', 'e3',
                 jsonb_build_object('orders', $shop_orders, 'target_schema', 'eve_views', $row))}),
             qr/permission denied to read/, 'registry_write refuses eve a source over a table she cannot read (42501)');
        as($db, 'cs_eve', q{CREATE TABLE eve_views.orders (customer_id int, ordered_at timestamptz, amount numeric);});
        like(fails_as($db, 'cs_eve', qq{SELECT customer_segment.registry_write('register', 'e3',
                 jsonb_build_object('orders', 'eve_views.orders'::regclass::oid, 'target_schema', 'mallory_views', $row))}),
             qr/permission denied to create in schema mallory_views/, '... or one whose views would go into a schema she may not create in');
        like(fails_as($db, 'cs_eve', qq{SELECT customer_segment.registry_write('register', 'e3',
                 jsonb_build_object('orders', 'eve_views.orders'::regclass::oid, 'target_schema', 'eve_views', $row, 'time_zone', 'Mars/Olympus'))}),
             qr/time zone "Mars\/Olympus" is not recognized/, '... or one with settings register_source refuses');
        like(fails_as($db, 'cs_mallory', q{SELECT customer_segment.registry_write('drop_everything', 'm')}), qr/unknown registry write "drop_everything"/,
             '... and knows only its own writes (22023)');
        is(psql($db, q{SELECT string_agg(helper || ' ' || pg_get_userbyid(c.relowner), ', ' ORDER BY helper)
                         FROM customer_segment.source_relations r JOIN pg_class c ON c.oid = r.relation WHERE r.source = 'm'}),
           "cohorts cs_mallory, customers cs_mallory, lifecycle cs_mallory, rf_grid cs_mallory, segments cs_mallory, states cs_mallory, tiers cs_mallory\n",
           "mallory's source has its six helper relations and its states recorded, all hers");
        # mallory puts a relation of her own making in the place of one: refreshes refuse it, and recording
        # again does not take it for the extension's.
        as($db, 'cs_mallory', q{SET client_min_messages = warning; DROP TABLE mallory_views.m_segments_data CASCADE;
            CREATE TABLE mallory_views.m_segments_data AS SELECT * FROM customer_segment.source_segments('m') WITH NO DATA;});
        psql($db, q{SET client_min_messages = error; SELECT customer_segment.refresh('m');});
        like(psql($db, q{SELECT error FROM customer_segment.refresh_log WHERE source = 'm' ORDER BY id DESC LIMIT 1}),
             qr/^55000: helper view mallory_views\.m_segments_data of source "m" is not the one register_source created/,
             '... a table she made herself in place of one is refused (55000)');
        like(fails_as($db, 'cs_mallory', q{SELECT customer_segment.registry_write('create_views', 'm')}),
             qr/relation "m_segments_data" already exists/, '... and create_views does not take it for the extension\'s (42P07)');
        as($db, 'cs_mallory', q{SET client_min_messages = warning; DROP TABLE mallory_views.m_segments_data CASCADE;
            SELECT customer_segment.registry_write('create_views', 'm');});
        is(psql($db, q{SELECT customer_segment.refresh('m')}), "ok\n", '... and once it is gone, create_views makes and records a new one');
    }

    # An UPDATE of a source's zone is checked like set_source_time_zone.
    my $tz = fails_as($db, 'cs_mallory', q{UPDATE customer_segment.sources SET time_zone = 'Mars/Olympus' WHERE name = 'm'});
    if ($open) {
        is($tz, 'succeeded', "an invalid zone by UPDATE $tag: accepted");
    } else {
        like($tz, qr/time zone "Mars\/Olympus" is not recognized/, "an invalid zone by UPDATE $tag: refused");
    }
}

# A refresh about to fill an empty partition of its month (its transaction still open): eve's drop of empty
# partitions leaves it alone (in 1.7 it dropped it under the refresh, whose insert then failed).
for my $case (['cs_routes_17', 1], ['cs_routes', 0]) {
    my ($db, $open) = @$case;
    psql($db, q{SELECT customer_segment.create_history_partition(DATE '2026-06-15');});
    my $gate = gate_closed($db, 9911);
    my $pid = in_background($db, q{BEGIN; SELECT customer_segment.create_history_partition(DATE '2026-06-15');
        SELECT pg_advisory_lock_shared(9911); COMMIT;});
    lock_wait_of($db, '%pg_advisory_lock_shared(9911)%');
    if ($open) {
        is(fails_as($db, 'cs_eve', q{SELECT customer_segment.drop_empty_history_partitions()}), 'succeeded',
           'eve may drop empty history partitions while a refresh is about to fill one on 1.7');
    } else {
        like(fails_as($db, 'cs_eve', q{SELECT customer_segment.drop_empty_history_partitions()}), qr/permission denied for function/,
             'eve may not drop empty history partitions now');
        is(fails_as($db, 'postgres', q{SELECT customer_segment.drop_empty_history_partitions()}), 'succeeded',
           '... the registry may, while a refresh is about to fill one');
    }
    open_gate($db, 9911, $gate);
    waitpid($pid, 0);
    is(psql($db, q{SELECT to_regclass('customer_segment.segment_history_2026_06') IS NOT NULL}), $open ? "f\n" : "t\n",
       $open ? '... and on 1.7 she dropped the partition under the refresh' : '... and the partition survives');
}

# The update from 1.7 applies the rule to what it finds: the planted rows go, the forged source is named, and
# the routes are closed there too.
my $warnings = `psql -X -q -d cs_routes_17 -c 'ALTER EXTENSION customer_segment UPDATE' 2>&1`;
like($warnings, qr/removed 1 segment_history rows filed under a source of another role/, 'the update from 1.7 removes the planted history row');
like($warnings, qr/removed 1 refresh_log rows filed under a source of another role/, '... and the planted log row');
like($warnings, qr/source "e2": its owner cs_eve cannot read shop\.orders/, '... and names the forged source');
like($warnings, qr/source "m": time zone "Mars\/Olympus" is not recognized/, '... and the source whose zone an UPDATE made invalid');
is(psql('cs_routes_17', q{SELECT string_agg(source || ' ' || left(error, 5), ', ' ORDER BY source) FROM customer_segment.refresh_log
                           WHERE error LIKE '%the update to 1.8 found%'}), "e 42501, e 55000, e2 42501, m 22023\n", '... each in a failed row of its log too');
is(psql('cs_routes_17', q{SELECT count(*) FROM customer_segment.segment_history WHERE owner = 'cs_eve'}), "0\n", '... no row of eve\'s is left under mallory\'s source');
as('cs_routes_17', 'cs_mallory', q{SELECT customer_segment.set_source_time_zone('m', 'UTC');});
ran_as('cs_routes_17');
psql('cs_routes_17', q{SET client_min_messages = warning;
    INSERT INTO shop.orders (customer_id, ordered_at, amount) VALUES (3, '2025-12-30 12:00+00', 10);
    SELECT customer_segment.refresh('m'); SELECT customer_segment.refresh('m', full => true);});
is(superusers(), '', "after the update, a superuser's refresh of mallory's source with her code on the states table: nobody became superuser");
is(ran_as('cs_routes_17'), 'cs_mallory', '... her code ran as mallory')
    or diag(psql('cs_routes_17', q{SELECT status, error, note FROM customer_segment.refresh_log WHERE source = 'm' ORDER BY id DESC LIMIT 2}));
demote();

psql('postgres', 'DROP DATABASE cs_routes; DROP DATABASE cs_routes_17; DROP ROLE cs_mallory; DROP ROLE cs_eve;');
done_testing();

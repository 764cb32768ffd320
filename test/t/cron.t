# Scheduling: schedule_refresh, called by an ordinary role, creates a pg_cron job that refreshes
# the source as that role within a minute; without pg_cron the helpers say what to install.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use lib 't/lib', 'test/t/lib';
use CsTest;

my ($preloaded) = psql_rows('postgres', q{SELECT current_setting('shared_preload_libraries') LIKE '%pg_cron%';});
plan skip_all => 'pg_cron is not preloaded in this cluster (Debian\'s package postgresql-15-cron: PostgreSQL 15 only; this server is '
                  . server_major() . ')' unless $preloaded->[0] eq 't';

# Without the pg_cron extension in the database: a clear error.
my $db = new_database('cs_cron_missing');
psql($db, q{CREATE SCHEMA shop; SELECT customer_segment.create_sample_store('shop', 100, 1);
    SELECT customer_segment.register_source('web', 'shop.orders', 'customer_id', 'ordered_at', 'amount');});
like(psql_fails($db, q{SELECT customer_segment.schedule_refresh('web')}) // '', qr/pg_cron is not installed/,
     'schedule_refresh without pg_cron explains what to install');
psql('postgres', "DROP DATABASE $db;");

# pg_cron runs in cron.database_name (postgres here).  An ordinary role schedules its own source, with
# the privileges recipe of doc/operations.md: every check below reads what that role itself can see.
psql('postgres', q{DROP SCHEMA IF EXISTS cron_shop CASCADE; DROP SCHEMA IF EXISTS cron_views CASCADE;
    DROP EXTENSION IF EXISTS customer_segment CASCADE;
    DO $$BEGIN IF to_regrole('cs_cron_user') IS NOT NULL THEN DROP OWNED BY cs_cron_user; DROP ROLE cs_cron_user; END IF; END$$; CREATE ROLE cs_cron_user LOGIN;
    CREATE EXTENSION IF NOT EXISTS pg_cron; CREATE EXTENSION customer_segment; CREATE SCHEMA cron_shop;
    SELECT customer_segment.create_sample_store('cron_shop', 300, 1);
    GRANT USAGE ON SCHEMA customer_segment TO cs_cron_user;
    GRANT USAGE ON SCHEMA cron_shop TO cs_cron_user;
    GRANT SELECT ON cron_shop.orders TO cs_cron_user;
    CREATE SCHEMA cron_views AUTHORIZATION cs_cron_user;
    GRANT USAGE ON SCHEMA cron TO cs_cron_user;});
sub user_rows { my ($sql) = @_; local $ENV{PGUSER} = 'cs_cron_user'; return psql_rows('postgres', $sql); }
user_rows(q{SELECT customer_segment.register_source('cronweb', 'cron_shop.orders', 'customer_id', 'ordered_at', 'amount',
    target_schema => 'cron_views');});
my ($job) = user_rows(q{SELECT customer_segment.schedule_refresh('cronweb', '* * * * *');});
like($job->[0], qr/^\d+$/, "pg_cron job $job->[0] created by an ordinary role");
my ($listed) = user_rows(q{SELECT jobname, schedule, command, username FROM cron.job WHERE jobname = 'customer_segment refresh cronweb';});
is($listed->[2], "CALL customer_segment.refresh_job('cronweb')", 'the job calls refresh_job(source)');
is($listed->[3], 'cs_cron_user', '... as the role that scheduled it');

my $runs = 0;
for (1 .. 90) {                     # a job set to every minute runs within 60 s
    ($runs) = user_rows(q{SELECT count(*) FROM customer_segment.refresh_log WHERE source = 'cronweb' AND status = 'ok';});
    $runs = $runs->[0];
    last if $runs > 0;
    sleep(1);
}
cmp_ok($runs, '>', 0, 'the scheduled refresh ran and was logged');
my ($filled) = user_rows(q{SELECT count(*) > 0 FROM cron_views.cronweb_customers;});
is($filled->[0], 't', 'and filled the helper views');

# A refresh that fails is a failed run where the DBA looks: the refresh log and cron.job_run_details.
my ($since) = psql_rows('postgres', q{SELECT now(); INSERT INTO cron_shop.orders VALUES (999999, 1, '2025-06-01 10:00+00', 'NaN');});
my $failed = 0;
for (1 .. 90) {
    ($failed) = user_rows(q{SELECT count(*) FROM customer_segment.refresh_log WHERE source = 'cronweb' AND status = 'failed';});
    $failed = $failed->[0];
    last if $failed > 0;
    sleep(1);
}
cmp_ok($failed, '>', 0, 'a scheduled refresh over a NaN amount failed and was logged');
my $run;
for (1 .. 30) {     # pg_cron records the run's end just after the job's transaction
    ($run) = user_rows(qq{SELECT status, return_message FROM cron.job_run_details
        WHERE jobid = $job->[0] AND status IN ('failed', 'succeeded') AND start_time >= '$since->[0]'
        ORDER BY start_time DESC LIMIT 1;});
    last if $run && $run->[0] eq 'failed';
    sleep(1);
}
is($run->[0], 'failed', 'cron.job_run_details records the run as failed, visible to the role');
like($run->[1] // '', qr/refresh of source "cronweb" failed: 22023/, '... with the logged SQLSTATE and message');
my ($err) = user_rows(q{SELECT error FROM customer_segment.refresh_log WHERE source = 'cronweb' AND status = 'failed' LIMIT 1;});
like($err->[0], qr/^22023: /, 'the refresh log keeps the error (the run committed it before failing)');

my ($unscheduled) = user_rows(q{SELECT customer_segment.unschedule_refresh('cronweb');});
my ($gone) = psql_rows('postgres', q{SELECT count(*) FROM cron.job WHERE jobname = 'customer_segment refresh cronweb';});
is_deeply([$unscheduled->[0], $gone->[0]], ['t', 0], 'unschedule_refresh removes the job');
user_rows(q{SELECT customer_segment.unregister_source('cronweb');});
psql('postgres', q{DROP SCHEMA cron_shop CASCADE; DROP SCHEMA cron_views CASCADE;
    DROP EXTENSION customer_segment; DROP EXTENSION pg_cron; DROP OWNED BY cs_cron_user; DROP ROLE cs_cron_user;});
done_testing();

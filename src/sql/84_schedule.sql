-- Scheduling with pg_cron, when it is installed (no hard dependency: called through EXECUTE).
CREATE FUNCTION customer_segment.require_pg_cron()
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF to_regprocedure('cron.schedule(text, text, text)') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Install the postgresql-15-cron package, set shared_preload_libraries = ''pg_cron'' and '
                         'cron.database_name, restart, then CREATE EXTENSION pg_cron in that database.';
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.require_pg_cron() IS 'Raises 0A000 with installation hints unless pg_cron 1.4+ is installed in this database';

CREATE FUNCTION customer_segment.schedule_refresh(source text, schedule text DEFAULT '0 3 * * *')
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    job bigint;
BEGIN
    PERFORM customer_segment.get_source(source);
    PERFORM customer_segment.require_pg_cron();
    -- pg_cron lives in one database (cron.database_name), so a job it runs for this database is a job of that
    -- one: cron.schedule, which every role with USAGE on schema cron may call, schedules it as the caller.
    EXECUTE 'SELECT cron.schedule($1, $2, $3)'
       INTO job
      USING 'customer_segment refresh ' || source, schedule, format('CALL customer_segment.refresh_job(%L)', source);
    RETURN job;
END
$$;
COMMENT ON FUNCTION customer_segment.schedule_refresh(text, text) IS
    'Schedules CALL refresh_job(source) with pg_cron (cron syntax, default daily at 03:00) in this database as the current user '
    '(needs USAGE on schema cron); a failed refresh is a failed run; returns the job id';

CREATE FUNCTION customer_segment.unschedule_refresh(source text)
RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    done boolean;
BEGIN
    PERFORM customer_segment.require_pg_cron();
    EXECUTE 'SELECT cron.unschedule($1)' INTO done USING 'customer_segment refresh ' || source;
    RETURN done;
END
$$;
COMMENT ON FUNCTION customer_segment.unschedule_refresh(text) IS 'Removes the current user''s pg_cron job of schedule_refresh(source)';


-- Refresh: recompute a source's helper views, one refresh at a time, logged; refresh_job for schedulers.

-- Fills the tables behind the helper views of a source with what their source_<helper> functions compute
-- now, in refresh order (the summaries read the new customers rows); run as the source's owner by
-- refresh_views.  Each table's old rows are deleted and the new ones inserted in the caller's transaction:
-- readers never wait (no lock stronger than ROW EXCLUSIVE is taken) and see the old rows of every helper
-- view until it commits, then the new ones of all; an error leaves the old rows.  Returns the customers.
CREATE FUNCTION customer_segment.fill_source_views(src customer_segment.sources)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog SET row_security = on AS $$
DECLARE
    as_of date := customer_segment.source_day(src);
    v record;
    data regclass;
    customers bigint;
BEGIN
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        data := customer_segment.source_relation(src, v.helper);
        IF data IS NULL THEN
            RAISE EXCEPTION 'helper view % of source "%" has no recorded table', v.view_name, src.name
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        EXECUTE format('DELETE FROM %s', data);
        IF v.helper = 'customers' THEN
            -- the query itself rather than its function (v.definition), so the rows go into the table as computed
            EXECUTE format('INSERT INTO %s %s', data, customer_segment.source_customers_query(src, as_of))
                USING as_of, 'day', 'day', src.bins, src.rule_set;
            GET DIAGNOSTICS customers = ROW_COUNT;
        ELSE
            EXECUTE format('INSERT INTO %s %s', data, v.definition);
        END IF;
    END LOOP;
    RETURN customers;
END
$$;
COMMENT ON FUNCTION customer_segment.fill_source_views(customer_segment.sources) IS
    'Replaces the rows of every helper table of a source by what its source_<helper> function computes now, in one '
    'transaction (readers see the old rows until it commits); returns the customers; run by refresh_views as the source''s owner';

-- Recomputes the helper views of a source, in the caller's subtransaction; first brings its states up to
-- date when it is refreshed incrementally (rebuild: from all orders).  Whoever calls it, the source owner's
-- objects are read and written with the owner's rights only: the states and the helper tables as the owner
-- in a security-restricted operation (run_as_source_owner); the history snapshot is the registry's
-- (registry_write), from the customers data checked here.
CREATE FUNCTION customer_segment.refresh_views(src customer_segment.sources, rebuild boolean DEFAULT false,
    OUT customers bigint, OUT note text)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.check_source_views(src);
    note := customer_segment.run_as_source_owner(src, format(
        'SELECT customer_segment.update_source_states(%L::customer_segment.sources, %L)', src, rebuild));
    customers := customer_segment.run_as_source_owner(src, format(
        'SELECT customer_segment.fill_source_views(%L::customer_segment.sources)', src));
    IF src.history_days IS NOT NULL THEN
        PERFORM customer_segment.registry_write('snapshot', src.name);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.refresh_views(customer_segment.sources, boolean) IS
    'Brings the states of an incrementally refreshed source up to date (rebuild: from all orders), refills the helper '
    'tables and takes the history snapshot, states and tables as the source''s owner; returns the customers and what '
    'happened to the states; used by refresh';

CREATE FUNCTION customer_segment.refresh(source text, wait boolean DEFAULT true, full boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    started timestamptz;
    n bigint;
    state text := 'ok';
    msg text;
    note text;
    caller_lock_timeout text := current_setting('lock_timeout');
BEGIN
    src := customer_segment.get_source(source);
    -- One refresh of a source at a time; the lock ends with the transaction.
    IF wait THEN
        PERFORM pg_advisory_xact_lock(hashtext('customer_segment.refresh'), hashtext(source));
    ELSIF NOT pg_try_advisory_xact_lock(hashtext('customer_segment.refresh'), hashtext(source)) THEN
        RAISE NOTICE 'a refresh of source "%" is already running; skipped', source;
        RETURN 'skipped';
    END IF;
    -- The work starts now; the wait for another refresh of this source is not part of it.
    started := clock_timestamp();
    -- Any other lock is waited for at most customer_segment.refresh_lock_timeout (default 1 minute): a
    -- long transaction that read the history cannot stall the refresh, and every reader queued behind it.
    PERFORM set_config('lock_timeout',
        coalesce(nullif(current_setting('customer_segment.refresh_lock_timeout', true), ''), '1min'), true);
    BEGIN
        PERFORM set_config('customer_segment.refresh_predictions', 'on', true);
        SELECT v.customers, v.note INTO n, note FROM customer_segment.refresh_views(src, "full") v;
    EXCEPTION WHEN OTHERS THEN
        -- The subtransaction is rolled back: every helper table keeps its previous rows.
        state := 'failed';
        msg := SQLSTATE || ': ' || SQLERRM;
    END;
    -- The prediction columns are optional: when a data error (class 22: a model that cannot be fitted, a
    -- prediction that overflows) stopped the refresh, it runs once more with them NULL, and the log says why.
    IF state = 'failed' AND left(msg, 2) = '22' THEN
        BEGIN
            PERFORM set_config('customer_segment.refresh_predictions', 'off', true);
            SELECT v.customers, v.note INTO n, note FROM customer_segment.refresh_views(src, "full") v;
            state := 'ok';
            note := concat_ws('; ', note, 'prediction columns left NULL: ' || msg);
            msg := NULL;
            RAISE WARNING 'refresh of source "%": %', source, note;
        EXCEPTION WHEN OTHERS THEN
            msg := SQLSTATE || ': ' || SQLERRM;
        END;
    END IF;
    IF state = 'failed' THEN
        RAISE WARNING 'refresh of source "%" failed, previous results kept: %', source, msg;
    END IF;
    PERFORM set_config('customer_segment.refresh_predictions', 'on', true);
    PERFORM set_config('lock_timeout', caller_lock_timeout, true);
    PERFORM customer_segment.registry_write('log', src.name, jsonb_build_object(
        'started_at', started, 'customers', n, 'status', state, 'error', msg, 'note', note));
    RETURN state;
END
$$;
COMMENT ON FUNCTION customer_segment.refresh(text, boolean, boolean) IS
    'Recomputes the helper views of a source (readers see the old rows until it commits), one refresh at a time (wait => false skips when busy); '
    'a source with a change column merges only the new orders into its states (full => true rebuilds them); '
    'logs the run; a data error in the prediction columns leaves them NULL (logged note); any other failure keeps the previous results and returns failed';


-- Raises the logged error of the last refresh of a source when state is 'failed' (same SQLSTATE).
CREATE FUNCTION customer_segment.raise_if_failed(source text, state text)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    err text;
BEGIN
    IF state = 'failed' THEN
        SELECT l.error INTO err FROM customer_segment.refresh_log l
         WHERE l.source = raise_if_failed.source ORDER BY l.id DESC LIMIT 1;
        RAISE EXCEPTION 'refresh of source "%" failed: %', source, err
            USING ERRCODE = coalesce(substr(err, 1, 5), 'XX000'),
                  HINT = 'The previous results were kept; see customer_segment.refresh_log.';
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.raise_if_failed(text, text) IS
    'Raises the last logged error of a source (its SQLSTATE) when state is failed; used by refresh_job';

-- For schedulers: refresh, keep the log row (COMMIT), then fail when the refresh failed, so pg_cron's
-- job_run_details and any scheduler that watches exit codes see the failure the log describes.  A
-- procedure that commits can have no SET clause: it only calls schema-qualified functions that pin theirs.
-- Call it outside a transaction block (CALL customer_segment.refresh_job('shop');), as schedulers do.
CREATE PROCEDURE customer_segment.refresh_job(source text)
LANGUAGE plpgsql AS $$
DECLARE
    state text := customer_segment.refresh(source);
BEGIN
    COMMIT;
    PERFORM customer_segment.raise_if_failed(source, state);
END
$$;
COMMENT ON PROCEDURE customer_segment.refresh_job(text) IS
    'refresh(source) for schedulers: logs and commits the run, then raises the logged error (same SQLSTATE) when it failed';


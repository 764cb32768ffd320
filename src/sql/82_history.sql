-- History: per-customer snapshots taken by refresh, partitioned by month of the snapshot day.
CREATE TABLE customer_segment.segment_history (
    source           text NOT NULL,
    snapshot_date    date NOT NULL,
    customer_id      text NOT NULL,
    segment          text,
    rfm_cell         text,
    lifecycle_stage  text,
    tier             text,
    monetary_total   float8,
    owner            name NOT NULL DEFAULT current_user
) PARTITION BY RANGE (snapshot_date);
-- No index: reads and deletes go by (source, snapshot_date), which partition pruning narrows to a month; and
-- pg_dump restores partitions of an extension's table only when the parent carries no index to re-create.
COMMENT ON TABLE customer_segment.segment_history IS 'Per-customer segment, cell and lifecycle stage at each refresh of sources with history_days; monthly partitions';
COMMENT ON COLUMN customer_segment.segment_history.source IS 'Source name';
COMMENT ON COLUMN customer_segment.segment_history.snapshot_date IS 'as_of of the snapshot';
COMMENT ON COLUMN customer_segment.segment_history.customer_id IS 'Customer';
COMMENT ON COLUMN customer_segment.segment_history.segment IS 'RFM segment';
COMMENT ON COLUMN customer_segment.segment_history.rfm_cell IS 'RFM cell';
COMMENT ON COLUMN customer_segment.segment_history.lifecycle_stage IS 'Lifecycle stage';
COMMENT ON COLUMN customer_segment.segment_history.tier IS 'Tier';
COMMENT ON COLUMN customer_segment.segment_history.monetary_total IS 'Net spend to the snapshot day';
COMMENT ON COLUMN customer_segment.segment_history.owner IS 'Owner of the source when the snapshot was taken; only roles acting as it see the row';

-- The partitions belong to the extension's owner, whoever's refresh needs them: only the owner of a partitioned
-- table may add or drop partitions, and a partition owned by one user would show that user every source's
-- rows of its month (row security applies through the parent only).  So only the registry (registry_apply,
-- run as the extension's owner) calls these two; no other role may.  A day is refused unless a snapshot
-- could be taken on it (from 1900 to a year ahead, AD: the name then never collides).  Both take a lock that orders them
-- after any refresh still filling a partition: an empty partition is dropped only once no snapshot is being
-- written (create_history_partition takes the lock shared until its transaction ends; the drop skips while
-- another transaction holds it).
CREATE FUNCTION customer_segment.create_history_partition(day date)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    part text := format('segment_history_%s', to_char(day, 'YYYY_MM'));
BEGIN
    IF day IS NULL THEN
        RAISE EXCEPTION 'snapshot day must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT isfinite(day) OR day < DATE '1900-01-01' OR day > current_date + 366 THEN
        RAISE EXCEPTION 'snapshot day % is out of range', day USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'History snapshots are taken for days from 1900-01-01 to a year from today.';
    END IF;
    PERFORM pg_advisory_xact_lock_shared(hashtext('customer_segment.segment_history'), 0);
    -- Two refreshes reaching a new month at once: the second waits here until the first has committed
    -- the partition (IF NOT EXISTS then sees it), instead of failing on a duplicate name.
    PERFORM pg_advisory_xact_lock(hashtext('customer_segment.segment_history'), hashtext(part));
    IF to_regclass('customer_segment.' || part) IS NULL THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS customer_segment.%I PARTITION OF customer_segment.segment_history
                        FOR VALUES FROM (%L) TO (%L)', part, date_trunc('month', day)::date,
                       (date_trunc('month', day) + interval '1 month')::date);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.create_history_partition(date) IS
    'Creates the monthly partition of segment_history that holds a snapshot day (registry only)';
REVOKE EXECUTE ON FUNCTION customer_segment.create_history_partition(date) FROM PUBLIC;

CREATE FUNCTION customer_segment.drop_empty_history_partitions()
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    part name;
    has_rows boolean;
BEGIN
    -- Another transaction may be filling a partition it just created: then the empty ones wait for a later call.
    IF NOT pg_try_advisory_xact_lock(hashtext('customer_segment.segment_history'), 0) THEN
        RETURN;
    END IF;
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'customer_segment.segment_history'::regclass LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM customer_segment.%I)', part) INTO has_rows;
        IF NOT has_rows THEN
            EXECUTE format('DROP TABLE customer_segment.%I', part);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.drop_empty_history_partitions() IS 'Drops the monthly partitions of segment_history that hold no rows (registry only)';
REVOKE EXECUTE ON FUNCTION customer_segment.drop_empty_history_partitions() FROM PUBLIC;

-- Run by the registry as the extension's owner: it reads only the customers data recorded for the source,
-- a table without row security, of built-in column types (check_source_views), which runs nobody's code.
CREATE FUNCTION customer_segment.snapshot_history(src customer_segment.sources)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    customers regclass := customer_segment.source_relation(src, 'customers');
    day date;
    n bigint;
BEGIN
    PERFORM customer_segment.check_source_views(src);
    EXECUTE format('SELECT max(as_of) FROM %s', customers) INTO day;
    IF day IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM customer_segment.create_history_partition(day);
    -- A second refresh of the same day replaces that day's snapshot.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date = day;
    EXECUTE format('INSERT INTO customer_segment.segment_history
                    SELECT %L, as_of, customer_id, segment, rfm_cell, lifecycle_stage, tier, monetary_total, %L FROM %s',
                   src.name, src.registered_by, customers);
    GET DIAGNOSTICS n = ROW_COUNT;
    -- Retention: older snapshots of this source go; partitions left empty are dropped.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date < day - src.history_days;
    PERFORM customer_segment.drop_empty_history_partitions();
    RETURN n;
END
$$;
COMMENT ON FUNCTION customer_segment.snapshot_history(customer_segment.sources) IS
    'Copies the customers view of a source into segment_history for its as_of day, applies the retention, drops empty partitions (registry only)';
REVOKE EXECUTE ON FUNCTION customer_segment.snapshot_history(customer_segment.sources) FROM PUBLIC;

CREATE FUNCTION customer_segment.segment_migrations(source text, from_date date DEFAULT NULL, to_date date DEFAULT NULL)
RETURNS TABLE (from_segment text, to_segment text, customers bigint, revenue float8, share_of_from float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    d_from date := from_date;
    d_to date := to_date;
BEGIN
    IF d_to IS NULL THEN
        SELECT max(h.snapshot_date) INTO d_to FROM customer_segment.segment_history h WHERE h.source = segment_migrations.source;
    END IF;
    IF d_from IS NULL THEN
        SELECT max(h.snapshot_date) INTO d_from FROM customer_segment.segment_history h
         WHERE h.source = segment_migrations.source AND h.snapshot_date < d_to;
    END IF;
    IF d_from IS NULL OR d_to IS NULL THEN
        RAISE EXCEPTION 'source "%" has fewer than two snapshots', source USING ERRCODE = 'no_data_found',
            HINT = 'Register it with history_days and refresh it on two days.';
    END IF;
    RETURN QUERY
    SELECT coalesce(p.segment, '(none)'), coalesce(c.segment, '(none)'), count(*), sum(c.monetary_total),
           count(*)::float8 / sum(count(*)) OVER (PARTITION BY coalesce(p.segment, '(none)'))
      FROM (SELECT * FROM customer_segment.segment_history h WHERE h.source = segment_migrations.source AND h.snapshot_date = d_from) p
      FULL JOIN (SELECT * FROM customer_segment.segment_history h WHERE h.source = segment_migrations.source AND h.snapshot_date = d_to) c
        ON c.customer_id = p.customer_id
     GROUP BY 1, 2 ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION customer_segment.segment_migrations(text, date, date) IS
    'Who moved between segments from one snapshot to another (default: the last two): counts, current revenue, share of the from-segment';


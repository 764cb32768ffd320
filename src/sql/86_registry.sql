-- The registry: the extension's tables of sources and what it keeps for them (source_relations,
-- source_increments, segment_history, refresh_log).  Users read their own rows (87_privileges.sql) and change
-- a source's settings by UPDATE; every other write goes through registry_write (src/as_owner.c), which runs
-- registry_apply as the extension's owner and tells it which role called.  registry_apply is the only code
-- that writes with more rights than its caller: it takes values, never names or SQL, and checks the caller's
-- rights on the source before it writes anything.

-- The relations a source's helper views and incremental states live in, as created for it.  Recorded by OID
-- (regclass: a dump restores them by name); the extension reads and drops only these, so an object put in
-- the place of one (by the owner of the schema, say) is never used.
CREATE TABLE customer_segment.source_relations (
    source   text NOT NULL REFERENCES customer_segment.sources (name) ON DELETE CASCADE,
    helper   text NOT NULL,
    relation regclass NOT NULL,
    PRIMARY KEY (source, helper)
);
COMMENT ON TABLE customer_segment.source_relations IS
    'The tables behind the helper views of each source, and its states table, as created for it';
COMMENT ON COLUMN customer_segment.source_relations.source IS 'The source';
COMMENT ON COLUMN customer_segment.source_relations.helper IS 'Helper name (customers, segments, ...), or states';
COMMENT ON COLUMN customer_segment.source_relations.relation IS 'The relation';
SELECT pg_catalog.pg_extension_config_dump('customer_segment.source_relations', '');

-- Each relation a source should have now, and what is wrong with the one of that name (NULL: nothing): it
-- must be a table, owned by the source's owner, without row security, with columns of built-in types (the
-- states' own type aside), so that reading it runs nobody's code.
CREATE FUNCTION customer_segment.source_relation_problems(src customer_segment.sources)
RETURNS TABLE (helper text, relation_name text, relation regclass, problem text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT e.helper, e.relation_name, c.oid::regclass, CASE
             WHEN c.oid IS NULL THEN 'It does not exist.'
             WHEN c.relkind <> 'r' THEN 'It is not a table.'
             WHEN pg_get_userbyid(c.relowner) <> src.registered_by
                 THEN format('It is owned by %s, the source by %s.', pg_get_userbyid(c.relowner), src.registered_by)
             WHEN c.relrowsecurity THEN 'It has row-level security enabled.'
             WHEN a.attname IS NOT NULL THEN format('Its column %s has type %s, which is not built in.', a.attname, a.atttypid::regtype)
           END
      FROM (SELECT v.helper, v.data_name FROM customer_segment.source_views(src) v
            UNION ALL
            SELECT 'states', customer_segment.source_states_table(src)
             WHERE EXISTS (SELECT 1 FROM customer_segment.source_increments i WHERE i.source = src.name)
           ) e(helper, relation_name)
      LEFT JOIN pg_class c ON c.oid = to_regclass(e.relation_name)
      LEFT JOIN LATERAL (SELECT x.attname, x.atttypid FROM pg_attribute x
                          WHERE x.attrelid = c.oid AND x.attnum > 0 AND NOT x.attisdropped AND x.atttypid >= 16384::oid
                            AND x.atttypid <> 'customer_segment.rfm_summary_state'::regtype
                          LIMIT 1) a ON true
$$;
COMMENT ON FUNCTION customer_segment.source_relation_problems(customer_segment.sources) IS
    'The tables a source should have (behind its helper views, its states) and what is wrong with the one of each name; NULL problem = fit to record';

-- The recorded relation of a helper of a source, while it still bears the name the extension gives it; NULL
-- otherwise.
CREATE FUNCTION customer_segment.source_relation(src customer_segment.sources, helper text)
RETURNS regclass LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT r.relation FROM customer_segment.source_relations r
     WHERE r.source = src.name AND r.helper = source_relation.helper
       AND r.relation = to_regclass(CASE WHEN source_relation.helper = 'states' THEN customer_segment.source_states_table(src)
                                         ELSE customer_segment.source_data(src, source_relation.helper) END)
$$;
COMMENT ON FUNCTION customer_segment.source_relation(customer_segment.sources, text) IS
    'The relation recorded for a helper of a source (or states) while it still has its name; NULL otherwise';

-- Records the relations of the given helpers of a source (or 'states') that bear their names and are fit to
-- read (source_relation_problems); a registry step.
CREATE FUNCTION customer_segment.record_source_relations(src customer_segment.sources, helpers text[])
RETURNS void LANGUAGE sql SET search_path = pg_catalog AS $$
    INSERT INTO customer_segment.source_relations (source, helper, relation)
    SELECT src.name, p.helper, p.relation FROM customer_segment.source_relation_problems(src) p
     WHERE p.helper = ANY (helpers) AND p.problem IS NULL
    ON CONFLICT ON CONSTRAINT source_relations_pkey DO UPDATE SET relation = EXCLUDED.relation
$$;
COMMENT ON FUNCTION customer_segment.record_source_relations(customer_segment.sources, text[]) IS
    'Records the relations of the given helpers of a source that are fit to read (registry only)';
REVOKE EXECUTE ON FUNCTION customer_segment.record_source_relations(customer_segment.sources, text[]) FROM PUBLIC;

-- The writes of registry_write.  caller is the role that called it; ops and what they write:
--   register          a new source (detail: its row as JSON) registered by caller, over orders it can read,
--                     into a schema where it may create;
--   create_views      the helper views the source lacks, created as its owner in a security-restricted
--                     operation, and the relations behind them recorded (those of dropped ones forgotten);
--                     returns the new views as a JSON array;
--   set_change_column the source's incremental state row (detail: change_column; NULL: none);
--   states_updated    the watermark and counts of its states (detail), and the states table the refresh
--                     created for it (as the owner: refresh_views);
--   snapshot          its history snapshot from its customers data (snapshot_history);
--   log               a refresh_log row (detail: started_at, customers, status, error, note);
--   unregister        forgets the source, its increments, relations and history.
-- Every op but register needs a source the caller acts as the owner of; for any other, the answer is that
-- it is not registered, as get_source says to that role.
CREATE FUNCTION customer_segment.registry_apply(caller regrole, op text, source text, detail jsonb)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    created text;
BEGIN
    IF caller IS NULL OR op IS NULL OR source IS NULL THEN
        RAISE EXCEPTION 'registry write without caller, op or source' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF op = 'register' THEN
        src := customer_segment.checked_source_settings(jsonb_populate_record(NULL::customer_segment.sources, detail), NULL);
        IF NOT has_table_privilege(caller, src.orders, 'SELECT') THEN
            RAISE EXCEPTION 'permission denied to read %', src.orders USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NOT has_schema_privilege(caller, src.target_schema, 'CREATE') THEN
            RAISE EXCEPTION 'permission denied to create in schema %', quote_ident(src.target_schema)
                USING ERRCODE = 'insufficient_privilege', HINT = 'The helper views of a source are created in its target_schema.';
        END IF;
        INSERT INTO customer_segment.sources (name, orders, customer_column, time_column, amount_column, target_schema, bins,
                                              rule_set, as_of, history_days, tier_ladder, time_zone, registered_by)
        VALUES (source, src.orders, src.customer_column, src.time_column, src.amount_column, src.target_schema,
                src.bins, src.rule_set, src.as_of, src.history_days, src.tier_ladder, src.time_zone, pg_get_userbyid(caller));
        RETURN NULL;
    END IF;

    SELECT * INTO src FROM customer_segment.sources s WHERE s.name = registry_apply.source FOR UPDATE;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = caller
                                   AND (r.rolsuper OR EXISTS (SELECT 1 FROM pg_roles o WHERE o.rolname = src.registered_by
                                                                 AND pg_has_role(caller, o.oid, 'USAGE')))) THEN
        RAISE EXCEPTION 'source "%" is not registered', source USING ERRCODE = 'undefined_object';
    END IF;
    CASE op
    WHEN 'create_views' THEN
        created := customer_segment.run_as_owner(to_regrole(quote_ident(src.registered_by)), format(
            'SELECT to_jsonb(array_agg(v))::text FROM customer_segment.sources s, customer_segment.create_source_views(s) v
              WHERE s.name = %L', src.name));
        DELETE FROM customer_segment.source_relations r
         WHERE r.source = src.name AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = r.relation);
        PERFORM customer_segment.record_source_relations(src, ARRAY(
            SELECT v.helper FROM customer_segment.source_views(src) v
             WHERE v.view_name IN (SELECT jsonb_array_elements_text(created::jsonb))));
        RETURN created;
    WHEN 'set_change_column' THEN
        DELETE FROM customer_segment.source_increments i WHERE i.source = src.name;
        DELETE FROM customer_segment.source_relations r WHERE r.source = src.name AND r.helper = 'states';
        IF detail ->> 'change_column' IS NOT NULL THEN
            PERFORM customer_segment.check_change_column(src.orders, detail ->> 'change_column');
            INSERT INTO customer_segment.source_increments (source, change_column, owner)
            VALUES (src.name, detail ->> 'change_column', src.registered_by);
        END IF;
    WHEN 'states_updated' THEN
        UPDATE customer_segment.source_increments i
           SET watermark = detail ->> 'watermark', covered_rows = (detail ->> 'covered_rows')::bigint,
               last_day = (detail ->> 'last_day')::date, updated_at = clock_timestamp(), note = detail ->> 'note'
         WHERE i.source = src.name;
        IF customer_segment.source_relation(src, 'states') IS NULL THEN
            PERFORM customer_segment.record_source_relations(src, ARRAY['states']);
        END IF;
    WHEN 'snapshot' THEN
        RETURN customer_segment.snapshot_history(src);
    WHEN 'log' THEN
        INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, customers, status, error, note, owner)
        VALUES (src.name, (detail ->> 'started_at')::timestamptz, clock_timestamp(), (detail ->> 'customers')::bigint,
                detail ->> 'status', detail ->> 'error', detail ->> 'note', src.registered_by);
    WHEN 'unregister' THEN
        DELETE FROM customer_segment.sources s WHERE s.name = src.name;
        DELETE FROM customer_segment.segment_history h WHERE h.source = src.name;
        PERFORM customer_segment.drop_empty_history_partitions();
    ELSE
        RAISE EXCEPTION 'unknown registry write "%"', op USING ERRCODE = 'invalid_parameter_value';
    END CASE;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION customer_segment.registry_apply(regrole, text, text, jsonb) IS
    'The writes of registry_write, each checked against the calling role; run only by registry_write, as the extension''s owner';
REVOKE EXECUTE ON FUNCTION customer_segment.registry_apply(regrole, text, text, jsonb) FROM PUBLIC;

CREATE FUNCTION customer_segment.registry_write(op text, source text, detail jsonb DEFAULT NULL)
RETURNS text LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'registry_write';
COMMENT ON FUNCTION customer_segment.registry_write(text, text, jsonb) IS
    'The one door to the registry tables: registry_apply(calling role, op, source, detail) run as the extension''s owner';

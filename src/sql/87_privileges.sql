-- Privileges: what an ordinary role may read and change in the extension's tables (doc/operations.md, Privileges).
--
-- Every function runs with the rights of its caller (registry_write's writer excepted), so reading an orders
-- table through the extension needs SELECT on it; the work a refresh, a report or a scheduled job does on a
-- source (its orders, states, helper views) runs as the source's owner in a security-restricted operation
-- (run_as_source_owner), whoever calls it.  The tables are shared by all roles that have USAGE on the schema;
-- row-level security decides whose rows each role sees and changes:
--   rule sets, tier ladders, value-grid names  readable by all, changed only by the set's owner;
--   sources                                    seen by the source's owner, who may UPDATE its settings;
--   source_relations, source_increments,
--   segment_history, refresh_log               seen by the source's owner, written by the registry only.
-- "The owner" includes the roles that inherit its rights, as for PostgreSQL's own objects.

-- True when the current role acts as role: is it, or inherits its rights.  A role that no longer exists is
-- nobody's.  SQL-standard body: parsed once here, so no caller's search_path changes what it means, and small
-- enough to be inlined into a policy, where pg_roles is read once per query, not once per row.
CREATE FUNCTION customer_segment.acts_as(role name)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT role OPERATOR(pg_catalog.=) CURRENT_USER
        OR role IN (SELECT r.rolname FROM pg_catalog.pg_roles r WHERE pg_catalog.pg_has_role(r.oid, 'USAGE'));
END;
COMMENT ON FUNCTION customer_segment.acts_as(name) IS
    'True when the current role is role or inherits its rights (as PostgreSQL decides who may act as an object''s owner)';

-- Runs a query as a role in a security-restricted operation, as PostgreSQL's maintenance commands run a table
-- owner's code (src/as_owner.c); only drops rights: the caller must have the role's privileges already.
CREATE FUNCTION customer_segment.run_as_owner(role regrole, query text)
RETURNS text LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'run_as_owner';
COMMENT ON FUNCTION customer_segment.run_as_owner(regrole, text) IS
    'The first column of the first row of query, run as role (whose privileges the caller must have) in a '
    'security-restricted operation with search_path pg_catalog, pg_temp';

-- The work on a source's objects, as the source's owner (the role that registered it), who must still be able
-- to read the source's orders.
CREATE FUNCTION customer_segment.run_as_source_owner(src customer_segment.sources, query text)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    owner regrole := to_regrole(quote_ident(src.registered_by));
BEGIN
    IF owner IS NULL THEN
        RAISE EXCEPTION 'role "%", the owner of source "%", does not exist', src.registered_by, src.name
            USING ERRCODE = 'undefined_object',
                  HINT = format('Unregister the source and register it again: SELECT customer_segment.unregister_source(%L);', src.name);
    END IF;
    IF NOT has_table_privilege(owner, src.orders, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied: role % cannot read %, the orders of source "%"', src.registered_by, src.orders, src.name
            USING ERRCODE = 'insufficient_privilege', HINT = 'A source reads its orders with the rights of the role that registered it.';
    END IF;
    RETURN customer_segment.run_as_owner(owner, query);
END
$$;
COMMENT ON FUNCTION customer_segment.run_as_source_owner(customer_segment.sources, text) IS
    'run_as_owner as the role that registered the source; 42704 when it no longer exists, 42501 when it cannot read the orders';

-- One owner per rule set, ladder or naming scheme: a role cannot add rows to, or move rows into, a set that
-- has rows of a role it cannot act as.  TG_ARGV[0] names the column that names the set.
CREATE FUNCTION customer_segment.check_set_owner()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    set_name text := to_jsonb(NEW) ->> TG_ARGV[0];
    other name;
BEGIN
    -- Two roles creating the same set at once: the second waits, then sees the first one's rows.
    PERFORM pg_advisory_xact_lock(hashtext(TG_TABLE_NAME), hashtext(set_name));
    EXECUTE format('SELECT t.owner FROM %I.%I t WHERE t.%I = $1 AND NOT customer_segment.acts_as(t.owner) LIMIT 1',
                   TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0])
       INTO other USING set_name;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION '% "%" of % belongs to role %', replace(TG_ARGV[0], '_', ' '), set_name, TG_TABLE_NAME, other
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Copy it under a %s of your own and edit the copy.', replace(TG_ARGV[0], '_', ' '));
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION customer_segment.check_set_owner() IS
    'Trigger: raises 42501 when a row joins a set (rule set, ladder) that has rows of a role the current one cannot act as';
CREATE TRIGGER check_set_owner BEFORE INSERT OR UPDATE ON customer_segment.rfm_segment_rules
    FOR EACH ROW EXECUTE FUNCTION customer_segment.check_set_owner('rule_set');
CREATE TRIGGER check_set_owner BEFORE INSERT OR UPDATE ON customer_segment.tier_ladders
    FOR EACH ROW EXECUTE FUNCTION customer_segment.check_set_owner('ladder');
CREATE TRIGGER check_set_owner BEFORE INSERT OR UPDATE ON customer_segment.value_grid_cells
    FOR EACH ROW EXECUTE FUNCTION customer_segment.check_set_owner('rule_set');

-- Rule sets, ladders and naming schemes: configuration, not customer data.  Everyone reads them; each role
-- inserts rows as itself and changes only the rows it owns ('standard' is the installer's, and read-only).
ALTER TABLE customer_segment.rfm_segment_rules ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_segment.tier_ladders ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_segment.value_grid_cells ENABLE ROW LEVEL SECURITY;
CREATE POLICY read_all ON customer_segment.rfm_segment_rules FOR SELECT USING (true);
CREATE POLICY owner_writes ON customer_segment.rfm_segment_rules FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
CREATE POLICY read_all ON customer_segment.tier_ladders FOR SELECT USING (true);
CREATE POLICY owner_writes ON customer_segment.tier_ladders FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
CREATE POLICY read_all ON customer_segment.value_grid_cells FOR SELECT USING (true);
CREATE POLICY owner_writes ON customer_segment.value_grid_cells FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
GRANT SELECT, INSERT, UPDATE, DELETE ON customer_segment.rfm_segment_rules, customer_segment.tier_ladders,
    customer_segment.value_grid_cells TO PUBLIC;

-- Sources: a role sees and changes its own.  It registers and unregisters them through the registry
-- (86_registry.sql), and may change the settings a refresh reads, but not which table, columns or schema a
-- source reads and writes.
ALTER TABLE customer_segment.sources ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.sources FOR SELECT USING (customer_segment.acts_as(registered_by));
CREATE POLICY owner_changes ON customer_segment.sources FOR UPDATE USING (customer_segment.acts_as(registered_by));
GRANT SELECT ON customer_segment.sources TO PUBLIC;
GRANT UPDATE (bins, rule_set, as_of, tier_ladder, history_days, time_zone, clusters, prediction_model) ON customer_segment.sources TO PUBLIC;

-- What the registry keeps for a source is read by its owner and written by the registry only.
ALTER TABLE customer_segment.source_relations ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.source_relations FOR SELECT
    USING (source IN (SELECT s.name FROM customer_segment.sources s));
GRANT SELECT ON customer_segment.source_relations TO PUBLIC;
ALTER TABLE customer_segment.refresh_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.refresh_log FOR SELECT USING (customer_segment.acts_as(owner));
GRANT SELECT ON customer_segment.refresh_log TO PUBLIC;
ALTER TABLE customer_segment.segment_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.segment_history FOR SELECT USING (customer_segment.acts_as(owner));
GRANT SELECT ON customer_segment.segment_history TO PUBLIC;
ALTER TABLE customer_segment.source_increments ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.source_increments FOR SELECT USING (customer_segment.acts_as(owner));
GRANT SELECT ON customer_segment.source_increments TO PUBLIC;

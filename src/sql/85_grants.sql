-- Read access for a BI role: the helper views only, never the orders or the configuration.
CREATE FUNCTION customer_segment.grant_source_read(source text, role name)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    v record;
BEGIN
    src := customer_segment.get_source(source);
    IF role IS NULL OR to_regrole(quote_ident(role)) IS NULL THEN
        RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT has_schema_privilege(role, src.target_schema, 'USAGE') THEN
        -- Only the schema's owner (or a holder of the grant option) can grant it; anyone else would get a
        -- warning and no privilege, so ask for it clearly instead.
        IF NOT has_schema_privilege(src.target_schema, 'USAGE WITH GRANT OPTION')
           AND NOT pg_has_role((SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = src.target_schema), 'USAGE') THEN
            RAISE EXCEPTION 'role "%" cannot use schema "%", and you cannot grant it', role, src.target_schema
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('Ask the owner of schema %I to run: GRANT USAGE ON SCHEMA %I TO %I;', src.target_schema, src.target_schema, role);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', src.target_schema, role);
    END IF;
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', v.view_name, role);
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.grant_source_read(text, name) IS
    'Lets a role read the helper views of a source (USAGE on their schema, SELECT on the views) and nothing else';

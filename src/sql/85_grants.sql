-- Read access for a BI role: the helper views only, never the orders or the configuration.
CREATE FUNCTION customer_segment.grant_source_read(source text, role name)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    v record;
BEGIN
    src := customer_segment.get_source(source);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', src.target_schema, role);
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        EXECUTE format('GRANT SELECT ON %s TO %I', v.view_name, role);
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.grant_source_read(text, name) IS
    'Lets a role read the helper views of a source (USAGE on their schema, SELECT on the views) and nothing else';

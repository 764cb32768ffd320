\set SHOW_CONTEXT never
-- The extension installs into its own schema, drops cleanly and installs again.
SELECT extname, extversion, nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'customer_segment';

-- Every C function is PARALLEL SAFE and IMMUTABLE or STABLE, but run_as_owner and registry_write: they run a
-- query as another role (src/as_owner.c), so they are volatile and parallel unsafe; and rfm_analyze and
-- rfm_scored, which run their per-customer query through SPI (src/rfm_scored.c): stable, parallel unsafe as any
-- function that does.
SELECT p.proname, p.provolatile, p.proparallel
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'customer_segment'
 WHERE p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c')
   AND (p.proparallel <> 's' OR p.provolatile = 'v')
 ORDER BY 1;

-- Every aggregate has a combine function and is PARALLEL SAFE; its state moves between processes
-- through serial/deserial functions (internal state) or as a value of a real type (Citus needs the latter).
SELECT p.oid::regprocedure AS aggregate, a.aggcombinefn <> 0 AS combine,
       CASE WHEN a.aggtranstype = 'internal'::regtype THEN a.aggserialfn <> 0 AND a.aggdeserialfn <> 0
            ELSE a.aggserialfn = 0 AND t.typinput <> 0 AND t.typreceive <> 0 END AS moves,
       a.aggtranstype::regtype AS state, p.proparallel
  FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid JOIN pg_type t ON t.oid = a.aggtranstype
 WHERE p.pronamespace = 'customer_segment'::regnamespace
 ORDER BY p.oid::regprocedure::text;

-- Plain functions written in SQL or PL/pgSQL pin their search_path, or have an SQL-standard body
-- (BEGIN ATOMIC), which is parsed once at creation so no caller's search_path changes what it means.
SELECT p.oid::regprocedure
  FROM pg_proc p
 WHERE p.pronamespace = 'customer_segment'::regnamespace AND p.prokind = 'f'
   AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
   AND NOT coalesce(p.proconfig::text[] @> ARRAY['search_path=pg_catalog'], false)
   AND p.prosqlbody IS NULL
 ORDER BY p.oid::regprocedure::text;

DROP EXTENSION customer_segment;
-- CREATE EXTENSION made the schema; DROP leaves it, empty.
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'customer_segment'::regnamespace)
     + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'customer_segment'::regnamespace)
     + (SELECT count(*) FROM pg_type WHERE typnamespace = 'customer_segment'::regnamespace) AS objects_left;
CREATE EXTENSION customer_segment;
SELECT count(*) > 20 AS objects_back FROM pg_depend d
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'customer_segment';
-- A second CREATE fails clearly; IF NOT EXISTS is a no-op.
CREATE EXTENSION customer_segment;
CREATE EXTENSION IF NOT EXISTS customer_segment;

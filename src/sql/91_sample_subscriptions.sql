-- Sample subscriptions: memberships for demos, tests and the subscription docs.
--
-- Members join uniformly over [start_date, end_date] on a monthly plan (70%: 1 month, 9.90) or an annual one
-- (30%: 1 year, 99.00).  Each cancels at the end of a period with her own probability theta, the same every
-- period: monthly 0.01 + 0.5 u^3, annual 0.05 + 0.6 u^2 (u uniform), so a few leave early and many stay
-- long, as the shifted-beta-geometric model says.  She pays for T periods, T geometric; the subscription ends
-- when the last one ends, or is still running (ended_on NULL) when that is after end_date.  Every random
-- number is a function of (seed, subscription, draw), so the table is identical for one seed.
CREATE FUNCTION customer_segment.create_sample_subscriptions(
    target_schema name DEFAULT 'public',
    members integer DEFAULT 2000,
    seed bigint DEFAULT 42,
    start_date date DEFAULT '2023-01-01',
    end_date date DEFAULT '2025-12-31')
RETURNS TABLE (subscriptions_created bigint, active bigint)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.check_sample_arguments('create_sample_subscriptions', target_schema, 'members', members, seed,
                                                    start_date, end_date);
    IF to_regclass(format('%I.subscriptions', target_schema)) IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" already has a subscriptions table', target_schema USING ERRCODE = 'duplicate_table',
            HINT = 'The sample never overwrites tables: use another schema or drop it first.';
    END IF;
    EXECUTE format($q$
        CREATE TABLE %1$I.subscriptions (
            subscription_id integer PRIMARY KEY,
            member_id       integer NOT NULL,
            plan            text NOT NULL,
            period          interval NOT NULL,
            fee             numeric(8,2) NOT NULL,
            started_on      date NOT NULL,
            ended_on        date
        );
        COMMENT ON TABLE %1$I.subscriptions IS
            'Sample memberships (customer_segment.create_sample_subscriptions): ended_on NULL while running';
        WITH m AS (
            SELECT id, $1 + floor(customer_segment.sample_uniform(id * 8::bigint, $2) * ($3 - $1 + 1))::integer AS started_on,
                   customer_segment.sample_uniform(id * 8::bigint + 1, $2) < 0.7 AS monthly,
                   customer_segment.sample_uniform(id * 8::bigint + 2, $2) AS u,
                   customer_segment.sample_uniform(id * 8::bigint + 3, $2) AS v
              FROM generate_series(1, $4) id
        ), paid AS (
            SELECT m.*, CASE WHEN monthly THEN interval '1 month' ELSE interval '1 year' END AS period,
                   ceil(ln(v) / ln(1 - CASE WHEN monthly THEN 0.01 + 0.5 * u ^ 3 ELSE 0.05 + 0.6 * u ^ 2 END))::integer AS periods
              FROM m
        )
        INSERT INTO %1$I.subscriptions
        SELECT id, 100000 + id, CASE WHEN monthly THEN 'monthly' ELSE 'annual' END, period,
               CASE WHEN monthly THEN 9.90 ELSE 99.00 END, started_on,
               CASE WHEN (started_on + least(periods, 10000) * period)::date <= $3 THEN (started_on + periods * period)::date END
          FROM paid
    $q$, target_schema) USING start_date, seed, end_date, members;
    RETURN QUERY EXECUTE format('SELECT count(*), count(*) FILTER (WHERE ended_on IS NULL) FROM %I.subscriptions', target_schema);
END
$$;
COMMENT ON FUNCTION customer_segment.create_sample_subscriptions(name, integer, bigint, date, date) IS
    'Creates <schema>.subscriptions: reproducible monthly and annual memberships with heterogeneous cancellation (sBG-like); returns the rows and those still running';

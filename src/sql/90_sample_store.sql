-- A reproducible sample store: customers and orders for demos, tests and benchmarks.
--
-- Customers sign up uniformly over [start_date, end_date].  8% never order.
-- The others buy as a Poisson process (log-normal rate, median one order per
-- 33 days) and drop out after each purchase with a customer-specific
-- probability (BG/NBD-like), spending log-normal amounts around a
-- customer-specific level.  4% of orders come with a second order the same
-- day; 3% are refunded in full or in half 1-20 days later (negative amounts).
-- Every random number is a function of (seed, customer, order, draw), so the
-- store is identical for one seed whatever the plan or server.

CREATE FUNCTION customer_segment.sample_uniform(key bigint, seed bigint)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.sample_uniform(bigint, bigint) IS 'Deterministic uniform (0,1) draw for (key, seed)';
CREATE FUNCTION customer_segment.sample_normal(key bigint, seed bigint)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.sample_normal(bigint, bigint) IS 'Deterministic standard normal draw for (key, seed)';

-- The arguments of a sample generator (create_sample_store, create_sample_subscriptions): none NULL, 1 to 100
-- million of what it makes (what), an end after the start, both finite, an existing schema.
CREATE FUNCTION customer_segment.check_sample_arguments(generator text, target_schema name, what text, n integer,
    seed bigint, start_date date, end_date date)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF target_schema IS NULL OR n IS NULL OR seed IS NULL OR start_date IS NULL OR end_date IS NULL THEN
        RAISE EXCEPTION '% arguments must not be NULL', generator USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF n < 1 OR n > 100000000 THEN
        RAISE EXCEPTION '% must be between 1 and 100000000', what USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', n);
    END IF;
    IF end_date <= start_date OR NOT isfinite(start_date) OR NOT isfinite(end_date) THEN
        RAISE EXCEPTION 'end_date must be a finite date after start_date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regnamespace(quote_ident(target_schema)) IS NULL THEN
        RAISE EXCEPTION 'schema "%" does not exist', target_schema USING ERRCODE = 'invalid_schema_name',
            HINT = format('CREATE SCHEMA %I;', target_schema);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.check_sample_arguments(text, name, text, integer, bigint, date, date) IS
    'Raises 22004, 22023 or 3F000 unless a sample generator''s arguments are usable';

CREATE FUNCTION customer_segment.create_sample_store(
    target_schema name DEFAULT 'public',
    customers integer DEFAULT 5000,
    seed bigint DEFAULT 42,
    start_date date DEFAULT '2023-01-01',
    end_date date DEFAULT '2025-12-31')
RETURNS TABLE (customers_created bigint, orders_created bigint, refunds_created bigint, customers_without_orders bigint)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    span integer;
BEGIN
    PERFORM customer_segment.check_sample_arguments('create_sample_store', target_schema, 'customers', customers, seed,
                                                    start_date, end_date);
    span := end_date - start_date + 1;
    IF to_regclass(format('%I.customers', target_schema)) IS NOT NULL
       OR to_regclass(format('%I.orders', target_schema)) IS NOT NULL THEN
        RAISE EXCEPTION 'schema "%" already has a customers or orders table', target_schema
            USING ERRCODE = 'duplicate_table',
                  HINT = 'The sample store never overwrites tables: use another schema or drop them first.';
    END IF;

    EXECUTE format($q$
        CREATE TABLE %1$I.customers (
            customer_id integer PRIMARY KEY,
            signup_date date NOT NULL,
            channel     text NOT NULL
        );
        CREATE TABLE %1$I.orders (
            order_id    bigint PRIMARY KEY,
            customer_id integer NOT NULL,
            ordered_at  timestamptz NOT NULL,
            amount      numeric(12,2) NOT NULL
        );
        COMMENT ON TABLE %1$I.customers IS 'Sample store customers (customer_segment.create_sample_store)';
        COMMENT ON TABLE %1$I.orders IS 'Sample store orders; negative amounts are refunds';
    $q$, target_schema);

    EXECUTE format($q$
        INSERT INTO %1$I.customers
        SELECT id, $1 + floor(customer_segment.sample_uniform(id * 16::bigint, $2) * $3)::integer,
               (ARRAY['web', 'app', 'store'])[1 + floor(customer_segment.sample_uniform(id * 16::bigint + 1, $2) * 3)::integer]
          FROM generate_series(1, $4) id
    $q$, target_schema) USING start_date, seed, span, customers;

    EXECUTE format($q$
        WITH buyer AS (
            SELECT c.customer_id AS id,
                   (c.signup_date - $1) + 10 * -ln(customer_segment.sample_uniform(c.customer_id * 16::bigint + 7, $2)) AS first_t,
                   least(1.0, exp(ln(1 / 33.0) + 0.9 * customer_segment.sample_normal(c.customer_id * 16::bigint + 3, $2))) AS rate,
                   0.01 + 0.3 * customer_segment.sample_uniform(c.customer_id * 16::bigint + 4, $2) ^ 2 AS dropout,
                   ln(35) + 0.5 * customer_segment.sample_normal(c.customer_id * 16::bigint + 6, $2) AS spend_mu,
                   customer_segment.sample_uniform(c.customer_id * 16::bigint + 5, $2) AS life_u
              FROM %1$I.customers c
             WHERE customer_segment.sample_uniform(c.customer_id * 16::bigint + 2, $2) >= 0.08
        ), sized AS (
            -- purchases before dropout (geometric), capped well above what the window can hold
            SELECT b.*, least(1 + floor(ln(b.life_u) / ln(1 - b.dropout))::integer,
                              ceil(3 * b.rate * greatest($3 - b.first_t, 0) + 10)::integer, 500) AS n
              FROM buyer b
        ), purchase AS (
            SELECT s.id, k, s.spend_mu, (s.id::bigint * 512 + k) * 8 AS key,
                   s.first_t + sum(CASE WHEN k = 1 THEN 0
                                        ELSE -ln(customer_segment.sample_uniform((s.id::bigint * 512 + k) * 8, $2)) / s.rate END)
                               OVER (PARTITION BY s.id ORDER BY k) AS t
              FROM sized s, generate_series(1, s.n) k
        ), kept AS (
            SELECT p.*, round(greatest(1, exp(p.spend_mu + 0.35 * customer_segment.sample_normal(p.key + 1, $2)))::numeric, 2) AS amount
              FROM purchase p WHERE p.t < $3
        ), rows AS (
            SELECT id, t, amount, 0 AS kind FROM kept
            UNION ALL     -- a second order the same day
            SELECT id, t + 0.05, round(greatest(1, 0.5 * exp(spend_mu + 0.35 * customer_segment.sample_normal(key + 2, $2)))::numeric, 2), 1
              FROM kept WHERE customer_segment.sample_uniform(key + 3, $2) < 0.04
            UNION ALL     -- a refund, in full or in half
            SELECT id, t + 1 + floor(20 * customer_segment.sample_uniform(key + 5, $2)),
                   -CASE WHEN customer_segment.sample_uniform(key + 6, $2) < 0.6 THEN amount ELSE round(amount / 2, 2) END, 2
              FROM kept WHERE customer_segment.sample_uniform(key + 4, $2) < 0.03
        )
        INSERT INTO %1$I.orders
        SELECT row_number() OVER (ORDER BY ts, id, kind), id, ts, amount
          FROM (SELECT id, kind, amount, ($1::timestamp AT TIME ZONE 'UTC') + t * interval '1 day' AS ts
                  FROM rows WHERE t < $3) r
    $q$, target_schema) USING start_date, seed, span;

    EXECUTE format('ANALYZE %1$I.customers; ANALYZE %1$I.orders', target_schema);
    RETURN QUERY EXECUTE format($q$
        SELECT (SELECT count(*) FROM %1$I.customers),
               (SELECT count(*) FROM %1$I.orders WHERE amount >= 0),
               (SELECT count(*) FROM %1$I.orders WHERE amount < 0),
               (SELECT count(*) FROM %1$I.customers c
                 WHERE NOT EXISTS (SELECT 1 FROM %1$I.orders o WHERE o.customer_id = c.customer_id))
    $q$, target_schema);
END
$$;
COMMENT ON FUNCTION customer_segment.create_sample_store(name, integer, bigint, date, date) IS
    'Creates target_schema.customers and target_schema.orders (about 10 orders per customer) from a fixed seed; refuses to overwrite existing tables';

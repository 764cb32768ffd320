-- customer_segment install script, generated from src/sql/*.sql by the Makefile.
\echo Use "CREATE EXTENSION customer_segment" to load this file. \quit
COMMENT ON SCHEMA customer_segment IS 'customer_segment extension: RFM, CLV, tiers and lifecycle segmentation';

-- Install-time helper, dropped at the end of this script: an aggregate over
-- several signatures, each with its transition function declared from one C
-- symbol (CREATE OR REPLACE: aggregates may share transition functions).  An
-- internal state moves between processes through serial/deserial; a state of
-- a real type (stype) through the type itself, and serial/deserial are NULL.
CREATE FUNCTION customer_segment.install_aggregate(agg text, signatures text[], c_trans text, sql_trans text,
    final text, combine text, serial text, deserial text, volatility text, comment text, stype text DEFAULT 'internal')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    sig text;
    st text := CASE WHEN stype = 'internal' THEN 'internal' ELSE format('customer_segment.%I', stype) END;
    moves text := CASE WHEN stype = 'internal' THEN format(', SERIALFUNC = customer_segment.%I, DESERIALFUNC = customer_segment.%I',
                                                          serial, deserial) ELSE '' END;
BEGIN
    FOREACH sig IN ARRAY signatures LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION customer_segment.%I(%s, %s) RETURNS %s
                        AS %L, %L LANGUAGE C %s PARALLEL SAFE', sql_trans, st, sig, st, 'MODULE_PATHNAME', c_trans, volatility);
        EXECUTE format('CREATE AGGREGATE customer_segment.%I(%s) (SFUNC = customer_segment.%I, STYPE = %s,
                        FINALFUNC = customer_segment.%I, COMBINEFUNC = customer_segment.%I%s, PARALLEL = SAFE)',
                       agg, sig, sql_trans, st, final, combine, moves);
        EXECUTE format('COMMENT ON AGGREGATE customer_segment.%I(%s) IS %L', agg, sig, comment);
    END LOOP;
END
$$;

-- Install-time helper, dropped at the end of this script: a state type of
-- aggregates (a varlena whose text form is base64), with its input, output,
-- receive and send functions <type>_in, _out, _recv, _send (C symbols of the
-- same names).
CREATE FUNCTION customer_segment.install_state_type(type text, comment text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    EXECUTE format('CREATE TYPE customer_segment.%I', type);
    EXECUTE format('CREATE FUNCTION customer_segment.%I(cstring) RETURNS customer_segment.%I
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_in', type, 'MODULE_PATHNAME', type || '_in');
    EXECUTE format('CREATE FUNCTION customer_segment.%I(customer_segment.%I) RETURNS cstring
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_out', type, 'MODULE_PATHNAME', type || '_out');
    EXECUTE format('CREATE FUNCTION customer_segment.%I(internal) RETURNS customer_segment.%I
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_recv', type, 'MODULE_PATHNAME', type || '_recv');
    EXECUTE format('CREATE FUNCTION customer_segment.%I(customer_segment.%I) RETURNS bytea
                    AS %L, %L LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE', type || '_send', type, 'MODULE_PATHNAME', type || '_send');
    EXECUTE format('CREATE TYPE customer_segment.%1$I (INPUT = customer_segment.%2$I, OUTPUT = customer_segment.%3$I,
                    RECEIVE = customer_segment.%4$I, SEND = customer_segment.%5$I,
                    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended)',
                   type, type || '_in', type || '_out', type || '_recv', type || '_send');
    EXECUTE format('COMMENT ON TYPE customer_segment.%I IS %L', type, comment);
END
$$;
-- Per-customer summary: one pass over a customer's orders.

CREATE TYPE customer_segment.customer_summary AS (
    first_purchase  date,
    last_purchase   date,
    orders          bigint,
    purchase_days   bigint,
    refunds_count   bigint,
    recency_days    integer,
    tenure_days     integer,
    revenue         float8,
    refunds         float8,
    monetary_total  float8,
    monetary_avg    float8,
    frequency       bigint,
    recency         float8,
    t               float8,
    monetary_value  float8,
    skipped_rows    bigint,
    excluded_rows   bigint
);
COMMENT ON TYPE customer_segment.customer_summary IS 'Result of rfm_summary: RFM facts and the lifetimes-style (frequency, recency, t, monetary_value) summary of one customer';
COMMENT ON COLUMN customer_segment.customer_summary.first_purchase IS 'Day of the first purchase (amount >= 0) on or before as_of';
COMMENT ON COLUMN customer_segment.customer_summary.last_purchase IS 'Day of the last purchase on or before as_of';
COMMENT ON COLUMN customer_segment.customer_summary.orders IS 'Number of purchase rows (amount >= 0)';
COMMENT ON COLUMN customer_segment.customer_summary.purchase_days IS 'Number of distinct days with a purchase';
COMMENT ON COLUMN customer_segment.customer_summary.refunds_count IS 'Number of refund rows (amount < 0)';
COMMENT ON COLUMN customer_segment.customer_summary.recency_days IS 'as_of - last_purchase, in days';
COMMENT ON COLUMN customer_segment.customer_summary.tenure_days IS 'as_of - first_purchase, in days';
COMMENT ON COLUMN customer_segment.customer_summary.revenue IS 'Sum of purchase amounts';
COMMENT ON COLUMN customer_segment.customer_summary.refunds IS 'Sum of refunded amounts, as a positive number';
COMMENT ON COLUMN customer_segment.customer_summary.monetary_total IS 'revenue - refunds (net spend)';
COMMENT ON COLUMN customer_segment.customer_summary.monetary_avg IS 'monetary_total / orders';
COMMENT ON COLUMN customer_segment.customer_summary.frequency IS 'BTYD frequency: distinct purchase periods - 1 (repeat purchases)';
COMMENT ON COLUMN customer_segment.customer_summary.recency IS 'BTYD recency: first to last purchase period, in the reporting unit';
COMMENT ON COLUMN customer_segment.customer_summary.t IS 'BTYD T: first purchase period to the as_of period, in the reporting unit';
COMMENT ON COLUMN customer_segment.customer_summary.monetary_value IS 'BTYD monetary value: mean purchase amount per repeat period (first period excluded), 0 when frequency = 0';
COMMENT ON COLUMN customer_segment.customer_summary.skipped_rows IS 'Rows skipped because the time or the amount was NULL';
COMMENT ON COLUMN customer_segment.customer_summary.excluded_rows IS 'Rows excluded because they fall after as_of';

-- The aggregates' state as a value: it can travel between nodes (Citus runs
-- the aggregates in two phases: partial states on the workers, combined on the
-- coordinator), be stored, merged with the state of newer orders and
-- finalised later with an as_of (rfm_state, rfm_state_merge,
-- rfm_state_summary).  Text form: base64 of the binary form.
SELECT customer_segment.install_state_type('rfm_summary_state',
    'Mergeable per-customer purchase summary (state of rfm_summary, purchase_activity and rfm_state): '
    'counts, exact decimal sums, first/last days and a bitmap of purchase days, 216 bytes plus one bit per day of the customer''s span');

CREATE FUNCTION customer_segment.rfm_summary_combine(customer_segment.rfm_summary_state, customer_segment.rfm_summary_state)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_final(customer_segment.rfm_summary_state)
RETURNS customer_segment.customer_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Eight signatures: date or timestamptz time, numeric or float8 amount, with or
-- without the (granularity, unit) knobs; one C transition function serves all.
SELECT customer_segment.install_aggregate('rfm_summary',
    ARRAY['date, numeric, date', 'date, float8, date', 'timestamptz, numeric, date', 'timestamptz, float8, date',
          'date, numeric, date, text, text', 'date, float8, date, text, text',
          'timestamptz, numeric, date, text, text', 'timestamptz, float8, date, text, text'],
    'rfm_summary_trans', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine',
    NULL, NULL, 'STABLE',
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of; '
    'NULL times/amounts are skipped and counted, negative amounts are refunds', 'rfm_summary_state');
-- And with a business time zone: the day of a timestamptz is its date in zone, whatever the session's.
SELECT customer_segment.install_aggregate('rfm_summary',
    ARRAY['timestamptz, numeric, date, text, text, text', 'timestamptz, float8, date, text, text, text'],
    'rfm_summary_trans', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine',
    NULL, NULL, 'STABLE',
    'Per-customer purchase summary (RFM and lifetimes-style BTYD fields) of orders up to as_of, '
    'each order on its date in zone (NULL: the session''s TimeZone); '
    'NULL times/amounts are skipped and counted, negative amounts are refunds', 'rfm_summary_state');

-- Open states: every order counts; as_of, granularity and unit are chosen when the state is finalised.
CREATE FUNCTION customer_segment.rfm_state_final(customer_segment.rfm_summary_state)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
DO $$
DECLARE
    sig text;
BEGIN
    FOREACH sig IN ARRAY ARRAY['date, numeric', 'date, float8', 'timestamptz, numeric', 'timestamptz, float8',
                               'timestamptz, numeric, text', 'timestamptz, float8, text'] LOOP
        EXECUTE format('CREATE FUNCTION customer_segment.rfm_state_trans(customer_segment.rfm_summary_state, %s)
                        RETURNS customer_segment.rfm_summary_state AS %L, %L LANGUAGE C STABLE PARALLEL SAFE',
                       sig, 'MODULE_PATHNAME', 'rfm_state_trans');
        EXECUTE format('CREATE AGGREGATE customer_segment.rfm_state(%s) (SFUNC = customer_segment.rfm_state_trans,
                        STYPE = customer_segment.rfm_summary_state, FINALFUNC = customer_segment.rfm_state_final,
                        COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE)', sig);
        EXECUTE format('COMMENT ON AGGREGATE customer_segment.rfm_state(%s) IS %L', sig,
                       'Open per-customer state of all the given orders (with a zone: each on its date in zone), '
                       'to store, merge with rfm_state_merge and finalise with rfm_state_summary; '
                       'NULL times/amounts are skipped and counted');
    END LOOP;
END
$$;
CREATE AGGREGATE customer_segment.rfm_state_merge(customer_segment.rfm_summary_state) (
    SFUNC = customer_segment.rfm_summary_combine, STYPE = customer_segment.rfm_summary_state,
    FINALFUNC = customer_segment.rfm_state_final, COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
COMMENT ON AGGREGATE customer_segment.rfm_state_merge(customer_segment.rfm_summary_state) IS
    'One state of the orders of all the given states (rfm_state of old orders merged with rfm_state of new ones); '
    'states must share their zone';

CREATE FUNCTION customer_segment.rfm_state_summary(state customer_segment.rfm_summary_state, as_of date,
    granularity text DEFAULT 'day', unit text DEFAULT 'day')
RETURNS customer_segment.customer_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.rfm_state_summary(customer_segment.rfm_summary_state, date, text, text) IS
    'customer_summary of an open state as of as_of (= rfm_summary of the same orders); '
    'error when the state holds an order after as_of; NULL state: NULL';
-- Population scoring: exact, tie-safe quantile breakpoints and scores.

SELECT customer_segment.install_state_type('score_breakpoints_state',
    'State of score_breakpoints: the number of bins and every value collected');
CREATE FUNCTION customer_segment.score_breakpoints_trans(customer_segment.score_breakpoints_state, float8, integer)
RETURNS customer_segment.score_breakpoints_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_combine(customer_segment.score_breakpoints_state, customer_segment.score_breakpoints_state)
RETURNS customer_segment.score_breakpoints_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_final(customer_segment.score_breakpoints_state)
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE customer_segment.score_breakpoints(value float8, bins integer) (
    SFUNC = customer_segment.score_breakpoints_trans,
    STYPE = customer_segment.score_breakpoints_state,
    FINALFUNC = customer_segment.score_breakpoints_final,
    -- The final function reorders the collected values in place: the multiset a
    -- later call sees is unchanged, so it counts as read-only (and the
    -- aggregate works as a window function).
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = customer_segment.score_breakpoints_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE customer_segment.score_breakpoints(float8, integer) IS
    'Exact quantile breakpoints q_i = percentile_disc(i/bins), i = 1..bins-1, of the non-NULL values';

CREATE FUNCTION customer_segment.score(value float8, breakpoints float8[], higher_is_better boolean DEFAULT true)
RETURNS integer AS 'MODULE_PATHNAME', 'score_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.score(float8, float8[], boolean) IS
    'Score 1..n+1 of a value against n ascending breakpoints: 1 + #{q < value}, mirrored when lower is better; equal values share a score';

CREATE FUNCTION customer_segment.rfm_cell(r integer, f integer, m integer)
RETURNS text AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.rfm_cell(integer, integer, integer) IS
    'RFM cell label: ''545'', or ''10-5-4'' when a score has two digits';

CREATE FUNCTION customer_segment.rfm_weighted_score(r integer, f integer, m integer,
    r_weight float8 DEFAULT 1, f_weight float8 DEFAULT 1, m_weight float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.rfm_weighted_score(integer, integer, integer, float8, float8, float8) IS
    'Weighted mean of the R, F and M scores';

CREATE FUNCTION customer_segment.fm_score(f integer, m integer)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.fm_score(integer, integer) IS 'Mean of the F and M scores';
-- Named RFM segments from an editable rules table.
--
-- Rules are written on the 1..5 scale.  The shipped rule set 'standard' is
-- read-only, so extension updates can refresh it; users copy it into their own
-- rule set (copy_segment_rules) and edit that.  User rule sets are dumped by
-- pg_dump (pg_extension_config_dump) and survive restore and updates.

CREATE TABLE customer_segment.rfm_segment_rules (
    rule_set  text    NOT NULL DEFAULT 'custom',
    segment   text    NOT NULL,
    priority  integer NOT NULL,
    r_min     integer NOT NULL,
    r_max     integer NOT NULL,
    f_min     integer NOT NULL,
    f_max     integer NOT NULL,
    m_min     integer NOT NULL,
    m_max     integer NOT NULL,
    action    text,
    enabled   boolean NOT NULL DEFAULT true,
    owner     name    NOT NULL DEFAULT current_user,
    PRIMARY KEY (rule_set, segment),
    UNIQUE (rule_set, priority),
    CHECK (1 <= r_min AND r_min <= r_max AND r_max <= 5),
    CHECK (1 <= f_min AND f_min <= f_max AND f_max <= 5),
    CHECK (1 <= m_min AND m_min <= m_max AND m_max <= 5)
);
COMMENT ON TABLE customer_segment.rfm_segment_rules IS
    'RFM segment map: a cell (r, f, m) on the 1..5 scale belongs to the enabled rule of lowest priority whose ranges contain it';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.rule_set IS 'Name of the map; ''standard'' is shipped and read-only';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.segment IS 'Segment name';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.priority IS 'Lower wins where rules overlap; unique within a rule set';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.r_min IS 'Lowest R score (1..5) of the rule';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.r_max IS 'Highest R score (1..5) of the rule';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.f_min IS 'Lowest F score (1..5) of the rule';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.f_max IS 'Highest F score (1..5) of the rule';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.m_min IS 'Lowest M score (1..5) of the rule';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.m_max IS 'Highest M score (1..5) of the rule';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.action IS 'Recommended marketing action for the segment';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.enabled IS 'Disabled rules are ignored';
COMMENT ON COLUMN customer_segment.rfm_segment_rules.owner IS 'Role that may edit the rule set (every row of a set has one owner); default: who inserted it';

INSERT INTO customer_segment.rfm_segment_rules
    (rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max, action) VALUES
('standard', 'Champions',          1, 4, 5, 4, 5, 4, 5, 'Reward them; ask for reviews; early access to new products'),
('standard', 'Loyal Customers',    2, 3, 5, 3, 5, 3, 5, 'Upsell higher-value products; invite to the loyalty programme'),
('standard', 'Can''t Lose Them',   3, 1, 1, 4, 5, 4, 5, 'Win them back with renewals or new products; talk to them personally'),
('standard', 'At Risk',            4, 1, 2, 2, 5, 2, 5, 'Reconnect with personalised offers and helpful content'),
('standard', 'New Customers',      5, 4, 5, 1, 1, 1, 1, 'Onboarding support; build the relationship early'),
('standard', 'Promising',          6, 3, 4, 1, 1, 1, 1, 'Build brand awareness; offer free trials'),
('standard', 'Need Attention',     7, 2, 3, 2, 3, 2, 3, 'Limited-time offers based on past purchases'),
('standard', 'Lost',               8, 1, 1, 1, 2, 1, 2, 'Revive with a strong offer, otherwise stop spending on them'),
('standard', 'Hibernating',        9, 1, 2, 1, 2, 1, 2, 'Offer relevant products and special discounts'),
('standard', 'About To Sleep',    10, 2, 3, 1, 2, 1, 2, 'Share popular products and discounts to reconnect'),
('standard', 'Potential Loyalist',11, 3, 5, 1, 3, 1, 3, 'Offer membership; recommend related products'),
('standard', 'Others',          1000, 1, 5, 1, 5, 1, 5, 'Mixed pattern not covered by the map: review individually');

-- Shared by every rules table with a rule_set column whose 'standard' set is shipped.
CREATE FUNCTION customer_segment.protect_standard_rules()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       OR (TG_OP IN ('UPDATE', 'DELETE') AND OLD.rule_set = 'standard')
       OR (TG_OP IN ('INSERT', 'UPDATE') AND NEW.rule_set = 'standard') THEN
        RAISE EXCEPTION 'the rule set "standard" of % is read-only', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  HINT = format('Copy it under another rule_set and edit the copy: %s',
                                CASE TG_TABLE_NAME WHEN 'rfm_segment_rules'
                                     THEN 'SELECT customer_segment.copy_segment_rules(''standard'', ''mine'');'
                                     ELSE format('INSERT INTO customer_segment.%I SELECT ''mine'', cell, name, action FROM customer_segment.%I WHERE rule_set = ''standard'';',
                                                 TG_TABLE_NAME, TG_TABLE_NAME) END);
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER protect_standard_rules
    BEFORE INSERT OR UPDATE OR DELETE ON customer_segment.rfm_segment_rules
    FOR EACH ROW EXECUTE FUNCTION customer_segment.protect_standard_rules();
CREATE TRIGGER protect_standard_rules_truncate
    BEFORE TRUNCATE ON customer_segment.rfm_segment_rules
    FOR EACH STATEMENT EXECUTE FUNCTION customer_segment.protect_standard_rules();

SELECT pg_catalog.pg_extension_config_dump('customer_segment.rfm_segment_rules', 'WHERE rule_set <> ''standard''');

CREATE FUNCTION customer_segment.copy_segment_rules(from_rule_set text, to_rule_set text)
RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    copied integer;
BEGIN
    INSERT INTO customer_segment.rfm_segment_rules
        (rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max, action, enabled)
    SELECT to_rule_set, segment, priority, r_min, r_max, f_min, f_max, m_min, m_max, action, enabled
      FROM customer_segment.rfm_segment_rules WHERE rule_set = from_rule_set;
    GET DIAGNOSTICS copied = ROW_COUNT;
    IF copied = 0 THEN
        RAISE EXCEPTION 'rule set "%" does not exist', from_rule_set
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See SELECT DISTINCT rule_set FROM customer_segment.rfm_segment_rules;';
    END IF;
    RETURN copied;
END
$$;
COMMENT ON FUNCTION customer_segment.copy_segment_rules(text, text) IS 'Copies a rule set under a new name, returns the number of rules copied';

-- Score on a 1..bins scale -> the rules' 1..5 scale, endpoints onto endpoints.
CREATE FUNCTION customer_segment.rescale_score(score integer, bins integer)
RETURNS integer LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF bins < 2 OR bins > 100 THEN
        RAISE EXCEPTION 'bins must be between 2 and 100' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', bins);
    END IF;
    IF score < 1 OR score > bins THEN
        RAISE EXCEPTION 'score must be between 1 and bins (%)', bins USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', score);
    END IF;
    RETURN 1 + floor((score - 1) * 4.0 / (bins - 1) + 0.5)::integer;
END
$$;
COMMENT ON FUNCTION customer_segment.rescale_score(integer, integer) IS
    'Maps a score on 1..bins to 1..5: 1 + round((score - 1) * 4 / (bins - 1)), halves rounded up';

-- Every cell of a 1..bins cube with the segment the rule set gives it.
CREATE FUNCTION customer_segment.rfm_segment_map(bins integer DEFAULT 5, rule_set text DEFAULT 'standard')
RETURNS TABLE (r integer, f integer, m integer, cell text, segment text, action text)
LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.rescale_score(1, bins);
    IF NOT EXISTS (SELECT 1 FROM customer_segment.rfm_segment_rules x
                    WHERE x.rule_set = rfm_segment_map.rule_set AND x.enabled) THEN
        RAISE EXCEPTION 'rule set "%" has no enabled rules', rule_set
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See SELECT DISTINCT rule_set FROM customer_segment.rfm_segment_rules;';
    END IF;
    -- The rules speak of scores 1..5: each of the 125 cells is decided once, and every cell of the
    -- bins^3 cube takes the decision of the cell its rescaled scores fall in (100 bins: 0.6 s, not 95).
    RETURN QUERY
    WITH scale AS (
        SELECT g, customer_segment.rescale_score(g, bins) AS g5 FROM generate_series(1, bins) g
    ), map5 AS MATERIALIZED (
        SELECT r5, f5, m5, w.segment, w.action
          FROM generate_series(1, 5) r5, generate_series(1, 5) f5, generate_series(1, 5) m5
          LEFT JOIN LATERAL (
              SELECT x.segment, x.action FROM customer_segment.rfm_segment_rules x
               WHERE x.rule_set = rfm_segment_map.rule_set AND x.enabled
                 AND r5 BETWEEN x.r_min AND x.r_max AND f5 BETWEEN x.f_min AND x.f_max AND m5 BETWEEN x.m_min AND x.m_max
               ORDER BY x.priority LIMIT 1) w ON true
    )
    SELECT gr.g, gf.g, gm.g, customer_segment.rfm_cell(gr.g, gf.g, gm.g), c.segment, c.action
      FROM scale gr CROSS JOIN scale gf CROSS JOIN scale gm
      JOIN map5 c ON c.r5 = gr.g5 AND c.f5 = gf.g5 AND c.m5 = gm.g5
     ORDER BY 1, 2, 3;
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_segment_map(integer, text) IS
    'All bins^3 RFM cells with their segment (NULL where the rule set has a gap)';

CREATE FUNCTION customer_segment.rfm_segment(r integer, f integer, m integer,
    bins integer DEFAULT 5, rule_set text DEFAULT 'standard')
RETURNS text LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    r5 integer := customer_segment.rescale_score(r, bins);
    f5 integer := customer_segment.rescale_score(f, bins);
    m5 integer := customer_segment.rescale_score(m, bins);
    found_segment text;
BEGIN
    SELECT x.segment INTO found_segment FROM customer_segment.rfm_segment_rules x
     WHERE x.rule_set = rfm_segment.rule_set AND x.enabled
       AND r5 BETWEEN x.r_min AND x.r_max AND f5 BETWEEN x.f_min AND x.f_max AND m5 BETWEEN x.m_min AND x.m_max
     ORDER BY x.priority LIMIT 1;
    IF found_segment IS NULL AND NOT EXISTS (
        SELECT 1 FROM customer_segment.rfm_segment_rules x WHERE x.rule_set = rfm_segment.rule_set AND x.enabled) THEN
        RAISE EXCEPTION 'rule set "%" has no enabled rules', rule_set
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See SELECT DISTINCT rule_set FROM customer_segment.rfm_segment_rules;';
    END IF;
    RETURN found_segment;
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_segment(integer, integer, integer, integer, text) IS
    'Segment name of one RFM cell (scores on 1..bins); NULL where the rule set has a gap';

-- Gaps (cells no specific rule covers), overlaps (cells several rules cover,
-- resolved by priority) and unreachable rules (rules that win no cell).  A
-- rule covering every cell is a catch-all: it takes the gaps ('catch-all')
-- and is not reported as overlapping.
CREATE FUNCTION customer_segment.check_segment_rules(rule_set text DEFAULT 'standard')
RETURNS TABLE (r integer, f integer, m integer, problem text, segments text[], chosen text)
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    WITH rules AS (
        SELECT x.*, (x.r_min = 1 AND x.r_max = 5 AND x.f_min = 1 AND x.f_max = 5
                     AND x.m_min = 1 AND x.m_max = 5) AS covers_all
          FROM customer_segment.rfm_segment_rules x
         WHERE x.rule_set = check_segment_rules.rule_set AND x.enabled
    ), cells AS (
        SELECT gr, gf, gm,
               array_agg(x.segment ORDER BY x.priority) FILTER (WHERE x.segment IS NOT NULL) AS segs
          FROM generate_series(1, 5) gr CROSS JOIN generate_series(1, 5) gf CROSS JOIN generate_series(1, 5) gm
          LEFT JOIN rules x ON NOT x.covers_all
                           AND gr BETWEEN x.r_min AND x.r_max AND gf BETWEEN x.f_min AND x.f_max
                           AND gm BETWEEN x.m_min AND x.m_max
         GROUP BY 1, 2, 3
    ), catch_all AS (
        SELECT x.segment FROM rules x WHERE x.covers_all ORDER BY x.priority LIMIT 1
    ), winners AS (
        SELECT DISTINCT coalesce(c.segs[1], (SELECT segment FROM catch_all)) AS segment FROM cells c
    )
    SELECT * FROM (
        SELECT gr, gf, gm,
               CASE WHEN segs IS NOT NULL THEN 'overlap'
                    WHEN EXISTS (SELECT 1 FROM catch_all) THEN 'catch-all'
                    ELSE 'gap' END,
               coalesce(segs, '{}'),
               coalesce(segs[1], (SELECT segment FROM catch_all))
          FROM cells
         WHERE segs IS NULL OR cardinality(segs) > 1
        UNION ALL
        SELECT NULL::integer, NULL::integer, NULL::integer, 'unreachable', ARRAY[x.segment], NULL::text
          FROM rules x WHERE x.segment NOT IN (SELECT w.segment FROM winners w WHERE w.segment IS NOT NULL)
    ) problems
    ORDER BY 4 DESC, 1, 2, 3, 5
$$;
COMMENT ON FUNCTION customer_segment.check_segment_rules(text) IS
    'Problems of a rule set: gap (no rule covers a cell), catch-all (only the catch-all covers it), overlap (several rules, priority decides), unreachable (a rule wins no cell)';
-- Reading a user's orders table safely.

-- Type of a column of a relation, or a clear error when there is none.
CREATE FUNCTION customer_segment.column_type(rel regclass, col name)
RETURNS regtype LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog AS $$
DECLARE
    typ regtype;
BEGIN
    SELECT a.atttypid::regtype INTO typ FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF typ IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', col, rel
            USING ERRCODE = 'undefined_column', HINT = 'Pass the column name as it is spelled in the table.';
    END IF;
    RETURN typ;
END
$$;
COMMENT ON FUNCTION customer_segment.column_type(regclass, name) IS 'Type of a column of a relation; error when the column does not exist';

-- SQL for a key or label column of a user's table (a customer id, a segment) that evaluates no code the
-- table's owner could have written, whoever runs it.  A built-in type (domains resolved to their base) is
-- used as it is: its equality, hashing and cast to text are PostgreSQL's own, and nobody else can add a cast
-- from it.  Any other type (composite, enum, range, an array of those, an extension's type) becomes its text
-- form through the type's output function, as format's %s does: user-defined casts and operators are never
-- applied, and only a superuser can install an output function.  NULL stays NULL.
CREATE FUNCTION customer_segment.safe_key_sql(rel regclass, col name, alias text DEFAULT 'o')
RETURNS text LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog AS $$
DECLARE
    typ oid := customer_segment.column_type(rel, col);
    ref text := format('%I.%I', alias, col);
BEGIN
    WHILE (SELECT t.typtype = 'd' FROM pg_type t WHERE t.oid = typ) LOOP
        SELECT t.typbasetype INTO typ FROM pg_type t WHERE t.oid = typ;
    END LOOP;
    IF typ < 16384::oid THEN   -- FirstNormalObjectId: below it, the types initdb created
        RETURN ref;
    END IF;
    RETURN format('CASE WHEN pg_catalog.num_nulls(%1$s) = 0 THEN pg_catalog.format(''%%s'', %1$s) END', ref);
END
$$;
COMMENT ON FUNCTION customer_segment.safe_key_sql(regclass, name, text) IS
    'SQL for a key column that runs no user-defined cast or operator: the column when its type is built in, else its text form through the type''s output function';

-- SQL for an amount column: numeric and float8 as they are, the other built-in number types as numeric.
CREATE FUNCTION customer_segment.number_sql(rel regclass, col name, alias text DEFAULT 'o')
RETURNS text LANGUAGE plpgsql STABLE STRICT SET search_path = pg_catalog AS $$
DECLARE
    typ regtype := customer_segment.column_type(rel, col);
BEGIN
    IF typ IN ('numeric'::regtype, 'float8'::regtype) THEN
        RETURN format('%I.%I', alias, col);
    ELSIF typ IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'float4'::regtype) THEN
        RETURN format('%I.%I::numeric', alias, col);
    END IF;
    RAISE EXCEPTION 'column "%" has type %, expected a number', col, typ USING ERRCODE = 'datatype_mismatch';
END
$$;
COMMENT ON FUNCTION customer_segment.number_sql(regclass, name, text) IS
    'SQL for a built-in number column (numeric or float8 as is, other number types as numeric); 42804 for any other type';

-- A business time zone: the name as given when AT TIME ZONE knows it (IANA names such as
-- 'Europe/Berlin', abbreviations such as 'UTC', POSIX specifications), 22023 otherwise.  NULL stays NULL.
CREATE FUNCTION customer_segment.check_time_zone(zone text)
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF zone IS NOT NULL THEN
        PERFORM TIMESTAMPTZ '2000-01-01 00:00+00' AT TIME ZONE zone;
    END IF;
    RETURN zone;
EXCEPTION WHEN invalid_parameter_value THEN
    RAISE EXCEPTION 'time zone "%" is not recognized', zone USING ERRCODE = 'invalid_parameter_value',
        HINT = 'Use a name from pg_timezone_names, e.g. ''Europe/Berlin'' or ''UTC''.';
END
$$;
COMMENT ON FUNCTION customer_segment.check_time_zone(text) IS
    'Returns zone when AT TIME ZONE accepts it (NULL stays NULL), raises 22023 otherwise';

-- Validated, quoted SQL for the customer, time and amount columns of an orders table,
-- shared by every function that reads a user's orders table.  Only built-in code is applied to the
-- columns (see safe_key_sql), so a superuser reading another role's table runs none of that role's code.
-- The time becomes a day: a date as it is, a timestamp by its wall-clock date, a timestamptz by its
-- date in zone (NULL: the session's TimeZone).
CREATE FUNCTION customer_segment.orders_source_sql(source regclass, customer_column name, time_column name,
    amount_column name, zone text DEFAULT NULL,
    OUT customer_expr text, OUT time_expr text, OUT amount_expr text, OUT from_clause text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    time_type regtype;
BEGIN
    IF source IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL THEN
        RAISE EXCEPTION 'the orders table and its column names must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    customer_expr := customer_segment.safe_key_sql(source, customer_column);
    time_type := customer_segment.column_type(source, time_column);
    PERFORM customer_segment.check_time_zone(zone);
    time_expr := CASE
        WHEN time_type = 'date'::regtype THEN format('o.%I', time_column)
        WHEN time_type = 'timestamptz'::regtype AND zone IS NULL THEN format('o.%I', time_column)
        WHEN time_type = 'timestamptz'::regtype THEN format('(o.%I AT TIME ZONE %L)::date', time_column, zone)
        WHEN time_type = 'timestamp'::regtype THEN format('o.%I::date', time_column)
    END;
    IF time_expr IS NULL THEN
        RAISE EXCEPTION 'column "%" has type %, expected date, timestamp or timestamptz', time_column, time_type
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    amount_expr := customer_segment.number_sql(source, amount_column);
    from_clause := format('%s o', source);
END
$$;
COMMENT ON FUNCTION customer_segment.orders_source_sql(regclass, name, name, name, text) IS
    'Validated, quoted SQL expressions for the customer, time (a day, timestamptz taken in zone) and amount columns of an orders table';


-- Purchase-period names accepted by the table functions (as rfm_summary's granularity).
CREATE FUNCTION customer_segment.check_period(period text, what text DEFAULT 'period')
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF period IS NULL OR period NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'unknown % "%"', what, period USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''day'', ''week'' or ''month''.';
    END IF;
    RETURN period;
END
$$;
COMMENT ON FUNCTION customer_segment.check_period(text, text) IS 'Returns period when it is day, week or month, raises 22023 otherwise';
-- One call: summary, scores, cell and segment per customer of any orders table.

-- The checks of rfm_analyze's arguments, shared with rfm_analyze_states.
CREATE FUNCTION customer_segment.check_rfm_arguments(as_of date, bins integer, rule_set text, granularity text, unit text)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF as_of IS NULL OR bins IS NULL OR rule_set IS NULL OR granularity IS NULL OR unit IS NULL THEN
        RAISE EXCEPTION 'rfm_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF bins < 2 OR bins > 100 THEN
        RAISE EXCEPTION 'bins must be between 2 and 100' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', bins), HINT = 'RFM scores usually use 5 bins (quintiles).';
    END IF;
    PERFORM customer_segment.check_period(granularity, 'granularity');
END
$$;
COMMENT ON FUNCTION customer_segment.check_rfm_arguments(date, integer, text, text, text) IS
    'Raises 22004 for a NULL argument of rfm_analyze, 22023 for bins outside 2..100 or an unknown granularity';

-- The RFM analysis query over per-customer summaries: per_customer is SQL giving (customer_id text,
-- s customer_summary); the query takes $1 as_of, $2 granularity, $3 unit, $4 bins, $5 rule_set.
CREATE FUNCTION customer_segment.rfm_scored_sql(per_customer text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $f$
    SELECT format($q$
        WITH per_customer AS (
            %s
        ), flat AS (
            -- NOT (s IS NULL): a summary with some NULL fields (refunds only) is kept
            SELECT p.customer_id, (p.s).* FROM per_customer p WHERE NOT (p.s IS NULL)
        ), segment_map AS (
            -- the rules' 125 cells (scores rescaled to 1..5, as rescale_score) as arrays, so each customer is
            -- a subscript, not a join, and the array stays small whatever the number of bins
            SELECT array_agg(g.segment ORDER BY g.r, g.f, g.m) AS segments,
                   array_agg(g.action ORDER BY g.r, g.f, g.m) AS actions
              FROM customer_segment.rfm_segment_map(5, $5) g
        ), population AS (
            SELECT customer_segment.score_breakpoints(x.recency_days, $4) AS r_breaks,
                   customer_segment.score_breakpoints(x.orders, $4) AS f_breaks,
                   customer_segment.score_breakpoints(x.monetary_total, $4) AS m_breaks
              FROM flat x WHERE x.orders > 0
        ), scored AS (
            SELECT x.*,
                   -- customers with refunds only are listed but not scored
                   CASE WHEN x.orders > 0 THEN customer_segment.score(x.recency_days, p.r_breaks, false) END AS r_score,
                   CASE WHEN x.orders > 0 THEN customer_segment.score(x.orders, p.f_breaks) END AS f_score,
                   CASE WHEN x.orders > 0 THEN customer_segment.score(x.monetary_total, p.m_breaks) END AS m_score
              FROM flat x CROSS JOIN population p
        )
        SELECT s.customer_id, s.first_purchase, s.last_purchase, s.orders, s.purchase_days,
               s.refunds_count, s.recency_days, s.tenure_days, s.revenue, s.refunds,
               s.monetary_total, s.monetary_avg, s.frequency, s.recency, s.t, s.monetary_value,
               s.r_score, s.f_score, s.m_score, customer_segment.rfm_cell(s.r_score, s.f_score, s.m_score),
               customer_segment.fm_score(s.f_score, s.m_score),
               customer_segment.rfm_weighted_score(s.r_score, s.f_score, s.m_score),
               g.segments[s.cell_index], g.actions[s.cell_index]
          FROM (SELECT sc.*, ((1 + floor((sc.r_score - 1) * 4.0 / ($4 - 1) + 0.5)::integer - 1) * 25
                              + (1 + floor((sc.f_score - 1) * 4.0 / ($4 - 1) + 0.5)::integer - 1) * 5
                              + 1 + floor((sc.m_score - 1) * 4.0 / ($4 - 1) + 0.5)::integer) AS cell_index
                  FROM scored sc) s
          CROSS JOIN segment_map g
        $q$, per_customer)
$f$;
COMMENT ON FUNCTION customer_segment.rfm_scored_sql(text) IS
    'Text of the RFM analysis query (scores, cell, segment, action) over per-customer summaries given as SQL';

CREATE FUNCTION customer_segment.rfm_analyze(
    source regclass,
    customer_column name,
    time_column name,
    amount_column name,
    as_of date DEFAULT current_date,
    bins integer DEFAULT 5,
    rule_set text DEFAULT 'standard',
    granularity text DEFAULT 'day',
    unit text DEFAULT 'day',
    zone text DEFAULT NULL)
RETURNS TABLE (
    customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
    refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
    monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
    monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
    fm_score float8, rfm_score float8, segment text, action text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
BEGIN
    PERFORM customer_segment.check_rfm_arguments(as_of, bins, rule_set, granularity, unit);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE customer_segment.rfm_scored_sql(format(
        'SELECT %1$s::text AS customer_id, customer_segment.rfm_summary(%2$s, %3$s, $1, $2, $3) AS s
           FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s',
        src.customer_expr, src.time_expr, src.amount_expr, src.from_clause))
    USING as_of, granularity, unit, bins, rule_set;
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_analyze(regclass, name, name, name, date, integer, text, text, text, text) IS
    'Per customer of an orders table (a timestamptz on its date in zone; NULL: the session''s TimeZone): rfm_summary, R/F/M quantile scores (F = orders, M = net spend), cell, FM and RFM scores, segment and action';
-- Customer lifetime value: retention-model formulas, rate conversion,
-- historical discounted value, retention from data, projected CLV.

CREATE FUNCTION customer_segment.period_rate(annual_rate float8, period text DEFAULT 'month')
RETURNS float8 AS 'MODULE_PATHNAME', 'clv_period_rate_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.period_rate(float8, text) IS
    'Per-period rate equivalent to an annual rate: (1 + annual)^(1/n) - 1, n = 1, 4, 12, 365.2425/7 or 365.2425 periods a year';

CREATE FUNCTION customer_segment.clv_retention(margin float8, retention float8, discount float8,
    periods integer DEFAULT NULL, timing text DEFAULT 'end', growth float8 DEFAULT 0,
    acquisition_cost float8 DEFAULT 0)
RETURNS float8 AS 'MODULE_PATHNAME', 'clv_retention_sql' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.clv_retention(float8, float8, float8, integer, text, float8, float8) IS
    'Retention-model CLV in closed form: margin per period, retention and discount per period, NULL periods = infinite horizon; timing start | end | end_first; margin growth per period; minus acquisition cost';

-- clv_historical: value at reference_date of every past (or future) cash flow amount * margin.
SELECT customer_segment.install_state_type('clv_historical_state',
    'State of clv_historical: the discounting terms (reference day, rate, margin, compounding, zone), the discounted sum and the number of cash flows');
CREATE FUNCTION customer_segment.clv_historical_combine(customer_segment.clv_historical_state, customer_segment.clv_historical_state)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.clv_historical_final(customer_segment.clv_historical_state)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

SELECT customer_segment.install_aggregate('clv_historical',
    ARRAY['date, numeric, date, float8', 'date, float8, date, float8',
          'timestamptz, numeric, date, float8', 'timestamptz, float8, date, float8',
          'date, numeric, date, float8, float8, text', 'date, float8, date, float8, float8, text',
          'timestamptz, numeric, date, float8, float8, text', 'timestamptz, float8, date, float8, float8, text'],
    'clv_historical_trans', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine',
    NULL, NULL, 'STABLE',
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) '
    '(or exp(annual_rate * years) with compounding ''continuous''); NULL rows skipped', 'clv_historical_state');
SELECT customer_segment.install_aggregate('clv_historical',
    ARRAY['timestamptz, numeric, date, float8, float8, text, text', 'timestamptz, float8, date, float8, float8, text, text'],
    'clv_historical_trans', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine',
    NULL, NULL, 'STABLE',
    'Realised CLV: sum of amount * margin * (1 + annual_rate)^((reference_date - day) / 365.2425) '
    '(or exp(annual_rate * years) with compounding ''continuous''), day = the order''s date in zone '
    '(NULL: the session''s TimeZone); NULL rows skipped', 'clv_historical_state');

-- purchase_activity: per customer, bit k = bought in the k-th period since the first purchase period.
CREATE FUNCTION customer_segment.rfm_activity_final(customer_segment.rfm_summary_state)
RETURNS varbit AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
SELECT customer_segment.install_aggregate('purchase_activity',
    ARRAY['date, numeric, date, text', 'date, float8, date, text',
          'timestamptz, numeric, date, text', 'timestamptz, float8, date, text'],
    'rfm_summary_trans', 'rfm_summary_trans', 'rfm_activity_final', 'rfm_summary_combine',
    NULL, NULL, 'STABLE',
    'Bit string of purchase periods (day, week or month) from the first purchase period to the as_of period; '
    'bit k set = bought in period k; refunds are not purchases', 'rfm_summary_state');
SELECT customer_segment.install_aggregate('purchase_activity',
    ARRAY['timestamptz, numeric, date, text, text', 'timestamptz, float8, date, text, text'],
    'rfm_activity_trans', 'rfm_activity_trans', 'rfm_activity_final', 'rfm_summary_combine',
    NULL, NULL, 'STABLE',
    'Bit string of purchase periods (day, week or month) from the first purchase period to the as_of period, '
    'each order on its date in zone (NULL: the session''s TimeZone); bit k set = bought in period k; '
    'refunds are not purchases', 'rfm_summary_state');
CREATE FUNCTION customer_segment.rfm_state_activity(state customer_segment.rfm_summary_state, as_of date,
    granularity text DEFAULT 'day')
RETURNS varbit AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.rfm_state_activity(customer_segment.rfm_summary_state, date, text) IS
    'purchase_activity of an open state as of as_of (= purchase_activity of the same orders); '
    'error when the state holds an order after as_of; NULL state: NULL';

CREATE TYPE customer_segment.retention_counts AS (
    customers  bigint,
    observed   bigint[],
    active     bigint[],
    at_risk    bigint[],
    retained   bigint[],
    rate       float8
);
COMMENT ON TYPE customer_segment.retention_counts IS 'Result of retention_curve; arrays are indexed by period offset + 1';
COMMENT ON COLUMN customer_segment.retention_counts.customers IS 'Customers counted';
COMMENT ON COLUMN customer_segment.retention_counts.observed IS 'Customers whose observation reaches offset k';
COMMENT ON COLUMN customer_segment.retention_counts.active IS 'Customers who bought in offset k';
COMMENT ON COLUMN customer_segment.retention_counts.at_risk IS 'Customers who bought in offset k and are observed in k + 1';
COMMENT ON COLUMN customer_segment.retention_counts.retained IS 'Customers who bought in offset k and in k + 1';
COMMENT ON COLUMN customer_segment.retention_counts.rate IS 'Pooled period-over-period retention: sum(retained) / sum(at_risk); NULL when nobody is at risk';

SELECT customer_segment.install_state_type('retention_curve_state',
    'State of retention_curve: customers, and per period offset the observed, active, at-risk and retained counts');
CREATE FUNCTION customer_segment.retention_curve_trans(customer_segment.retention_curve_state, varbit)
RETURNS customer_segment.retention_curve_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_combine(customer_segment.retention_curve_state, customer_segment.retention_curve_state)
RETURNS customer_segment.retention_curve_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_final(customer_segment.retention_curve_state)
RETURNS customer_segment.retention_counts AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE customer_segment.retention_curve(activity varbit) (
    SFUNC = customer_segment.retention_curve_trans,
    STYPE = customer_segment.retention_curve_state,
    FINALFUNC = customer_segment.retention_curve_final,
    COMBINEFUNC = customer_segment.retention_curve_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE customer_segment.retention_curve(varbit) IS
    'Period-over-period retention counts by offset since acquisition over purchase_activity bit strings (group by cohort for cohort curves)';

-- The cohort retention query over per-customer (cohort date, activity varbit) given as SQL; $1 as_of, $2 period.
CREATE FUNCTION customer_segment.cohort_sql(per_customer text)
RETURNS text LANGUAGE sql IMMUTABLE SET search_path = pg_catalog AS $f$
    SELECT format($q$
        WITH per_customer AS (
            %s
        ), curves AS (
            SELECT p.cohort, customer_segment.retention_curve(p.activity) AS c
              FROM per_customer p WHERE p.activity IS NOT NULL GROUP BY p.cohort
        )
        SELECT c.cohort, (k - 1)::integer, (c.c).customers, (c.c).observed[k], (c.c).active[k],
               (c.c).active[k]::float8 / (c.c).observed[k], (c.c).at_risk[k], (c.c).retained[k],
               CASE WHEN (c.c).at_risk[k] > 0 THEN (c.c).retained[k]::float8 / (c.c).at_risk[k] END
          FROM curves c, generate_series(1, cardinality((c.c).observed)) k
         ORDER BY 1, 2
    $q$, per_customer)
$f$;
COMMENT ON FUNCTION customer_segment.cohort_sql(text) IS
    'Text of the cohort retention query over per-customer (cohort, activity) given as SQL';

CREATE FUNCTION customer_segment.cohort_retention(source regclass, customer_column name, time_column name,
    amount_column name, as_of date DEFAULT current_date, period text DEFAULT 'month', zone text DEFAULT NULL)
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
BEGIN
    IF as_of IS NULL OR period IS NULL THEN
        RAISE EXCEPTION 'as_of and period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.check_period(period);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE customer_segment.cohort_sql(format(
        'SELECT date_trunc($2, min(%2$s::date) FILTER (WHERE %3$s >= 0 AND %2$s::date <= $1))::date AS cohort,
                customer_segment.purchase_activity(%2$s, %3$s, $1, $2) AS activity
           FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s',
        src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)) USING as_of, period;
END
$$;
COMMENT ON FUNCTION customer_segment.cohort_retention(regclass, name, name, name, date, text, text) IS
    'Cohort retention matrix (a timestamptz on its date in zone; NULL: the session''s TimeZone): per acquisition cohort and period offset, customers active, share of the cohort active, and period-over-period retention (active in k and k+1 / active in k and observed in k+1)';

CREATE FUNCTION customer_segment.clv_analyze(source regclass, customer_column name, time_column name,
    amount_column name, as_of date DEFAULT current_date, annual_discount float8 DEFAULT 0.10,
    margin_rate float8 DEFAULT 1.0, period text DEFAULT 'month', periods integer DEFAULT NULL,
    retention_rate float8 DEFAULT NULL, timing text DEFAULT 'end', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, first_purchase date, last_purchase date, orders bigint, monetary_total float8,
               active_periods bigint, periods_since_active float8, margin_per_period float8, retention float8,
               discount_per_period float8, historical_value float8, projected_clv float8, total_clv float8,
               clv_rank bigint, clv_decile integer)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    r float8 := retention_rate;
    d float8;
BEGIN
    IF as_of IS NULL OR annual_discount IS NULL OR margin_rate IS NULL OR period IS NULL OR timing IS NULL THEN
        RAISE EXCEPTION 'clv_analyze arguments other than periods and retention must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.check_period(period);
    IF margin_rate <> margin_rate OR margin_rate < 0 OR margin_rate > 1 THEN
        RAISE EXCEPTION 'margin_rate must be between 0 and 1' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', margin_rate), HINT = 'The share of revenue that is profit, e.g. 0.3.';
    END IF;
    d := customer_segment.period_rate(annual_discount, period);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    IF r IS NULL THEN
        -- Pooled period-over-period retention of all customers, from the orders themselves.
        EXECUTE format($q$
            SELECT (customer_segment.retention_curve(a)).rate FROM (
                SELECT customer_segment.purchase_activity(%2$s, %3$s, $1, $2) AS a
                  FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s) x
        $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause) INTO r USING as_of, period;
        IF r IS NULL THEN
            RAISE EXCEPTION 'retention cannot be estimated: no customer was observed for two periods'
                USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass retention_rate explicitly.';
        END IF;
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH s AS (
            SELECT %1$s::text AS customer_id,
                   customer_segment.rfm_summary(%2$s, %3$s, $1, $2, $2) AS s,
                   customer_segment.clv_historical(%2$s, %3$s, $1, $3, $4, 'annual') AS hist
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), v AS (
            SELECT s.customer_id, (s.s).first_purchase, (s.s).last_purchase, (s.s).orders, (s.s).monetary_total,
                   (s.s).frequency + 1 AS active_periods,
                   (s.s).t - (s.s).recency AS periods_since_active,
                   (s.s).monetary_total * $4 / ((s.s).frequency + 1) AS margin_per_period, s.hist
              FROM s WHERE (s.s).orders > 0
        ), p AS (
            -- each silent period since the last purchase counts as one more retention step
            SELECT v.*, customer_segment.clv_retention(v.margin_per_period, $5, $6, $7, $8)
                        * power($5, v.periods_since_active) AS projected
              FROM v
        )
        SELECT p.customer_id, p.first_purchase, p.last_purchase, p.orders, p.monetary_total, p.active_periods,
               p.periods_since_active, p.margin_per_period, $5, $6, p.hist, p.projected, p.hist + p.projected,
               rank() OVER (ORDER BY p.projected DESC),
               customer_segment.score(p.projected, customer_segment.score_breakpoints(p.projected, 10) OVER ())
          FROM p
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING as_of, period, annual_discount, margin_rate, r, d, periods, timing;
END
$$;
COMMENT ON FUNCTION customer_segment.clv_analyze(regclass, name, name, name, date, float8, float8, text, integer, float8, text, text) IS
    'Per customer (a timestamptz on its date in zone; NULL: the session''s TimeZone): realised discounted value to as_of, margin per active period, projected retention-model CLV times retention^(periods since last purchase) (retention estimated from the orders unless given), rank and tie-safe decile (10 = highest)';
-- Member tiers, value/need quadrants, the value grid, lifecycle stages and migrations.

-- ---------------------------------------------------------------- tiers
CREATE TABLE customer_segment.tier_ladders (
    ladder       text    NOT NULL,
    tier         text    NOT NULL,
    rank         integer NOT NULL,
    lower_bound  numeric NOT NULL,
    benefits     text,
    owner        name    NOT NULL DEFAULT current_user,
    PRIMARY KEY (ladder, tier),
    UNIQUE (ladder, rank)
);
COMMENT ON TABLE customer_segment.tier_ladders IS
    'Tier ladders: a value gets the tier of highest rank whose lower_bound it reaches; bounds strictly increase with rank';
COMMENT ON COLUMN customer_segment.tier_ladders.ladder IS 'Name of the ladder (programme)';
COMMENT ON COLUMN customer_segment.tier_ladders.tier IS 'Tier name';
COMMENT ON COLUMN customer_segment.tier_ladders.rank IS 'Order of the tier, 1 = lowest';
COMMENT ON COLUMN customer_segment.tier_ladders.lower_bound IS 'Lowest metric value (inclusive) that earns the tier';
COMMENT ON COLUMN customer_segment.tier_ladders.benefits IS 'What members of the tier get';
COMMENT ON COLUMN customer_segment.tier_ladders.owner IS 'Role that may edit the ladder (every tier of a ladder has one owner); default: who inserted it';
SELECT pg_catalog.pg_extension_config_dump('customer_segment.tier_ladders', '');

CREATE FUNCTION customer_segment.check_tier_ladder(ladder text)
RETURNS boolean LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    bad record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM customer_segment.tier_ladders t WHERE t.ladder = check_tier_ladder.ladder) THEN
        RAISE EXCEPTION 'tier ladder "%" does not exist or is empty', ladder
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'See SELECT DISTINCT ladder FROM customer_segment.tier_ladders;';
    END IF;
    SELECT t.tier, t.lower_bound, lag(t.tier) OVER w AS prev_tier, lag(t.lower_bound) OVER w AS prev_bound
      INTO bad
      FROM customer_segment.tier_ladders t WHERE t.ladder = check_tier_ladder.ladder
    WINDOW w AS (ORDER BY t.rank)
    ORDER BY (t.lower_bound = 'NaN' OR t.lower_bound <= lag(t.lower_bound) OVER w) DESC NULLS LAST LIMIT 1;
    IF bad.lower_bound = 'NaN' OR bad.lower_bound <= bad.prev_bound THEN
        RAISE EXCEPTION 'tier ladder "%" is invalid: bounds must strictly increase with rank', ladder
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Tier %s has bound %s, tier %s below it has %s.', bad.tier, bad.lower_bound,
                                  bad.prev_tier, bad.prev_bound);
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION customer_segment.check_tier_ladder(text) IS
    'Raises 22023 unless the ladder exists and its bounds strictly increase with rank (no NaN); true otherwise';

CREATE FUNCTION customer_segment.tier_ladder_check_trigger()
RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM customer_segment.tier_ladders t WHERE t.ladder = NEW.ladder) THEN
        PERFORM customer_segment.check_tier_ladder(NEW.ladder);
    END IF;
    RETURN NULL;
END
$$;
-- Deferred, so a ladder can be rewritten in several statements of one transaction.
CREATE CONSTRAINT TRIGGER tier_ladder_valid
    AFTER INSERT OR UPDATE ON customer_segment.tier_ladders
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION customer_segment.tier_ladder_check_trigger();

CREATE FUNCTION customer_segment.tier_for(ladder text, value numeric)
RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    found_tier text;
BEGIN
    IF ladder IS NULL THEN
        RAISE EXCEPTION 'ladder must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF value IN ('NaN', 'Infinity', '-Infinity') THEN
        RAISE EXCEPTION 'tier_for value must be a finite number' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', value);
    END IF;
    SELECT t.tier INTO found_tier FROM customer_segment.tier_ladders t
     WHERE t.ladder = tier_for.ladder AND t.lower_bound <= value ORDER BY t.rank DESC LIMIT 1;
    IF found_tier IS NULL THEN
        PERFORM customer_segment.check_tier_ladder(ladder);   -- unknown ladder: error; else below the ladder
    END IF;
    RETURN found_tier;
END
$$;
COMMENT ON FUNCTION customer_segment.tier_for(text, numeric) IS
    'Tier of highest rank whose lower_bound <= value; NULL for a NULL value or a value below the lowest bound';
CREATE FUNCTION customer_segment.tier_for(ladder text, value float8)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT customer_segment.tier_for(ladder, value::numeric)
$$;
COMMENT ON FUNCTION customer_segment.tier_for(text, float8) IS 'tier_for of a float8 metric (exact decimal value of the float8)';

CREATE TYPE customer_segment.tier_step AS (tier text, periods_below integer, change text);
COMMENT ON TYPE customer_segment.tier_step IS 'Result of tier_next: the tier after this period, how many consecutive periods the value has been below the margin, and up/down/same/new/none';

CREATE FUNCTION customer_segment.tier_next(ladder text, current_tier text, value numeric,
    periods_below integer DEFAULT 0, downgrade_margin numeric DEFAULT 0, grace_periods integer DEFAULT 1)
RETURNS customer_segment.tier_step LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    target text := customer_segment.tier_for(ladder, value);
    cur record;
    tgt_rank integer;
    below integer;
BEGIN
    IF periods_below IS NULL OR downgrade_margin IS NULL OR grace_periods IS NULL THEN
        RAISE EXCEPTION 'periods_below, downgrade_margin and grace_periods must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF downgrade_margin = 'NaN' OR downgrade_margin < 0 OR downgrade_margin >= 1 OR grace_periods < 1 OR periods_below < 0 THEN
        RAISE EXCEPTION 'downgrade_margin must be in [0, 1), grace_periods >= 1 and periods_below >= 0'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('Got margin %s, grace %s, periods below %s.', downgrade_margin, grace_periods, periods_below);
    END IF;
    IF value IS NULL THEN
        RETURN ROW(current_tier, periods_below, 'same')::customer_segment.tier_step;
    END IF;
    IF current_tier IS NULL THEN
        RETURN ROW(target, 0, CASE WHEN target IS NULL THEN 'none' ELSE 'new' END)::customer_segment.tier_step;
    END IF;
    SELECT t.rank, t.lower_bound INTO cur FROM customer_segment.tier_ladders t
     WHERE t.ladder = tier_next.ladder AND t.tier = current_tier;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'tier "%" is not on ladder "%"', current_tier, ladder USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT t.rank INTO tgt_rank FROM customer_segment.tier_ladders t WHERE t.ladder = tier_next.ladder AND t.tier = target;
    IF tgt_rank >= cur.rank THEN                       -- reached the current tier or a higher one: at once
        RETURN ROW(target, 0, CASE WHEN tgt_rank > cur.rank THEN 'up' ELSE 'same' END)::customer_segment.tier_step;
    END IF;
    IF value >= cur.lower_bound * (1 - downgrade_margin) THEN   -- below the bound but within the margin
        RETURN ROW(current_tier, 0, 'same')::customer_segment.tier_step;
    END IF;
    below := periods_below + 1;
    IF below < grace_periods THEN
        RETURN ROW(current_tier, below, 'same')::customer_segment.tier_step;
    END IF;
    RETURN ROW(target, 0, 'down')::customer_segment.tier_step;
END
$$;
COMMENT ON FUNCTION customer_segment.tier_next(text, text, numeric, integer, numeric, integer) IS
    'Re-tiering with hysteresis: up at once; down only after grace_periods consecutive periods below lower_bound * (1 - downgrade_margin)';

-- ---------------------------------------------------------------- quadrants and the value grid
CREATE FUNCTION customer_segment.quadrant(x float8, y float8, x_cut float8, y_cut float8,
    x_name text DEFAULT 'value', y_name text DEFAULT 'need')
RETURNS text AS 'MODULE_PATHNAME', 'quadrant_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.quadrant(float8, float8, float8, float8, text, text) IS
    '''High value / Low need'' etc.: High when the metric is >= its cut';

CREATE FUNCTION customer_segment.value_grid_cell(value float8, engagement float8, potential float8,
    value_cut float8, engagement_cut float8, potential_cut float8)
RETURNS text AS 'MODULE_PATHNAME', 'value_grid_cell_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.value_grid_cell(float8, float8, float8, float8, float8, float8) IS
    'Cell of the 8-cell value grid, e.g. ''HLH'' = High current value, Low engagement, High potential (>= cut is High)';

CREATE TABLE customer_segment.value_grid_cells (
    rule_set  text NOT NULL DEFAULT 'custom',
    cell      text NOT NULL CHECK (cell ~ '^[HL]{3}$'),
    name      text NOT NULL,
    action    text,
    owner     name NOT NULL DEFAULT current_user,
    PRIMARY KEY (rule_set, cell)
);
COMMENT ON TABLE customer_segment.value_grid_cells IS 'Names and actions of the 8 value grid cells (value, engagement, potential); ''standard'' is read-only';
COMMENT ON COLUMN customer_segment.value_grid_cells.rule_set IS 'Name of the naming scheme; copy ''standard'' to edit';
COMMENT ON COLUMN customer_segment.value_grid_cells.cell IS 'H/L for current value, engagement, potential';
COMMENT ON COLUMN customer_segment.value_grid_cells.name IS 'Cell name';
COMMENT ON COLUMN customer_segment.value_grid_cells.action IS 'Recommended action';
COMMENT ON COLUMN customer_segment.value_grid_cells.owner IS 'Role that may edit the naming scheme (every row of a scheme has one owner); default: who inserted it';
INSERT INTO customer_segment.value_grid_cells (rule_set, cell, name, action) VALUES
('standard', 'HHH', 'Stars',               'Invest: VIP treatment, premium cross-sell'),
('standard', 'HHL', 'Cash cows',           'Retain efficiently: loyalty rewards, keep service excellent'),
('standard', 'HLH', 'Drifting potential',  'Re-engage now: personal outreach before value leaks'),
('standard', 'HLL', 'Fading valuables',    'Win-back offer, then maintain at low cost'),
('standard', 'LHH', 'Rising stars',        'Nurture: upsell path, onboarding to premium'),
('standard', 'LHL', 'Engaged low spenders','Low-cost engagement: bundles and community'),
('standard', 'LLH', 'Untapped',            'Targeted activation campaigns'),
('standard', 'LLL', 'Low priority',        'Automated low-cost contact only');
CREATE TRIGGER protect_standard_rules
    BEFORE INSERT OR UPDATE OR DELETE ON customer_segment.value_grid_cells
    FOR EACH ROW EXECUTE FUNCTION customer_segment.protect_standard_rules();
CREATE TRIGGER protect_standard_rules_truncate
    BEFORE TRUNCATE ON customer_segment.value_grid_cells
    FOR EACH STATEMENT EXECUTE FUNCTION customer_segment.protect_standard_rules();
SELECT pg_catalog.pg_extension_config_dump('customer_segment.value_grid_cells', 'WHERE rule_set <> ''standard''');

-- ---------------------------------------------------------------- lifecycle
CREATE FUNCTION customer_segment.lifecycle_stage(first_order date, last_order date, orders bigint, as_of date,
    new_days integer DEFAULT 90, churn_days integer DEFAULT 365, at_risk_factor float8 DEFAULT 2.0,
    default_gap_days float8 DEFAULT 90, reactivated_on date DEFAULT NULL, p_alive float8 DEFAULT NULL,
    p_alive_threshold float8 DEFAULT 0.5)
RETURNS text AS 'MODULE_PATHNAME', 'lifecycle_stage_sql' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.lifecycle_stage(date, date, bigint, date, integer, integer, float8, float8, date, float8, float8) IS
    'prospect | lapsed | new | reactivated | at risk | active, in that precedence (see README)';

CREATE FUNCTION customer_segment.last_reactivation(activity varbit, first_purchase date, churn_days integer DEFAULT 365)
RETURNS date AS 'MODULE_PATHNAME', 'last_reactivation_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.last_reactivation(varbit, date, integer) IS
    'Day of the last purchase made more than churn_days after the previous one (a return after a lapse), from purchase_activity(..., ''day''); NULL if none';

-- ---------------------------------------------------------------- migrations
CREATE FUNCTION customer_segment.migration_matrix(previous regclass, current regclass,
    customer_column name DEFAULT 'customer_id', state_column name DEFAULT 'segment', value_column name DEFAULT NULL)
RETURNS TABLE (from_state text, to_state text, customers bigint, value numeric, share_of_from float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    value_expr text := 'NULL::numeric';
BEGIN
    IF previous IS NULL OR current IS NULL OR customer_column IS NULL OR state_column IS NULL THEN
        RAISE EXCEPTION 'migration_matrix snapshots and column names must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF value_column IS NOT NULL THEN
        value_expr := format('(%s)::numeric', customer_segment.number_sql(current, value_column, 'c'));
    END IF;
    -- Keys and states through safe_key_sql: no cast or operator of the snapshots' owners runs.
    RETURN QUERY EXECUTE format($q$
        SELECT coalesce(%3$s::text, '(none)'), coalesce(%4$s::text, '(none)'), count(*), sum(%7$s),
               count(*)::float8 / sum(count(*)) OVER (PARTITION BY coalesce(%3$s::text, '(none)'))
          FROM %5$s p FULL JOIN %6$s c ON %2$s = %1$s
         GROUP BY 1, 2 ORDER BY 1, 2
    $q$, customer_segment.safe_key_sql(previous, customer_column, 'p'), customer_segment.safe_key_sql(current, customer_column, 'c'),
         customer_segment.safe_key_sql(previous, state_column, 'p'), customer_segment.safe_key_sql(current, state_column, 'c'),
         previous, current, value_expr);
END
$$;
COMMENT ON FUNCTION customer_segment.migration_matrix(regclass, regclass, name, name, name) IS
    'From -> to counts between two snapshots (customers missing on one side appear as (none)), the value of the current snapshot and the share of each from-state';
-- "Buy till you die": BG/NBD and Gamma-Gamma fitted as aggregates, predictions per customer.

CREATE TYPE customer_segment.bgnbd_model AS (
    r float8, alpha float8, a float8, b float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.bgnbd_model IS
    'Fitted BG/NBD model: purchase rate ~ Gamma(r, alpha), dropout probability ~ Beta(a, b); alpha in the time unit of recency and T';
CREATE TYPE customer_segment.pareto_nbd_model AS (
    r float8, alpha float8, s float8, beta float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.pareto_nbd_model IS
    'Fitted Pareto/NBD model: purchase rate ~ Gamma(r, alpha), dropout rate ~ Gamma(s, beta); alpha and beta in the time unit of recency and T';
CREATE TYPE customer_segment.gamma_gamma_model AS (
    p float8, q float8, gamma float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.gamma_gamma_model IS 'Fitted Gamma-Gamma spend model (shape p, q, scale gamma)';

SELECT customer_segment.install_state_type('btyd_fit_state',
    'State of the BTYD fits: the penalizer, the rows skipped and the weighted distinct rows (frequency, recency, T) '
    'or (frequency, monetary_value)');
CREATE FUNCTION customer_segment.btyd_fit_combine(customer_segment.btyd_fit_state, customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.bgnbd_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.pareto_nbd_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.gamma_gamma_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

SELECT customer_segment.install_aggregate(v.agg, ARRAY[v.sig], v.c_trans, v.c_trans, v.final, 'btyd_fit_combine',
                                          NULL, NULL, 'IMMUTABLE', v.comment, 'btyd_fit_state')
  FROM (VALUES
    ('bgnbd_fit', 'frequency float8, recency float8, t float8', 'bgnbd_fit_trans', 'bgnbd_fit_final',
     'Maximum-likelihood BG/NBD fit over per-customer (frequency, recency, T); state holds weighted distinct triples'),
    ('bgnbd_fit', 'frequency float8, recency float8, t float8, penalizer float8', 'bgnbd_fit_trans', 'bgnbd_fit_final',
     'BG/NBD fit with an L2 penalty penalizer * sum(params^2) on the mean negative log-likelihood (as lifetimes)'),
    ('pareto_nbd_fit', 'frequency float8, recency float8, t float8', 'bgnbd_fit_trans', 'pnbd_fit_final',
     'Maximum-likelihood Pareto/NBD fit over per-customer (frequency, recency, T), likelihood in log space with both 2F1 branches'),
    ('pareto_nbd_fit', 'frequency float8, recency float8, t float8, penalizer float8', 'bgnbd_fit_trans', 'pnbd_fit_final',
     'Pareto/NBD fit with an L2 penalty on the mean negative log-likelihood'),
    ('gamma_gamma_fit', 'frequency float8, monetary_value float8', 'gg_fit_trans', 'gg_fit_final',
     'Maximum-likelihood Gamma-Gamma fit over customers with frequency > 0 (others are skipped)'),
    ('gamma_gamma_fit', 'frequency float8, monetary_value float8, penalizer float8', 'gg_fit_trans', 'gg_fit_final',
     'Gamma-Gamma fit with an L2 penalty on the mean negative log-likelihood')) v(agg, sig, c_trans, final, comment);

CREATE FUNCTION customer_segment.bgnbd_p_alive(model customer_segment.bgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_p_alive(customer_segment.bgnbd_model, float8, float8, float8) IS
    'Probability the customer is still alive: 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))';
CREATE FUNCTION customer_segment.bgnbd_expected_purchases(model customer_segment.bgnbd_model, horizon float8,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_expected_purchases(customer_segment.bgnbd_model, float8, float8, float8, float8) IS
    'Expected purchases in the next horizon time units of a customer with history (frequency, recency, T)';
CREATE FUNCTION customer_segment.bgnbd_expected_purchases_new(model customer_segment.bgnbd_model, horizon float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_expected_purchases_new(customer_segment.bgnbd_model, float8) IS
    'Expected repeat purchases in horizon time units of a newly acquired customer';
CREATE FUNCTION customer_segment.bgnbd_probability_purchases(model customer_segment.bgnbd_model, horizon float8, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_probability_purchases(customer_segment.bgnbd_model, float8, bigint) IS
    'P(X(horizon) = n): probability a newly acquired customer makes exactly n repeat purchases in horizon time units';
CREATE FUNCTION customer_segment.bgnbd_probability_purchases(model customer_segment.bgnbd_model, horizon float8, n bigint,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_pmf_conditional_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_probability_purchases(customer_segment.bgnbd_model, float8, bigint, float8, float8, float8) IS
    'P(n purchases in the next horizon units | frequency, recency, T) = [n = 0] (1 - P(alive)) + P(alive) * P_new(n) under the posterior (r + x, alpha + T, a, b + x)';
CREATE FUNCTION customer_segment.bgnbd_loglik(model customer_segment.bgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_loglik(customer_segment.bgnbd_model, float8, float8, float8) IS
    'Log-likelihood of one customer under the model';
CREATE FUNCTION customer_segment.gamma_gamma_expected_spend(model customer_segment.gamma_gamma_model,
    frequency float8, monetary_value float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'gg_expected_spend_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.gamma_gamma_expected_spend(customer_segment.gamma_gamma_model, float8, float8) IS
    'Conditional expected spend per purchase: p (gamma + x m) / (p x + q - 1); the population mean gamma p / (q - 1) when x = 0';
CREATE FUNCTION customer_segment.gamma_gamma_loglik(model customer_segment.gamma_gamma_model, frequency float8, monetary_value float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'gg_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.gamma_gamma_loglik(customer_segment.gamma_gamma_model, float8, float8) IS
    'Log-likelihood of one repeat customer under the Gamma-Gamma model';
CREATE FUNCTION customer_segment.bgnbd_clv(model customer_segment.bgnbd_model, frequency float8, recency float8, t float8,
    spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgnbd_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgnbd_clv(customer_segment.bgnbd_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month';

CREATE FUNCTION customer_segment.pareto_nbd_p_alive(model customer_segment.pareto_nbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_p_alive(customer_segment.pareto_nbd_model, float8, float8, float8) IS
    'Pareto/NBD probability the customer is still alive';
CREATE FUNCTION customer_segment.pareto_nbd_expected_purchases(model customer_segment.pareto_nbd_model, horizon float8,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_expected_purchases(customer_segment.pareto_nbd_model, float8, float8, float8, float8) IS
    'Pareto/NBD expected purchases in the next horizon time units: (r+x)(beta+T)/((alpha+T)(s-1)) (1 - ((beta+T)/(beta+T+t))^(s-1)) P(alive); log((beta+T+t)/(beta+T)) replaces the bracket over s-1 at s = 1';
CREATE FUNCTION customer_segment.pareto_nbd_loglik(model customer_segment.pareto_nbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_loglik(customer_segment.pareto_nbd_model, float8, float8, float8) IS
    'Log-likelihood of one customer under the Pareto/NBD model';

CREATE FUNCTION customer_segment.pareto_nbd_expected_purchases_new(model customer_segment.pareto_nbd_model, horizon float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_expected_purchases_new(customer_segment.pareto_nbd_model, float8) IS
    'Expected repeat purchases in horizon time units of a newly acquired customer: r beta / (alpha (s-1)) (1 - (beta/(beta+t))^(s-1)); r beta/alpha log(1 + t/beta) at s = 1';

CREATE FUNCTION customer_segment.pareto_nbd_probability_purchases(model customer_segment.pareto_nbd_model,
    horizon float8, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_probability_purchases(customer_segment.pareto_nbd_model, float8, bigint) IS
    'P(X(horizon) = n): probability a newly acquired customer makes exactly n repeat purchases in horizon time units';

CREATE FUNCTION customer_segment.pareto_nbd_probability_purchases(model customer_segment.pareto_nbd_model,
    horizon float8, n bigint, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_probability_purchases(customer_segment.pareto_nbd_model, float8, bigint, float8, float8, float8) IS
    'P(n purchases in the next horizon units | frequency, recency, T) under the Pareto/NBD model (Fader & Hardie, note 028, eq. 16)';

CREATE FUNCTION customer_segment.pareto_nbd_clv(model customer_segment.pareto_nbd_model, frequency float8,
    recency float8, t float8, spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'pnbd_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.pareto_nbd_clv(customer_segment.pareto_nbd_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months under Pareto/NBD: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month';

-- Fit both models on an orders table and score every customer in one call.
-- The per-customer predictions of btyd_analyze and of a source's customers view: one definition, from the
-- BG/NBD model or, when it is NULL, the Pareto/NBD one.  A standard-SQL body, so it is parsed once here and
-- inlined into the queries that call it.
CREATE FUNCTION customer_segment.btyd_predict(bg customer_segment.bgnbd_model, pn customer_segment.pareto_nbd_model,
    gg customer_segment.gamma_gamma_model, frequency float8, recency float8, t float8, monetary_value float8,
    horizon float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01, periods_per_month float8 DEFAULT 30,
    margin float8 DEFAULT 1)
RETURNS TABLE (p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(customer_segment.bgnbd_p_alive(bg, frequency, recency, t),
                    customer_segment.pareto_nbd_p_alive(pn, frequency, recency, t)),
           coalesce(customer_segment.bgnbd_expected_purchases(bg, horizon, frequency, recency, t),
                    customer_segment.pareto_nbd_expected_purchases(pn, horizon, frequency, recency, t)),
           e.spend,
           coalesce(customer_segment.bgnbd_clv(bg, frequency, recency, t, e.spend, months, monthly_discount, periods_per_month, margin),
                    customer_segment.pareto_nbd_clv(pn, frequency, recency, t, e.spend, months, monthly_discount, periods_per_month, margin))
      FROM (SELECT CASE WHEN (gg).q OPERATOR(pg_catalog.>) 1
                        THEN customer_segment.gamma_gamma_expected_spend(gg, frequency, pg_catalog.float8larger(monetary_value, 0)) END AS spend) e;
END;
COMMENT ON FUNCTION customer_segment.btyd_predict(customer_segment.bgnbd_model, customer_segment.pareto_nbd_model, customer_segment.gamma_gamma_model, float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'P(alive), expected purchases in horizon, expected spend (Gamma-Gamma; NULL when its q <= 1 leaves the mean spend undefined) and CLV '
    'of one customer from a BG/NBD model, or the Pareto/NBD one when that is NULL; NULLs for NULL models';

CREATE FUNCTION customer_segment.btyd_analyze(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, horizon float8 DEFAULT 12, unit text DEFAULT 'week',
    margin float8 DEFAULT 1, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    penalizer float8 DEFAULT 0, zone text DEFAULT NULL, model text DEFAULT 'bgnbd', covariates regclass DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency bigint, recency float8, t float8, monetary_value float8,
               p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    per_month float8;
    missing text;
BEGIN
    IF calibration_end IS NULL OR horizon IS NULL OR unit IS NULL OR margin IS NULL OR months IS NULL
       OR monthly_discount IS NULL OR penalizer IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'btyd_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF model NOT IN ('bgnbd', 'pareto_nbd', 'mbgnbd', 'bgbb') THEN
        RAISE EXCEPTION 'unknown purchase model "%"', model USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''bgnbd'', ''pareto_nbd'', ''mbgnbd'' or ''bgbb''; btyd_evaluate compares the first two on a holdout.';
    END IF;
    IF covariates IS NOT NULL THEN
        IF model NOT IN ('bgnbd', 'pareto_nbd') THEN
            RAISE EXCEPTION 'covariates are available for the bgnbd and pareto_nbd models, not %', model
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT string_agg(c.col, ', ') INTO missing
          FROM (VALUES ('customer_id', NULL), ('purchase_covariates', 'float8[]'), ('dropout_covariates', 'float8[]'),
                       ('spend_covariates', 'float8[]')) c(col, typ)
         WHERE NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = covariates AND a.attname = c.col AND a.attnum > 0
                             AND NOT a.attisdropped AND (c.typ IS NULL OR a.atttypid = 'float8[]'::regtype));
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'covariates relation % lacks %', covariates, missing USING ERRCODE = 'undefined_column',
                HINT = 'It needs customer_id and the float8[] columns purchase_covariates, dropout_covariates and spend_covariates (''{}'' for none).';
        END IF;
    END IF;
    per_month := CASE customer_segment.check_period(unit, 'unit') WHEN 'day' THEN 30 WHEN 'week' THEN 4.345 ELSE 1 END;
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT %1$s::text AS customer_id, (customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $2)).*
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), cv AS MATERIALIZED (    -- one row of covariates per customer (customers without one: no predictions)
            SELECT c.customer_id::text AS customer_id, c.purchase_covariates, c.dropout_covariates, c.spend_covariates
              FROM %5$s c WHERE c.customer_id IS NOT NULL
        ), hb AS MATERIALIZED (    -- BG/BB: histories of calendar periods of unit
            SELECT h.customer_id, h.frequency::float8 AS frequency, h.recency::float8 AS recency, h.n_periods::float8 AS n_periods
              FROM customer_segment.bgbb_summary($10, $11, $12, $13, $1, $2, $14) h WHERE $9 = 'bgbb'
        ), models AS (
            SELECT customer_segment.bgnbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'bgnbd' AND NOT $15) AS bg,
                   customer_segment.pareto_nbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'pareto_nbd' AND NOT $15) AS pn,
                   customer_segment.mbgnbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'mbgnbd') AS mb,
                   (SELECT customer_segment.bgbb_fit(hb.frequency, hb.recency, hb.n_periods) FROM hb WHERE $9 = 'bgbb') AS bb,
                   customer_segment.gamma_gamma_fit(s.frequency, s.monetary_value, $8)
                       FILTER (WHERE (s.frequency = 0 OR s.monetary_value > 0) AND NOT $15) AS gg,
                   customer_segment.bgnbd_covariate_fit(s.frequency, s.recency, s.t, cv.purchase_covariates, cv.dropout_covariates, $8)
                       FILTER (WHERE $9 = 'bgnbd' AND $15) AS bgc,
                   customer_segment.pareto_nbd_covariate_fit(s.frequency, s.recency, s.t, cv.purchase_covariates, cv.dropout_covariates, $8)
                       FILTER (WHERE $9 = 'pareto_nbd' AND $15) AS pnc,
                   customer_segment.gamma_gamma_covariate_fit(s.frequency, s.monetary_value, cv.spend_covariates, $8)
                       FILTER (WHERE (s.frequency = 0 OR s.monetary_value > 0) AND $15) AS ggc
              FROM s LEFT JOIN cv USING (customer_id) WHERE s.orders > 0
        )
        SELECT s.customer_id, coalesce(hb.frequency::bigint, s.frequency), coalesce(hb.recency, s.recency),
               coalesce(hb.n_periods, s.t), s.monetary_value,
               p.p_alive, p.expected_purchases, p.expected_spend, p.clv
          FROM s CROSS JOIN models m LEFT JOIN hb USING (customer_id) LEFT JOIN cv USING (customer_id)
               LEFT JOIN LATERAL (
                   SELECT * FROM customer_segment.btyd_predict(
                       CASE WHEN $15 THEN customer_segment.bgnbd_customer_model(m.bgc, cv.purchase_covariates, cv.dropout_covariates) ELSE m.bg END,
                       CASE WHEN $15 THEN customer_segment.pareto_nbd_customer_model(m.pnc, cv.purchase_covariates, cv.dropout_covariates) ELSE m.pn END,
                       CASE WHEN $15 THEN customer_segment.gamma_gamma_customer_model(m.ggc, cv.spend_covariates) ELSE m.gg END,
                       s.frequency, s.recency, s.t, s.monetary_value, $3, $5, $6, $7, $4) WHERE $9 IN ('bgnbd', 'pareto_nbd')
                   UNION ALL
                   SELECT * FROM customer_segment.btyd_predict_mbgnbd(m.mb, m.gg, s.frequency, s.recency, s.t,
                                                                      s.monetary_value, $3, $5, $6, $7, $4) WHERE $9 = 'mbgnbd'
                   UNION ALL   -- BG/BB: one period of unit is one opportunity; no history (a first purchase in the last, incomplete period): NULLs
                   SELECT * FROM customer_segment.btyd_predict_bgbb(m.bb, m.gg, hb.frequency, hb.recency, hb.n_periods,
                                                                    s.frequency, s.monetary_value, $3, $5, $6, $7, $4)
                    WHERE $9 = 'bgbb' AND hb.customer_id IS NOT NULL) p ON true
         WHERE s.orders > 0
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause,
         coalesce(covariates::text, '(SELECT NULL::text AS customer_id, NULL::float8[] AS purchase_covariates, NULL::float8[] AS dropout_covariates, NULL::float8[] AS spend_covariates WHERE false)'))
    USING calibration_end, unit, horizon, margin, months, monthly_discount, per_month, penalizer, model,
          source, customer_column, time_column, amount_column, zone, covariates IS NOT NULL;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text, text, regclass) IS
    'Summarises orders up to calibration_end (day purchases, a timestamptz on its date in zone or the session''s TimeZone when NULL, reported in unit), '
    'fits BG/NBD (or Pareto/NBD, MBG/NBD, or BG/BB on calendar periods of unit: model; BG/NBD and Pareto/NBD with the covariates relation''s '
    'per-customer covariates when given) and Gamma-Gamma, and returns per customer P(alive), expected purchases in horizon units, expected spend and discounted CLV '
    '(btyd_predict: spend and CLV NULL when the Gamma-Gamma q <= 1; NULL without a covariates row when covariates are given)';
-- MBG/NBD (Batislam, Denizel & Filiztekin 2007): the BG/NBD in which a customer may also drop out right after
-- the first purchase, so one with x repeat purchases has had x + 1 dropout chances (doc/btyd.md).  The same
-- inputs, state and fitting as bgnbd_fit; the model type has the same fields.  mbgnbd_fit_uncertainty is with
-- the other uncertainty aggregates (72_btyd_evaluation.sql).

CREATE TYPE customer_segment.mbgnbd_model AS (
    r float8, alpha float8, a float8, b float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.mbgnbd_model IS
    'Fitted MBG/NBD model: purchase rate ~ Gamma(r, alpha), dropout probability at the first purchase and after each repeat purchase ~ Beta(a, b); '
    'alpha in the time unit of recency and T';
CREATE FUNCTION customer_segment.mbgnbd_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.mbgnbd_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
SELECT customer_segment.install_aggregate('mbgnbd_fit',
    ARRAY['frequency float8, recency float8, t float8', 'frequency float8, recency float8, t float8, penalizer float8'],
    'bgnbd_fit_trans', 'bgnbd_fit_trans', 'mbgnbd_fit_final', 'btyd_fit_combine', NULL, NULL, 'IMMUTABLE',
    'Maximum-likelihood MBG/NBD fit over per-customer (frequency, recency, T), optionally with an L2 penalty penalizer * sum(params^2); state holds weighted distinct triples',
    'btyd_fit_state');

CREATE FUNCTION customer_segment.mbgnbd_p_alive(model customer_segment.mbgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_p_alive(customer_segment.mbgnbd_model, float8, float8, float8) IS
    'MBG/NBD probability the customer is still alive: 1 / (1 + a / (b + x) ((alpha + T) / (alpha + t_x))^(r + x)), below 1 also at x = 0';
CREATE FUNCTION customer_segment.mbgnbd_expected_purchases(model customer_segment.mbgnbd_model, horizon float8,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_expected_purchases(customer_segment.mbgnbd_model, float8, float8, float8, float8) IS
    'MBG/NBD expected purchases in the next horizon units given (frequency, recency, T): '
    '(a + b + x) / (a - 1) (1 - ((alpha + T) / (alpha + T + t))^(r + x) 2F1(r + x, b + x + 1; a + b + x; t / (alpha + T + t))) P(alive)';
CREATE FUNCTION customer_segment.mbgnbd_expected_purchases_new(model customer_segment.mbgnbd_model, horizon float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_expected_purchases_new(customer_segment.mbgnbd_model, float8) IS
    'MBG/NBD expected repeat purchases in horizon units of a newly acquired customer: b / (a - 1) (1 - (alpha / (alpha + t))^r 2F1(r, b + 1; a + b; t / (alpha + t)))';
CREATE FUNCTION customer_segment.mbgnbd_probability_purchases(model customer_segment.mbgnbd_model, horizon float8, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_probability_purchases(customer_segment.mbgnbd_model, float8, bigint) IS
    'MBG/NBD P(X(horizon) = n) for a newly acquired customer (who may drop out right after the first purchase)';
CREATE FUNCTION customer_segment.mbgnbd_probability_purchases(model customer_segment.mbgnbd_model, horizon float8, n bigint,
    frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_probability_purchases(customer_segment.mbgnbd_model, float8, bigint, float8, float8, float8) IS
    'MBG/NBD P(n purchases in the next horizon units | frequency, recency, T) = [n = 0] (1 - P(alive)) + P(alive) * BG/NBD P_new(n) under the posterior (r + x, alpha + T, a, b + x + 1)';
CREATE FUNCTION customer_segment.mbgnbd_loglik(model customer_segment.mbgnbd_model, frequency float8, recency float8, t float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_loglik(customer_segment.mbgnbd_model, float8, float8, float8) IS
    'Log-likelihood of one customer under the MBG/NBD model';
CREATE FUNCTION customer_segment.mbgnbd_clv(model customer_segment.mbgnbd_model, frequency float8, recency float8, t float8,
    spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'mbgnbd_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.mbgnbd_clv(customer_segment.mbgnbd_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months under MBG/NBD: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month';

-- btyd_predict for an MBG/NBD model: the same columns, the spend from btyd_predict's Gamma-Gamma rule.
CREATE FUNCTION customer_segment.btyd_predict_mbgnbd(mb customer_segment.mbgnbd_model, gg customer_segment.gamma_gamma_model,
    frequency float8, recency float8, t float8, monetary_value float8, horizon float8, months integer DEFAULT 12,
    monthly_discount float8 DEFAULT 0.01, periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1)
RETURNS TABLE (p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT customer_segment.mbgnbd_p_alive(mb, frequency, recency, t),
           customer_segment.mbgnbd_expected_purchases(mb, horizon, frequency, recency, t),
           p.expected_spend,
           customer_segment.mbgnbd_clv(mb, frequency, recency, t, p.expected_spend, months, monthly_discount, periods_per_month, margin)
      FROM customer_segment.btyd_predict(NULL, NULL, gg, frequency, recency, t, monetary_value, horizon, months,
                                         monthly_discount, periods_per_month, margin) p;
END;
COMMENT ON FUNCTION customer_segment.btyd_predict_mbgnbd(customer_segment.mbgnbd_model, customer_segment.gamma_gamma_model, float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'P(alive), expected purchases in horizon, expected spend (Gamma-Gamma, as btyd_predict) and CLV of one customer from an MBG/NBD model; NULLs for NULL models';
-- How good a BTYD forecast is: a calibration/holdout split of an orders table, the models fitted on the
-- calibration window and scored on the holdout (doc/btyd.md, "Holdout evaluation").

-- Days in one unit of recency and T (rfm_summary's units), and the checks of a calibration/holdout window.
CREATE FUNCTION customer_segment.unit_days(unit text)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE customer_segment.check_period(unit, 'unit') WHEN 'day' THEN 1 WHEN 'week' THEN 7 ELSE 30.436875 END::float8
$$;
COMMENT ON FUNCTION customer_segment.unit_days(text) IS 'Days in a day, week or month (30.436875) unit; 22023 for another';

CREATE FUNCTION customer_segment.check_holdout_window(calibration_end date, observation_end date, unit text)
RETURNS float8 LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF calibration_end IS NULL OR observation_end IS NULL OR unit IS NULL THEN
        RAISE EXCEPTION 'the calibration and holdout dates and the unit must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF observation_end <= calibration_end OR NOT isfinite(calibration_end) OR NOT isfinite(observation_end) THEN
        RAISE EXCEPTION 'observation_end must be a finite date after calibration_end' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got calibration_end %s, observation_end %s.', calibration_end, observation_end);
    END IF;
    RETURN customer_segment.unit_days(unit);
END
$$;
COMMENT ON FUNCTION customer_segment.check_holdout_window(date, date, text) IS
    'Raises 22004/22023 unless calibration_end < observation_end are finite and unit is day, week or month; returns the days per unit';

-- Per customer first seen by calibration_end: the calibration summary and what happened in the holdout, as
-- lifetimes' calibration_and_holdout_data (freq 'D') defines them.
CREATE FUNCTION customer_segment.btyd_holdout(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency_cal bigint, recency_cal float8, t_cal float8, monetary_value_cal float8,
               frequency_holdout bigint, monetary_value_holdout float8, duration_holdout float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    days_per_unit float8;
    t text;         -- the time as the aggregates take it
    t_zone text;    -- their zone argument
    cal_next text;  -- the first time after each window: a time before it is a day in the window
    obs_next text;
BEGIN
    days_per_unit := customer_segment.check_holdout_window(calibration_end, observation_end, unit);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    IF zone IS NOT NULL AND customer_segment.column_type(source, time_column) = 'timestamptz'::regtype THEN
        -- the raw timestamptz, the aggregates taking its day in zone themselves, and window ends as instants:
        -- the day expression would otherwise be computed once per use, five times a row
        t := format('o.%I', time_column);
        t_zone := format(', %L', zone);
        cal_next := format('(($1 + 1)::timestamp AT TIME ZONE %L)', zone);
        obs_next := format('(($2 + 1)::timestamp AT TIME ZONE %L)', zone);
    ELSE
        -- a day, or a timestamptz taken in the session's TimeZone as its ::date is
        t := src.time_expr;
        t_zone := '';
        cal_next := '($1 + 1)';
        obs_next := '($2 + 1)';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH per_customer AS (   -- one pass over the orders: both windows' summaries
            SELECT %1$s AS customer,
                   customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $3%5$s) FILTER (WHERE %2$s < %6$s) AS cal,
                   customer_segment.rfm_summary(%2$s, %3$s, $2, 'day', $3%5$s)
                       FILTER (WHERE %2$s >= %6$s AND %2$s < %7$s) AS hold
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY 1
        )
        SELECT p.customer::text, (p.cal).frequency, (p.cal).recency, (p.cal).t, (p.cal).monetary_value,
               coalesce((p.hold).purchase_days, 0), coalesce((p.hold).revenue / nullif((p.hold).purchase_days, 0), 0), ($2 - $1) / $4
          FROM per_customer p
         WHERE (p.cal).orders > 0
    $q$, src.customer_expr, t, src.amount_expr, src.from_clause, t_zone, cal_next, obs_next)
    USING calibration_end, observation_end, unit, days_per_unit;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_holdout(regclass, name, name, name, date, date, text, text) IS
    'Calibration/holdout split: per customer who bought by calibration_end, the calibration frequency, recency, T and monetary_value '
    '(rfm_summary, day periods, in unit) and the holdout purchase days, mean spend per purchase day and length (in unit)';

-- Both models fitted on the calibration window, and each customer's holdout forecast from them.
CREATE FUNCTION customer_segment.btyd_holdout_predictions(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency_cal bigint, recency_cal float8, t_cal float8, frequency_holdout bigint,
               duration_holdout float8, bgnbd_expected float8, pareto_nbd_expected float8,
               bgnbd_probability float8, pareto_nbd_probability float8,
               bgnbd customer_segment.bgnbd_model, pareto_nbd customer_segment.pareto_nbd_model)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH h AS MATERIALIZED (
        SELECT * FROM customer_segment.btyd_holdout(source, customer_column, time_column, amount_column,
                                                    calibration_end, observation_end, unit, zone)
    ), m AS (
        SELECT customer_segment.bgnbd_fit(h.frequency_cal, h.recency_cal, h.t_cal) AS bg,
               customer_segment.pareto_nbd_fit(h.frequency_cal, h.recency_cal, h.t_cal) AS pn
          FROM h
    )
    SELECT h.customer_id, h.frequency_cal, h.recency_cal, h.t_cal, h.frequency_holdout, h.duration_holdout,
           customer_segment.bgnbd_expected_purchases(m.bg, h.duration_holdout, h.frequency_cal, h.recency_cal, h.t_cal),
           customer_segment.pareto_nbd_expected_purchases(m.pn, h.duration_holdout, h.frequency_cal, h.recency_cal, h.t_cal),
           customer_segment.bgnbd_probability_purchases(m.bg, h.duration_holdout, h.frequency_holdout, h.frequency_cal, h.recency_cal, h.t_cal),
           customer_segment.pareto_nbd_probability_purchases(m.pn, h.duration_holdout, h.frequency_holdout, h.frequency_cal, h.recency_cal, h.t_cal),
           m.bg, m.pn
      FROM h, m
$$;
COMMENT ON FUNCTION customer_segment.btyd_holdout_predictions(regclass, name, name, name, date, date, text, text) IS
    'btyd_holdout with BG/NBD and Pareto/NBD fitted on the calibration window: each customer''s expected holdout purchases '
    'and the probability of the holdout purchases observed, by both models';

-- The metrics a user chooses a model by, one row per model.
CREATE FUNCTION customer_segment.btyd_evaluate(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (model text, customers bigint, actual_purchases bigint, predicted_purchases float8, total_error float8,
               mae float8, rmse float8, bias float8, holdout_log_likelihood float8, converged boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH p AS MATERIALIZED (
        SELECT * FROM customer_segment.btyd_holdout_predictions(source, customer_column, time_column, amount_column,
                                                                calibration_end, observation_end, unit, zone)
    ), mb AS (
        SELECT customer_segment.mbgnbd_fit(p.frequency_cal, p.recency_cal, p.t_cal) AS m FROM p
    ), per_model AS (
        SELECT 'bgnbd' AS model, p.frequency_holdout AS actual, p.bgnbd_expected AS predicted,
               p.bgnbd_probability AS probability, (p.bgnbd).converged AS converged FROM p
        UNION ALL
        SELECT 'pareto_nbd', p.frequency_holdout, p.pareto_nbd_expected, p.pareto_nbd_probability, (p.pareto_nbd).converged FROM p
        UNION ALL
        SELECT 'mbgnbd', p.frequency_holdout,
               customer_segment.mbgnbd_expected_purchases(mb.m, p.duration_holdout, p.frequency_cal, p.recency_cal, p.t_cal),
               customer_segment.mbgnbd_probability_purchases(mb.m, p.duration_holdout, p.frequency_holdout, p.frequency_cal, p.recency_cal, p.t_cal),
               (mb.m).converged
          FROM p, mb
    )
    SELECT x.model, count(*), sum(x.actual)::bigint, sum(x.predicted),
           (sum(x.predicted) - sum(x.actual)) / nullif(sum(x.actual), 0),
           avg(abs(x.predicted - x.actual)), sqrt(avg((x.predicted - x.actual) ^ 2)), avg(x.predicted - x.actual),
           CASE WHEN min(x.probability) > 0 THEN sum(ln(x.probability)) END, bool_and(x.converged)
      FROM per_model x GROUP BY x.model ORDER BY x.model
$$;
COMMENT ON FUNCTION customer_segment.btyd_evaluate(regclass, name, name, name, date, date, text, text) IS
    'Holdout metrics of BG/NBD, MBG/NBD and Pareto/NBD fitted on the calibration window: total purchases actual and predicted, '
    'relative total error, MAE, RMSE and bias per customer, and the holdout log-likelihood (NULL when a customer''s count has probability 0)';

-- Conditional expectations: holdout purchases, actual and predicted, by calibration repeat purchases (7 = 7+).
CREATE FUNCTION customer_segment.btyd_conditional_expectations(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (frequency_cal integer, customers bigint, actual float8, bgnbd float8, pareto_nbd float8)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT least(p.frequency_cal, 7)::integer, count(*), avg(p.frequency_holdout), avg(p.bgnbd_expected), avg(p.pareto_nbd_expected)
      FROM customer_segment.btyd_holdout_predictions(source, customer_column, time_column, amount_column,
                                                     calibration_end, observation_end, unit, zone) p
     GROUP BY 1 ORDER BY 1
$$;
COMMENT ON FUNCTION customer_segment.btyd_conditional_expectations(regclass, name, name, name, date, date, text, text) IS
    'Mean holdout purchases per customer by calibration frequency (7 = 7 or more), actual and as BG/NBD and Pareto/NBD predict them';

-- Period transactions: customers by calibration repeat purchases (7 = 7+), actual and as each model expects
-- them for customers with the same T (the new-customer P(X(T) = x) summed over the customers).
CREATE FUNCTION customer_segment.btyd_period_transactions(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (frequency_cal integer, actual bigint, bgnbd float8, pareto_nbd float8)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH p AS MATERIALIZED (
        SELECT * FROM customer_segment.btyd_holdout_predictions(source, customer_column, time_column, amount_column,
                                                                calibration_end, observation_end, unit, zone)
    ), m AS (
        SELECT p.bgnbd AS bg, p.pareto_nbd AS pn FROM p LIMIT 1
    ), by_t AS (   -- customers sharing T share the expectation
        SELECT p.t_cal, count(*) AS customers FROM p GROUP BY 1
    ), expected AS (
        SELECT x, sum(b.customers * customer_segment.bgnbd_probability_purchases(m.bg, b.t_cal, x)) AS bg,
                  sum(b.customers * customer_segment.pareto_nbd_probability_purchases(m.pn, b.t_cal, x)) AS pn
          FROM by_t b, m, generate_series(0, 6) x GROUP BY x
    ), actual AS (
        SELECT least(p.frequency_cal, 7)::integer AS x, count(*) AS n FROM p GROUP BY 1
    )
    SELECT g.x, coalesce(a.n, 0),
           CASE WHEN g.x < 7 THEN e.bg ELSE (SELECT count(*) FROM p) - (SELECT sum(bg) FROM expected) END,
           CASE WHEN g.x < 7 THEN e.pn ELSE (SELECT count(*) FROM p) - (SELECT sum(pn) FROM expected) END
      FROM generate_series(0, 7) g(x) LEFT JOIN actual a ON a.x = g.x LEFT JOIN expected e ON e.x = g.x
     ORDER BY g.x
$$;
COMMENT ON FUNCTION customer_segment.btyd_period_transactions(regclass, name, name, name, date, date, text, text) IS
    'Customers by calibration repeat purchases 0..6 and 7+ (the last row), actual and expected by BG/NBD and Pareto/NBD for customers with the same T';

-- Tracking (Fader, Hardie & Lee 2005, figure 2): repeat purchase days per period over calibration and holdout,
-- actual and expected, of the customers acquired by calibration_end; cumulative and incremental.
CREATE FUNCTION customer_segment.btyd_tracking(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, observation_end date, unit text DEFAULT 'week', zone text DEFAULT NULL)
RETURNS TABLE (period integer, period_end date, holdout boolean, actual bigint, bgnbd float8, pareto_nbd float8,
               actual_cumulative bigint, bgnbd_cumulative float8, pareto_nbd_cumulative float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    step integer;
    days_per_unit float8;
BEGIN
    days_per_unit := customer_segment.check_holdout_window(calibration_end, observation_end, unit);
    step := CASE unit WHEN 'day' THEN 1 WHEN 'week' THEN 7 ELSE 0 END;   -- months step by calendar month
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH p AS MATERIALIZED (
            SELECT * FROM customer_segment.btyd_holdout_predictions($7, $8, $9, $10, $1, $2, $3, $4)
        ), m AS (
            SELECT p.bgnbd AS bg, p.pareto_nbd AS pn FROM p LIMIT 1
        ), days AS MATERIALIZED (   -- purchase days of the customers in p, up to observation_end
            SELECT DISTINCT %1$s::text AS customer_id, (%2$s)::date AS day
              FROM %4$s WHERE %1$s IS NOT NULL AND %3$s >= 0 AND (%2$s)::date <= $2
        ), firsts AS (
            SELECT d.customer_id, min(d.day) AS first_day FROM days d
             WHERE d.customer_id IN (SELECT p.customer_id FROM p) GROUP BY 1
        ), ends AS (        -- period k runs from start + (k - 1) steps to the day before start + k steps (or observation_end)
            SELECT k, b.period_start, least(CASE WHEN $5 > 0 THEN s.start + k * $5
                                                 ELSE (s.start + make_interval(months => k))::date END - 1, $2) AS period_end
              FROM (SELECT min(first_day) AS start FROM firsts) s, generate_series(1, 100000) k,
                   LATERAL (SELECT CASE WHEN $5 > 0 THEN s.start + (k - 1) * $5
                                        ELSE (s.start + make_interval(months => k - 1))::date END AS period_start) b
             WHERE b.period_start <= $2
        ), by_first AS (
            SELECT first_day, count(*) AS customers FROM firsts GROUP BY 1
        ), expected AS (
            SELECT e.k,
                   sum(b.customers * customer_segment.bgnbd_expected_purchases_new(m.bg, (e.period_end - b.first_day + 1) / $6)) AS bg,
                   sum(b.customers * customer_segment.pareto_nbd_expected_purchases_new(m.pn, (e.period_end - b.first_day + 1) / $6)) AS pn
              FROM ends e, by_first b, m WHERE b.first_day <= e.period_end GROUP BY e.k
        ), actual AS (      -- repeat purchase days (after each customer's first) by period
            SELECT width_bucket(d.day, s.starts) AS k, count(*) AS n
              FROM days d JOIN firsts f USING (customer_id), (SELECT array_agg(period_start ORDER BY k) AS starts FROM ends) s
             WHERE d.day > f.first_day GROUP BY 1
        )
        SELECT e.k::integer, e.period_end, e.period_end > $1,
               coalesce(a.n, 0), coalesce(x.bg, 0) - coalesce(lag(x.bg) OVER w, 0),
               coalesce(x.pn, 0) - coalesce(lag(x.pn) OVER w, 0),
               (sum(coalesce(a.n, 0)) OVER w)::bigint, coalesce(x.bg, 0), coalesce(x.pn, 0)
          FROM ends e LEFT JOIN actual a USING (k) LEFT JOIN expected x USING (k)
        WINDOW w AS (ORDER BY e.k)
         ORDER BY e.k
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING calibration_end, observation_end, unit, zone, step, days_per_unit, source, customer_column, time_column, amount_column;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_tracking(regclass, name, name, name, date, date, text, text) IS
    'Repeat purchase days per period (unit; periods from the first purchase day) of the customers acquired by calibration_end, '
    'actual and expected by BG/NBD and Pareto/NBD fitted on the calibration window, incremental and cumulative, through the holdout';

-- Heat maps: expected purchases in horizon and P(alive) over a grid of frequency (0..max_frequency) and
-- recency (0..t in recency_steps equal steps) for customers observed for t, as each model predicts them.
CREATE FUNCTION customer_segment.btyd_frequency_recency_matrix(bgnbd customer_segment.bgnbd_model,
    pareto_nbd customer_segment.pareto_nbd_model, t float8, horizon float8, max_frequency integer DEFAULT 20,
    recency_steps integer DEFAULT 20)
RETURNS TABLE (frequency integer, recency float8, bgnbd_expected float8, bgnbd_p_alive float8,
               pareto_nbd_expected float8, pareto_nbd_p_alive float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF t IS NULL OR horizon IS NULL OR max_frequency IS NULL OR recency_steps IS NULL THEN
        RAISE EXCEPTION 'btyd_frequency_recency_matrix arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT (t > 0 AND t < 'Infinity') OR max_frequency NOT BETWEEN 0 AND 1000 OR recency_steps NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'btyd_frequency_recency_matrix needs 0 < t, max_frequency 0..1000 and recency_steps 1..1000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT f::integer, t * s / recency_steps,
           customer_segment.bgnbd_expected_purchases(bgnbd, horizon, f, t * s / recency_steps, t),
           customer_segment.bgnbd_p_alive(bgnbd, f, t * s / recency_steps, t),
           customer_segment.pareto_nbd_expected_purchases(pareto_nbd, horizon, f, t * s / recency_steps, t),
           customer_segment.pareto_nbd_p_alive(pareto_nbd, f, t * s / recency_steps, t)
      FROM generate_series(0, max_frequency) f, generate_series(0, recency_steps) s
     WHERE f > 0 OR s = 0      -- without a repeat purchase, recency is 0 by definition
     ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_frequency_recency_matrix(customer_segment.bgnbd_model, customer_segment.pareto_nbd_model, float8, float8, integer, integer) IS
    'Expected purchases in horizon and P(alive) by both models over a frequency x recency grid at observation length t (NULL model: NULL columns)';

-- The P(alive) history of one customer: at the end of every period from the first purchase to end_date,
-- P(alive) given the purchases up to then (the line of lifetimes' plot_history_alive).
CREATE FUNCTION customer_segment.btyd_p_alive_history(source regclass, customer_column name, time_column name,
    amount_column name, customer text, bgnbd customer_segment.bgnbd_model, end_date date, unit text DEFAULT 'week',
    zone text DEFAULT NULL)
RETURNS TABLE (day date, frequency bigint, recency float8, t float8, p_alive float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    days_per_unit float8;
BEGIN
    IF customer IS NULL OR bgnbd IS NULL OR end_date IS NULL OR unit IS NULL THEN
        RAISE EXCEPTION 'btyd_p_alive_history arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT isfinite(end_date) THEN
        RAISE EXCEPTION 'btyd_p_alive_history end_date must be finite' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', end_date);
    END IF;
    days_per_unit := customer_segment.unit_days(unit);
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH d AS MATERIALIZED (
            SELECT DISTINCT (%2$s)::date AS day FROM %4$s
             WHERE %1$s::text = $1 AND %3$s >= 0 AND (%2$s)::date <= $2
        ), first AS (
            SELECT min(d.day) AS first_day FROM d
        )
        SELECT g.day::date, x.n - 1, (x.last - f.first_day) / $3, (g.day::date - f.first_day) / $3,
               customer_segment.bgnbd_p_alive($4, x.n - 1, (x.last - f.first_day) / $3, (g.day::date - f.first_day) / $3)
          FROM first f, generate_series(f.first_day, $2, make_interval(days => $3::int)) g(day),
               LATERAL (SELECT count(*) AS n, max(d.day) AS last FROM d WHERE d.day <= g.day) x
         WHERE f.first_day IS NOT NULL
         ORDER BY 1
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING customer, end_date, days_per_unit, bgnbd;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_p_alive_history(regclass, name, name, name, text, customer_segment.bgnbd_model, date, text, text) IS
    'BG/NBD P(alive) of one customer at every period (unit) from the first purchase to end_date, given the purchase days up to then';

-- Parameter uncertainty: the fits again, with standard errors from the observed information.
CREATE TYPE customer_segment.btyd_uncertainty AS (
    parameter text[], estimate float8[], standard_error float8[], lower_95 float8[], upper_95 float8[],
    covariance float8[], log_likelihood float8, customers bigint, converged boolean);
COMMENT ON TYPE customer_segment.btyd_uncertainty IS
    'A BTYD fit with its uncertainty: per parameter the estimate, standard error (observed information, delta method) '
    'and 95% interval (on the log scale, so it stays positive), the covariance matrix of the parameters';
CREATE FUNCTION customer_segment.bgnbd_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.mbgnbd_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
SELECT customer_segment.install_aggregate(v.agg, v.sigs, v.c_trans, v.c_trans, v.final, 'btyd_fit_combine',
                                          NULL, NULL, 'IMMUTABLE', v.comment, 'btyd_fit_state')
  FROM (VALUES
    ('bgnbd_fit_uncertainty', ARRAY['frequency float8, recency float8, t float8', 'frequency float8, recency float8, t float8, penalizer float8'],
     'bgnbd_fit_trans', 'bgnbd_uncertainty_final',
     'bgnbd_fit with standard errors and 95% intervals of r, alpha, a, b from the observed information at the maximum'),
    ('pareto_nbd_fit_uncertainty', ARRAY['frequency float8, recency float8, t float8', 'frequency float8, recency float8, t float8, penalizer float8'],
     'bgnbd_fit_trans', 'pnbd_uncertainty_final',
     'pareto_nbd_fit with standard errors and 95% intervals of r, alpha, s, beta from the observed information at the maximum'),
    ('mbgnbd_fit_uncertainty', ARRAY['frequency float8, recency float8, t float8', 'frequency float8, recency float8, t float8, penalizer float8'],
     'bgnbd_fit_trans', 'mbgnbd_uncertainty_final',
     'mbgnbd_fit with standard errors and 95% intervals of r, alpha, a, b from the observed information at the maximum'),
    ('gamma_gamma_fit_uncertainty', ARRAY['frequency float8, monetary_value float8', 'frequency float8, monetary_value float8, penalizer float8'],
     'gg_fit_trans', 'gg_uncertainty_final',
     'gamma_gamma_fit with standard errors and 95% intervals of p, q, gamma from the observed information at the maximum')
  ) v(agg, sigs, c_trans, final, comment);

-- Intervals from the parameter uncertainty (delta method).  One quantity of a customer as a function of the
-- purchase model's parameters p (r, alpha, a, b or r, alpha, s, beta) and, for CLV, the Gamma-Gamma ones g
-- (p, q, gamma): what btyd_interval differentiates.
CREATE FUNCTION customer_segment.btyd_quantity(quantity text, p float8[], g float8[], horizon float8, frequency float8,
    recency float8, t float8, monetary_value float8, months integer, monthly_discount float8, periods_per_month float8,
    margin float8)
RETURNS float8 LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE quantity
        WHEN 'bgnbd_expected' THEN customer_segment.bgnbd_expected_purchases(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), horizon, frequency, recency, t)
        WHEN 'pareto_nbd_expected' THEN customer_segment.pareto_nbd_expected_purchases(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), horizon, frequency, recency, t)
        WHEN 'bgnbd_clv' THEN customer_segment.bgnbd_clv(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), frequency, recency, t,
            customer_segment.gamma_gamma_expected_spend(ROW(g[1], g[2], g[3], NULL, NULL, NULL, NULL, NULL), frequency, monetary_value),
            months, monthly_discount, periods_per_month, margin)
        WHEN 'pareto_nbd_clv' THEN customer_segment.pareto_nbd_clv(
            ROW(p[1], p[2], p[3], p[4], NULL, NULL, NULL, NULL, NULL), frequency, recency, t,
            customer_segment.gamma_gamma_expected_spend(ROW(g[1], g[2], g[3], NULL, NULL, NULL, NULL, NULL), frequency, monetary_value),
            months, monthly_discount, periods_per_month, margin)
    END
$$;
COMMENT ON FUNCTION customer_segment.btyd_quantity(text, float8[], float8[], float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'bgnbd_expected, pareto_nbd_expected, bgnbd_clv or pareto_nbd_clv (Gamma-Gamma spend) of one customer at the parameters p (and g): what btyd_interval differentiates';

-- The estimate at the fitted parameters, the gradient by central differences (step 1e-6 of each parameter),
-- variance g' C g summed over the purchase model and, for CLV, the spend model (two separate fits: their
-- estimates are taken as uncorrelated), and estimate +- 1.96 sd floored at 0.  NULL without a covariance.
CREATE FUNCTION customer_segment.btyd_interval(quantity text, p float8[], p_covariance float8[], g float8[],
    g_covariance float8[], horizon float8, frequency float8, recency float8, t float8, monetary_value float8,
    months integer, monthly_discount float8, periods_per_month float8, margin float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    params float8[];
    cov float8[];
    grad float8[];
    up float8[];
    down float8[];
    h float8;
    v float8 := 0;
BEGIN
    IF p IS NULL OR p_covariance IS NULL OR array_position(p, NULL) IS NOT NULL
       OR (quantity LIKE '%clv' AND (g IS NULL OR g_covariance IS NULL OR array_position(g, NULL) IS NOT NULL)) THEN
        RETURN;   -- no model or no covariance (the fit's information was not positive definite)
    END IF;
    estimate := customer_segment.btyd_quantity(quantity, p, g, horizon, frequency, recency, t, monetary_value,
                                               months, monthly_discount, periods_per_month, margin);
    -- the purchase model's parameters (set 1), then for CLV the spend model's (set 2)
    FOR k IN 1..CASE WHEN quantity LIKE '%clv' THEN 2 ELSE 1 END LOOP
        params := CASE k WHEN 1 THEN p ELSE g END;
        cov := CASE k WHEN 1 THEN p_covariance ELSE g_covariance END;
        grad := '{}';
        FOR i IN 1..cardinality(params) LOOP
            h := 1e-6 * params[i];
            up := params;
            down := params;
            up[i] := params[i] + h;
            down[i] := params[i] - h;
            grad[i] := (customer_segment.btyd_quantity(quantity, CASE k WHEN 1 THEN up ELSE p END, CASE k WHEN 2 THEN up ELSE g END,
                            horizon, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)
                      - customer_segment.btyd_quantity(quantity, CASE k WHEN 1 THEN down ELSE p END, CASE k WHEN 2 THEN down ELSE g END,
                            horizon, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)) / (2 * h);
        END LOOP;
        FOR i IN 1..cardinality(params) LOOP
            FOR j IN 1..cardinality(params) LOOP
                v := v + grad[i] * cov[i][j] * grad[j];
            END LOOP;
        END LOOP;
    END LOOP;
    lower_95 := greatest(estimate - 1.959963984540054 * sqrt(greatest(v, 0)), 0);
    upper_95 := estimate + 1.959963984540054 * sqrt(greatest(v, 0));
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_interval(text, float8[], float8[], float8[], float8[], float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Delta-method 95% interval of a btyd_quantity: central-difference gradient, variance over the purchase model''s covariance '
    'plus, for CLV, the spend model''s (fits taken as uncorrelated), estimate +- 1.96 sd floored at 0';

-- A customer's expected purchases and CLV with 95% intervals from the parameter uncertainty.
CREATE FUNCTION customer_segment.bgnbd_expected_purchases_interval(model customer_segment.bgnbd_model,
    uncertainty customer_segment.btyd_uncertainty, horizon float8, frequency float8, recency float8, t float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('bgnbd_expected', ARRAY[model.r, model.alpha, model.a, model.b],
        uncertainty.covariance, NULL, NULL, horizon, frequency, recency, t, NULL, NULL, NULL, NULL, NULL)
$$;
COMMENT ON FUNCTION customer_segment.bgnbd_expected_purchases_interval(customer_segment.bgnbd_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8) IS
    'bgnbd_expected_purchases with a 95% interval from the parameter uncertainty of bgnbd_fit_uncertainty (delta method, floored at 0)';

CREATE FUNCTION customer_segment.pareto_nbd_expected_purchases_interval(model customer_segment.pareto_nbd_model,
    uncertainty customer_segment.btyd_uncertainty, horizon float8, frequency float8, recency float8, t float8,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('pareto_nbd_expected', ARRAY[model.r, model.alpha, model.s, model.beta],
        uncertainty.covariance, NULL, NULL, horizon, frequency, recency, t, NULL, NULL, NULL, NULL, NULL)
$$;
COMMENT ON FUNCTION customer_segment.pareto_nbd_expected_purchases_interval(customer_segment.pareto_nbd_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8) IS
    'pareto_nbd_expected_purchases with a 95% interval from the parameter uncertainty of pareto_nbd_fit_uncertainty (delta method, floored at 0)';

CREATE FUNCTION customer_segment.bgnbd_clv_interval(model customer_segment.bgnbd_model,
    uncertainty customer_segment.btyd_uncertainty, spend_model customer_segment.gamma_gamma_model,
    spend_uncertainty customer_segment.btyd_uncertainty, frequency float8, recency float8, t float8,
    monetary_value float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('bgnbd_clv', ARRAY[model.r, model.alpha, model.a, model.b],
        uncertainty.covariance, ARRAY[spend_model.p, spend_model.q, spend_model.gamma], spend_uncertainty.covariance,
        NULL, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)
$$;
COMMENT ON FUNCTION customer_segment.bgnbd_clv_interval(customer_segment.bgnbd_model, customer_segment.btyd_uncertainty, customer_segment.gamma_gamma_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'bgnbd_clv with Gamma-Gamma expected spend, and a 95% interval from the uncertainty of both fits (delta method, fits taken as uncorrelated, floored at 0)';

CREATE FUNCTION customer_segment.pareto_nbd_clv_interval(model customer_segment.pareto_nbd_model,
    uncertainty customer_segment.btyd_uncertainty, spend_model customer_segment.gamma_gamma_model,
    spend_uncertainty customer_segment.btyd_uncertainty, frequency float8, recency float8, t float8,
    monetary_value float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 30, margin float8 DEFAULT 1,
    OUT estimate float8, OUT lower_95 float8, OUT upper_95 float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT * FROM customer_segment.btyd_interval('pareto_nbd_clv', ARRAY[model.r, model.alpha, model.s, model.beta],
        uncertainty.covariance, ARRAY[spend_model.p, spend_model.q, spend_model.gamma], spend_uncertainty.covariance,
        NULL, frequency, recency, t, monetary_value, months, monthly_discount, periods_per_month, margin)
$$;
COMMENT ON FUNCTION customer_segment.pareto_nbd_clv_interval(customer_segment.pareto_nbd_model, customer_segment.btyd_uncertainty, customer_segment.gamma_gamma_model, customer_segment.btyd_uncertainty, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'pareto_nbd_clv with Gamma-Gamma expected spend, and a 95% interval from the uncertainty of both fits (delta method, fits taken as uncorrelated, floored at 0)';
-- BG/NBD, Pareto/NBD and Gamma-Gamma with time-invariant customer covariates (doc/btyd.md, "Covariates"): a
-- customer's covariates scale the plain model's parameters by exp(coefficients . covariates),
--   BG/NBD      alpha_i = alpha exp(-g_p . z_p), a_i = a exp(g_a . z_d), b_i = b exp(g_b . z_d)
--   Pareto/NBD  alpha_i = alpha exp(-g_p . z_p), beta_i = beta exp(-g_d . z_d)
--   Gamma-Gamma gamma_i = gamma exp(g . z)
-- and every prediction of the plain model holds for the customer with those parameters: *_customer_model gives
-- them as the plain model type.

CREATE TYPE customer_segment.bgnbd_covariate_model AS (
    r float8, alpha float8, a float8, b float8,
    purchase_coefficients float8[], dropout_coefficients_a float8[], dropout_coefficients_b float8[],
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.bgnbd_covariate_model IS
    'Fitted BG/NBD model with covariates: a customer''s purchase rate ~ Gamma(r, alpha exp(-purchase_coefficients . purchase_covariates)), '
    'dropout probability ~ Beta(a exp(dropout_coefficients_a . dropout_covariates), b exp(dropout_coefficients_b . dropout_covariates)); '
    'bgnbd_customer_model gives a customer''s bgnbd_model';
CREATE TYPE customer_segment.pareto_nbd_covariate_model AS (
    r float8, alpha float8, s float8, beta float8,
    purchase_coefficients float8[], dropout_coefficients float8[],
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.pareto_nbd_covariate_model IS
    'Fitted Pareto/NBD model with covariates: a customer''s purchase rate ~ Gamma(r, alpha exp(-purchase_coefficients . purchase_covariates)), '
    'dropout rate ~ Gamma(s, beta exp(-dropout_coefficients . dropout_covariates)); pareto_nbd_customer_model gives a customer''s pareto_nbd_model';
CREATE TYPE customer_segment.gamma_gamma_covariate_model AS (
    p float8, q float8, gamma float8, spend_coefficients float8[],
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.gamma_gamma_covariate_model IS
    'Fitted Gamma-Gamma spend model with covariates: a customer''s scale gamma exp(spend_coefficients . covariates), so the mean spend '
    'p gamma / (q - 1) is multiplied by exp(spend_coefficients . covariates); gamma_gamma_customer_model gives a customer''s gamma_gamma_model';

SELECT customer_segment.install_state_type('btyd_covariate_fit_state',
    'State of the BTYD covariate fits: the penalizer, the rows skipped, the number of covariates per block and the weighted '
    'distinct rows (covariates, frequency, recency or monetary_value, T)');
CREATE FUNCTION customer_segment.btyd_covariate_fit_combine(customer_segment.btyd_covariate_fit_state,
    customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_covariate_fit_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_cov_fit_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.bgnbd_covariate_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_cov_fit_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.pareto_nbd_covariate_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_cov_fit_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.gamma_gamma_covariate_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_cov_uncertainty_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_cov_uncertainty_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_cov_uncertainty_final(customer_segment.btyd_covariate_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

SELECT customer_segment.install_aggregate(v.agg, v.sigs, v.c_trans, v.c_trans, v.final, 'btyd_covariate_fit_combine',
                                          NULL, NULL, 'IMMUTABLE', v.comment, 'btyd_covariate_fit_state')
  FROM (VALUES
    ('bgnbd_covariate_fit',
     ARRAY['frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]',
           'frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8'],
     'bgnbd_cov_fit_trans', 'bgnbd_cov_fit_final',
     'Maximum-likelihood BG/NBD fit with time-invariant covariates (up to 8 per array) on the purchase rate and on the dropout '
     'probability; rows with a NULL are skipped; state holds weighted distinct (covariates, history) rows'),
    ('pareto_nbd_covariate_fit',
     ARRAY['frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]',
           'frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8'],
     'bgnbd_cov_fit_trans', 'pnbd_cov_fit_final',
     'Maximum-likelihood Pareto/NBD fit with time-invariant covariates (up to 8 per array) on the purchase and dropout rates; '
     'rows with a NULL are skipped; state holds weighted distinct (covariates, history) rows'),
    ('gamma_gamma_covariate_fit',
     ARRAY['frequency float8, monetary_value float8, covariates float8[]',
           'frequency float8, monetary_value float8, covariates float8[], penalizer float8'],
     'gg_cov_fit_trans', 'gg_cov_fit_final',
     'Maximum-likelihood Gamma-Gamma fit with time-invariant covariates (up to 8) on the scale of spend, over customers with '
     'frequency > 0 (others and rows with a NULL are skipped)'),
    ('bgnbd_covariate_fit_uncertainty',
     ARRAY['frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]',
           'frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8'],
     'bgnbd_cov_fit_trans', 'bgnbd_cov_uncertainty_final',
     'bgnbd_covariate_fit with standard errors and 95% intervals of r, alpha, a, b (log scale) and of every coefficient (linear scale)'),
    ('pareto_nbd_covariate_fit_uncertainty',
     ARRAY['frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[]',
           'frequency float8, recency float8, t float8, purchase_covariates float8[], dropout_covariates float8[], penalizer float8'],
     'bgnbd_cov_fit_trans', 'pnbd_cov_uncertainty_final',
     'pareto_nbd_covariate_fit with standard errors and 95% intervals of r, alpha, s, beta (log scale) and of every coefficient (linear scale)'),
    ('gamma_gamma_covariate_fit_uncertainty',
     ARRAY['frequency float8, monetary_value float8, covariates float8[]',
           'frequency float8, monetary_value float8, covariates float8[], penalizer float8'],
     'gg_cov_fit_trans', 'gg_cov_uncertainty_final',
     'gamma_gamma_covariate_fit with standard errors and 95% intervals of p, q, gamma (log scale) and of every coefficient (linear scale)')
  ) v(agg, sigs, c_trans, final, comment);

CREATE FUNCTION customer_segment.covariate_scale(coefficients float8[], covariates float8[])
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.covariate_scale(float8[], float8[]) IS
    'exp(sum_j coefficients[j] * covariates[j]): the factor a customer''s covariates scale a base parameter by; both arrays of one length';

CREATE FUNCTION customer_segment.bgnbd_customer_model(model customer_segment.bgnbd_covariate_model,
    purchase_covariates float8[], dropout_covariates float8[])
RETURNS customer_segment.bgnbd_model LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ROW(model.r, model.alpha / customer_segment.covariate_scale(model.purchase_coefficients, purchase_covariates),
           model.a * customer_segment.covariate_scale(model.dropout_coefficients_a, dropout_covariates),
           model.b * customer_segment.covariate_scale(model.dropout_coefficients_b, dropout_covariates),
           model.log_likelihood, model.customers, model.distinct_rows, model.iterations, model.converged)::customer_segment.bgnbd_model;
COMMENT ON FUNCTION customer_segment.bgnbd_customer_model(customer_segment.bgnbd_covariate_model, float8[], float8[]) IS
    'The BG/NBD model of a customer with these covariates (r, alpha exp(-g_p . z_p), a exp(g_a . z_d), b exp(g_b . z_d)): '
    'pass it to bgnbd_p_alive, bgnbd_expected_purchases, bgnbd_clv and the other BG/NBD predictions';
CREATE FUNCTION customer_segment.pareto_nbd_customer_model(model customer_segment.pareto_nbd_covariate_model,
    purchase_covariates float8[], dropout_covariates float8[])
RETURNS customer_segment.pareto_nbd_model LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ROW(model.r, model.alpha / customer_segment.covariate_scale(model.purchase_coefficients, purchase_covariates),
           model.s, model.beta / customer_segment.covariate_scale(model.dropout_coefficients, dropout_covariates),
           model.log_likelihood, model.customers, model.distinct_rows, model.iterations, model.converged)::customer_segment.pareto_nbd_model;
COMMENT ON FUNCTION customer_segment.pareto_nbd_customer_model(customer_segment.pareto_nbd_covariate_model, float8[], float8[]) IS
    'The Pareto/NBD model of a customer with these covariates (r, alpha exp(-g_p . z_p), s, beta exp(-g_d . z_d)): '
    'pass it to pareto_nbd_p_alive, pareto_nbd_expected_purchases and the other Pareto/NBD predictions';
CREATE FUNCTION customer_segment.gamma_gamma_customer_model(model customer_segment.gamma_gamma_covariate_model,
    covariates float8[])
RETURNS customer_segment.gamma_gamma_model LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN ROW(model.p, model.q, model.gamma * customer_segment.covariate_scale(model.spend_coefficients, covariates),
           model.log_likelihood, model.customers, model.distinct_rows, model.iterations, model.converged)::customer_segment.gamma_gamma_model;
COMMENT ON FUNCTION customer_segment.gamma_gamma_customer_model(customer_segment.gamma_gamma_covariate_model, float8[]) IS
    'The Gamma-Gamma model of a customer with these covariates (p, q, gamma exp(g . z)): pass it to gamma_gamma_expected_spend';
-- BG/BB (Fader, Hardie & Shang 2010): customers with discrete transaction opportunities (annual donations,
-- events, seasons).  A history is (frequency, recency, n_periods): x transactions in the n opportunities after
-- the first transaction, the last in opportunity t_x (0 when x = 0).  doc/btyd.md, "BG/BB".

CREATE TYPE customer_segment.bgbb_model AS (
    alpha float8, beta float8, gamma float8, delta float8,
    log_likelihood float8, customers bigint, distinct_rows bigint, iterations integer, converged boolean);
COMMENT ON TYPE customer_segment.bgbb_model IS
    'Fitted BG/BB model: transaction probability per opportunity ~ Beta(alpha, beta), dropout probability per opportunity ~ Beta(gamma, delta)';
CREATE FUNCTION customer_segment.bgbb_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.bgbb_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgbb_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
SELECT customer_segment.install_aggregate(v.agg, ARRAY['frequency float8, recency float8, n_periods float8',
                                                       'frequency float8, recency float8, n_periods float8, weight float8'],
                                          'bgbb_fit_trans', 'bgbb_fit_trans', v.final, 'btyd_fit_combine',
                                          NULL, NULL, 'IMMUTABLE', v.comment, 'btyd_fit_state')
  FROM (VALUES
    ('bgbb_fit', 'bgbb_fit_final',
     'Maximum-likelihood BG/BB fit over (frequency, recency, n_periods) histories, each counted weight times (default 1); '
     'state holds weighted distinct histories'),
    ('bgbb_fit_uncertainty', 'bgbb_uncertainty_final',
     'bgbb_fit with standard errors and 95% intervals of alpha, beta, gamma, delta from the observed information at the maximum')
  ) v(agg, final, comment);

CREATE FUNCTION customer_segment.bgbb_p_alive(model customer_segment.bgbb_model, frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_p_alive_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_p_alive(customer_segment.bgbb_model, float8, float8, float8) IS
    'BG/BB probability the customer is alive in opportunity n + 1: B(alpha+x, beta+n-x)/B(alpha, beta) B(gamma, delta+n+1)/B(gamma, delta) / L(x, t_x, n)';
CREATE FUNCTION customer_segment.bgbb_expected_purchases(model customer_segment.bgbb_model, periods float8,
    frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_expected_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_expected_purchases(customer_segment.bgbb_model, float8, float8, float8, float8) IS
    'BG/BB expected transactions in the next periods opportunities given (x, t_x, n): '
    'B(alpha+x+1, beta+n-x)/B(alpha, beta) / L * sum_{k=1..periods} B(gamma, delta+n+k)/B(gamma, delta)';
CREATE FUNCTION customer_segment.bgbb_expected_purchases_new(model customer_segment.bgbb_model, periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_expected_new_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_expected_purchases_new(customer_segment.bgbb_model, float8) IS
    'BG/BB expected transactions of a new customer in its first periods opportunities: alpha / (alpha + beta) sum_{k=1..periods} B(gamma, delta+k)/B(gamma, delta)';
CREATE FUNCTION customer_segment.bgbb_probability_purchases(model customer_segment.bgbb_model, n_periods bigint, n bigint)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_probability_purchases(customer_segment.bgbb_model, bigint, bigint) IS
    'BG/BB P(X(n_periods) = n): probability a new customer transacts in exactly n of its first n_periods opportunities (FHS 2010 eq. 7)';
CREATE FUNCTION customer_segment.bgbb_probability_purchases(model customer_segment.bgbb_model, periods bigint, n bigint,
    frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_pmf_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_probability_purchases(customer_segment.bgbb_model, bigint, bigint, float8, float8, float8) IS
    'BG/BB P(n transactions in the next periods opportunities | frequency, recency, n_periods): gone before n + 1 (n = 0), '
    'gone at the start of a later opportunity, or alive through n + periods, each with its Beta-Binomial count';
CREATE FUNCTION customer_segment.bgbb_dert(model customer_segment.bgbb_model, discount float8, frequency float8,
    recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_dert_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_dert(customer_segment.bgbb_model, float8, float8, float8, float8) IS
    'BG/BB discounted expected residual transactions at discount per opportunity (> 0), the k-th future one discounted by (1 + discount)^-k (FHS 2010 eq. 14)';
CREATE FUNCTION customer_segment.bgbb_loglik(model customer_segment.bgbb_model, frequency float8, recency float8, n_periods float8)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_loglik_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_loglik(customer_segment.bgbb_model, float8, float8, float8) IS
    'Log-likelihood of one history under the BG/BB model';

CREATE FUNCTION customer_segment.bgbb_clv(model customer_segment.bgbb_model, frequency float8, recency float8,
    n_periods float8, spend float8, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    periods_per_month float8 DEFAULT 1, margin float8 DEFAULT 1)
RETURNS float8 AS 'MODULE_PATHNAME', 'bgbb_clv_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.bgbb_clv(customer_segment.bgbb_model, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'Discounted CLV over months under BG/BB: sum_i (E[X(i m)] - E[X((i-1) m)]) * spend * margin / (1 + monthly_discount)^i, m = periods_per_month opportunities a month (1 for monthly, 4.345 for weekly, 1/12 for yearly)';

-- btyd_predict for a BG/BB model: P(alive), expected transactions (periods with a purchase) in horizon periods,
-- the Gamma-Gamma spend of btyd_predict from the customer's repeat purchase days and their mean spend, CLV.
CREATE FUNCTION customer_segment.btyd_predict_bgbb(bb customer_segment.bgbb_model, gg customer_segment.gamma_gamma_model,
    frequency float8, recency float8, n_periods float8, spend_frequency float8, monetary_value float8, horizon float8,
    months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01, periods_per_month float8 DEFAULT 1, margin float8 DEFAULT 1)
RETURNS TABLE (p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT customer_segment.bgbb_p_alive(bb, frequency, recency, n_periods),
           customer_segment.bgbb_expected_purchases(bb, horizon, frequency, recency, n_periods),
           p.expected_spend,
           customer_segment.bgbb_clv(bb, frequency, recency, n_periods, p.expected_spend, months, monthly_discount, periods_per_month, margin)
      FROM customer_segment.btyd_predict(NULL, NULL, gg, spend_frequency, 0, 0, monetary_value, horizon, months,
                                         monthly_discount, periods_per_month, margin) p;
END;
COMMENT ON FUNCTION customer_segment.btyd_predict_bgbb(customer_segment.bgbb_model, customer_segment.gamma_gamma_model, float8, float8, float8, float8, float8, float8, integer, float8, float8, float8) IS
    'P(alive), expected transactions in horizon periods, expected spend (Gamma-Gamma of the repeat purchase days, as btyd_predict) and CLV of one customer from a BG/BB model; NULLs for NULL models';

-- Orders to BG/BB histories: a customer's opportunities are the calendar periods (year, quarter, month, week,
-- day) after the one of its first purchase, through the last period that ends by observation_end; a period
-- with a purchase (an order of amount >= 0) counts once.
-- The consecutive number of the calendar period of a date expression, as SQL to put in a query (plain
-- integer arithmetic: a function called per order row would cost more than the rest of the query).
CREATE FUNCTION customer_segment.period_number_sql(day_expr text, period text)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    RETURN CASE period
        WHEN 'year' THEN format('extract(year FROM %s)::bigint', day_expr)
        WHEN 'quarter' THEN format('(extract(year FROM %1$s)::bigint * 4 + extract(quarter FROM %1$s)::bigint - 1)', day_expr)
        WHEN 'month' THEN format('(extract(year FROM %1$s)::bigint * 12 + extract(month FROM %1$s)::bigint - 1)', day_expr)
        -- weeks from Monday 1970-01-05, floored: shifted by a million weeks so the division never sees a negative
        WHEN 'week' THEN format('((%s - DATE ''1970-01-05'' + 7000000) / 7 - 1000000)::bigint', day_expr)
        WHEN 'day' THEN format('(%s - DATE ''1970-01-01'')::bigint', day_expr)
    END;
END
$$;
COMMENT ON FUNCTION customer_segment.period_number_sql(text, text) IS
    'SQL for the consecutive number of the calendar year, quarter, month, week (Monday to Sunday) or day of a date expression; NULL for another period';

CREATE FUNCTION customer_segment.check_calendar_period(period text)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
BEGIN
    IF period IS NULL THEN
        RAISE EXCEPTION 'period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF customer_segment.period_number_sql('d', period) IS NULL THEN
        RAISE EXCEPTION 'unknown period "%"', period USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''year'', ''quarter'', ''month'', ''week'' or ''day''.';
    END IF;
    RETURN period;
END
$$;
COMMENT ON FUNCTION customer_segment.check_calendar_period(text) IS
    'Returns period when period_number knows it (year, quarter, month, week, day); 22004 for NULL, 22023 otherwise';

CREATE FUNCTION customer_segment.period_number(day date, period text)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    k bigint;
BEGIN
    EXECUTE 'SELECT ' || customer_segment.period_number_sql('$1', customer_segment.check_calendar_period(period)) INTO k USING day;
    RETURN k;
END
$$;
COMMENT ON FUNCTION customer_segment.period_number(date, text) IS
    'Consecutive number of the calendar year, quarter, month, week (Monday to Sunday) or day of a date';

CREATE FUNCTION customer_segment.bgbb_summary(source regclass, customer_column name, time_column name,
    amount_column name, observation_end date, period text DEFAULT 'year', zone text DEFAULT NULL)
RETURNS TABLE (customer_id text, frequency bigint, recency bigint, n_periods bigint, first_period date)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    last_complete bigint;
BEGIN
    IF observation_end IS NULL OR period IS NULL THEN
        RAISE EXCEPTION 'observation_end and period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.check_calendar_period(period);
    IF NOT isfinite(observation_end) THEN
        RAISE EXCEPTION 'observation_end must be a finite date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the period of observation_end counts only when observation_end is its last day
    last_complete := customer_segment.period_number(observation_end, period)
                     - CASE WHEN customer_segment.period_number(observation_end + 1, period)
                                 = customer_segment.period_number(observation_end, period) THEN 1 ELSE 0 END;
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH o AS (
            SELECT %1$s AS customer, (%2$s)::date AS day FROM %4$s WHERE %1$s IS NOT NULL AND %3$s >= 0
        ), p AS (
            SELECT o.customer, %5$s AS k, min(o.day) AS first_day FROM o GROUP BY 1, 2 HAVING %5$s <= $1
        ), f AS (
            SELECT p.customer, min(p.k) AS k0, min(p.first_day) AS first_day FROM p GROUP BY 1
        )
        SELECT f.customer::text, count(*) FILTER (WHERE p.k > f.k0), coalesce(max(p.k) FILTER (WHERE p.k > f.k0) - f.k0, 0),
               $1 - f.k0, date_trunc($2, f.first_day)::date
          FROM p JOIN f USING (customer)
         GROUP BY f.customer, f.k0, f.first_day
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause, customer_segment.period_number_sql('o.day', period))
    USING last_complete, period;
END
$$;
COMMENT ON FUNCTION customer_segment.bgbb_summary(regclass, name, name, name, date, text, text) IS
    'BG/BB histories of an orders table: per customer the periods (year, quarter, month, week, day) with a purchase after the first one (frequency), '
    'the number of the last of them counted from the first (recency, 0 without), and the complete periods after the first through observation_end (n_periods)';
-- Behavioural clusters: k-means on feature vectors (doc/clusters.md).

CREATE TYPE customer_segment.kmeans_model AS (
    k integer, dims integer, centroids float8[], inertia float8, iterations integer, converged boolean,
    sizes float8[], transform text, shift float8[], scale float8[], rows bigint, points bigint, seed bigint);
COMMENT ON TYPE customer_segment.kmeans_model IS
    'Fitted k-means model: centroids (k x dims) in the transformed space, where a feature vector x becomes '
    '(f(x) - shift) / scale, f = log1p for the log1p transforms; inertia and sizes by weight; rows fitted and points kept';
CREATE TYPE customer_segment.kmeans_k_score AS (k integer, inertia float8, silhouette float8, silhouette_points bigint);
COMMENT ON TYPE customer_segment.kmeans_k_score IS
    'One k of kmeans_scan: the best inertia of the restarts and the mean silhouette on silhouette_points points';

SELECT customer_segment.install_state_type('kmeans_state',
    'State of kmeans_fit and kmeans_scan: k, seed, transform, and the weighted points kept (a priority sample beyond 1M)');
CREATE FUNCTION customer_segment.kmeans_combine(customer_segment.kmeans_state, customer_segment.kmeans_state)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_fit_final(customer_segment.kmeans_state)
RETURNS customer_segment.kmeans_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_scan_final(customer_segment.kmeans_state)
RETURNS customer_segment.kmeans_k_score[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

SELECT customer_segment.install_aggregate(v.agg, v.sigs, v.c_trans, v.c_trans, v.final, 'kmeans_combine',
                                          NULL, NULL, 'IMMUTABLE', v.comment, 'kmeans_state')
  FROM (VALUES
    ('kmeans_fit', ARRAY['features float8[], k integer', 'features float8[], k integer, seed bigint',
                         'features float8[], k integer, seed bigint, transform text',
                         'features float8[], k integer, seed bigint, transform text, weight float8'],
     'kmeans_fit_trans', 'kmeans_fit_final',
     'k-means of the feature vectors: k-means++ seeding from seed (default 0), best of 10 restarts, Lloyd to tol 1e-4; '
     'transform none (default), zscore, minmax, log1p, log1p+zscore or log1p+minmax; optional weight; NULL rows skipped'),
    ('kmeans_scan', ARRAY['features float8[], k_min integer, k_max integer', 'features float8[], k_min integer, k_max integer, seed bigint',
                          'features float8[], k_min integer, k_max integer, seed bigint, transform text',
                          'features float8[], k_min integer, k_max integer, seed bigint, transform text, weight float8'],
     'kmeans_scan_trans', 'kmeans_scan_final',
     'For every k from k_min to k_max: the inertia of kmeans_fit and the mean silhouette (exact up to 4,000 points, '
     'else on a seeded sample of 4,000), to choose k by the elbow or the best silhouette')
  ) v(agg, sigs, c_trans, final, comment);

CREATE FUNCTION customer_segment.kmeans_assign(model customer_segment.kmeans_model, features float8[])
RETURNS integer AS 'MODULE_PATHNAME', 'kmeans_assign_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.kmeans_assign(customer_segment.kmeans_model, float8[]) IS
    'Cluster 1..k of a feature vector: the nearest centroid after the model''s transform (the lowest on ties)';
CREATE FUNCTION customer_segment.kmeans_distance(model customer_segment.kmeans_model, features float8[])
RETURNS float8 AS 'MODULE_PATHNAME', 'kmeans_distance_sql' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.kmeans_distance(customer_segment.kmeans_model, float8[]) IS
    'Euclidean distance, in the transformed space, from a feature vector to its nearest centroid';
-- Registered sources: the registry, the refresh log table, the helper views a source gets, register and unregister.

CREATE TABLE customer_segment.sources (
    name             text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
    orders           regclass NOT NULL,
    customer_column  name NOT NULL,
    time_column      name NOT NULL,
    amount_column    name NOT NULL,
    target_schema    name NOT NULL,
    bins             integer NOT NULL DEFAULT 5 CHECK (bins BETWEEN 2 AND 9),
    rule_set         text NOT NULL DEFAULT 'standard',
    as_of            date,
    tier_ladder      text,
    history_days     integer CHECK (history_days > 0),
    registered_at    timestamptz NOT NULL DEFAULT now(),
    registered_by    name NOT NULL DEFAULT current_user,
    time_zone        text NOT NULL DEFAULT current_setting('TimeZone'),
    clusters         integer CHECK (clusters BETWEEN 2 AND 20),
    prediction_model text NOT NULL DEFAULT 'bgnbd' CHECK (prediction_model IN ('bgnbd', 'pareto_nbd', 'mbgnbd'))
);
COMMENT ON TABLE customer_segment.sources IS 'Orders tables registered with register_source; their helper views live in target_schema';
COMMENT ON COLUMN customer_segment.sources.name IS 'Source name, the prefix of its helper views';
COMMENT ON COLUMN customer_segment.sources.orders IS 'The orders table (or view)';
COMMENT ON COLUMN customer_segment.sources.customer_column IS 'Customer column of the orders table';
COMMENT ON COLUMN customer_segment.sources.time_column IS 'Purchase time column (date, timestamp or timestamptz)';
COMMENT ON COLUMN customer_segment.sources.amount_column IS 'Amount column; negative amounts are refunds';
COMMENT ON COLUMN customer_segment.sources.target_schema IS 'Schema of the helper views';
COMMENT ON COLUMN customer_segment.sources.bins IS 'Number of RFM score bins';
COMMENT ON COLUMN customer_segment.sources.rule_set IS 'RFM segment rule set';
COMMENT ON COLUMN customer_segment.sources.as_of IS 'Fixed last day of the observation window; NULL = the day of each refresh';
COMMENT ON COLUMN customer_segment.sources.tier_ladder IS 'Ladder of tier_ladders that tiers customers by net spend; NULL = no tiers';
COMMENT ON COLUMN customer_segment.sources.history_days IS 'Keep a per-customer snapshot in segment_history at each refresh, for this many days; NULL = no history';
COMMENT ON COLUMN customer_segment.sources.registered_at IS 'When the source was registered';
COMMENT ON COLUMN customer_segment.sources.registered_by IS 'Who registered it';
COMMENT ON COLUMN customer_segment.sources.time_zone IS 'Business time zone: the day of a timestamptz order, and today when as_of is NULL, are taken in it';
COMMENT ON COLUMN customer_segment.sources.prediction_model IS 'Purchase model of the customers view''s predictions: bgnbd (default), pareto_nbd or mbgnbd';
COMMENT ON COLUMN customer_segment.sources.clusters IS 'k of the k-means clusters of the customers (set_source_clusters); NULL = no cluster views';
SELECT pg_catalog.pg_extension_config_dump('customer_segment.sources', '');

CREATE TABLE customer_segment.refresh_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    customers    bigint,
    status       text NOT NULL CHECK (status IN ('ok', 'failed')),
    error        text,
    note         text,
    owner        name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE customer_segment.refresh_log IS 'One row per refresh of a source: when, how many customers, ok or failed with the error';
COMMENT ON COLUMN customer_segment.refresh_log.id IS 'Run number';
COMMENT ON COLUMN customer_segment.refresh_log.source IS 'Source name';
COMMENT ON COLUMN customer_segment.refresh_log.started_at IS 'Start of the refresh';
COMMENT ON COLUMN customer_segment.refresh_log.finished_at IS 'End of the refresh';
COMMENT ON COLUMN customer_segment.refresh_log.customers IS 'Rows of the customers view after the refresh';
COMMENT ON COLUMN customer_segment.refresh_log.status IS 'ok, or failed (the previous results were kept)';
COMMENT ON COLUMN customer_segment.refresh_log.error IS 'SQLSTATE and message of a failed refresh';
COMMENT ON COLUMN customer_segment.refresh_log.note IS 'Why an ok refresh left the prediction columns NULL (SQLSTATE and message); NULL when it did not';
COMMENT ON COLUMN customer_segment.refresh_log.owner IS 'Owner of the source at the time of the run; only roles acting as it see the row';

-- A registered source, or a clear error.
CREATE FUNCTION customer_segment.get_source(source text)
RETURNS customer_segment.sources LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
BEGIN
    SELECT * INTO src FROM customer_segment.sources s WHERE s.name = get_source.source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'source "%" is not registered', source USING ERRCODE = 'undefined_object',
            HINT = 'See SELECT name FROM customer_segment.sources;';
    END IF;
    RETURN src;
END
$$;
COMMENT ON FUNCTION customer_segment.get_source(text) IS 'The sources row of a registered source; 42704 otherwise';

-- The observation day of a source's views: its fixed as_of, or today in its time zone.
CREATE FUNCTION customer_segment.source_as_of(source text, OUT as_of date)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT coalesce(s.as_of, (now() AT TIME ZONE s.time_zone)::date)
      FROM customer_segment.sources s WHERE s.name = source_as_of.source
$$;
COMMENT ON FUNCTION customer_segment.source_as_of(text) IS 'as_of of a source, or today in the source''s time zone when it has none';

-- The materialized views behind a source's helper views must still be the ones register_source made: owned
-- by the role that registered the source, with columns of built-in types only.  Refreshing them runs their query
-- as that owner (REFRESH MATERIALIZED VIEW always does), never as the caller; reading them then runs nobody
-- else's code either (a materialized view has no rules, triggers or policies), even when the schema's owner
-- dropped one and put an object of their own in its place.
CREATE FUNCTION customer_segment.check_source_views(src customer_segment.sources)
RETURNS void LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    bad record;
BEGIN
    SELECT v.data_name, CASE
             WHEN c.oid IS NULL THEN 'It does not exist.'
             WHEN c.relkind <> 'm' THEN 'It is not a materialized view.'
             WHEN pg_get_userbyid(c.relowner) <> src.registered_by
                 THEN format('It is owned by %s, the source by %s.', pg_get_userbyid(c.relowner), src.registered_by)
             ELSE format('Its column %s has type %s, which is not built in.', a.attname, a.atttypid::regtype)
           END AS detail
      INTO bad
      FROM customer_segment.source_views(src) v
      LEFT JOIN pg_class c ON c.oid = to_regclass(v.data_name)
      LEFT JOIN LATERAL (SELECT x.attname, x.atttypid FROM pg_attribute x
                          WHERE x.attrelid = c.oid AND x.attnum > 0 AND NOT x.attisdropped AND x.atttypid >= 16384::oid
                          LIMIT 1) a ON true
     WHERE c.oid IS NULL OR c.relkind <> 'm' OR pg_get_userbyid(c.relowner) <> src.registered_by OR a.attname IS NOT NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'helper view % of source "%" is not the one register_source created', bad.data_name, src.name
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = bad.detail,
                  HINT = format('Unregister the source and register it again: SELECT customer_segment.unregister_source(%L);', src.name);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.check_source_views(customer_segment.sources) IS
    'Raises 55000 unless the materialized view behind every helper view of the source is owned by the source''s owner with built-in column types';

-- Creates the helper views of a source: each materialized view (empty) with its unique index, the plain view
-- over it, and the comments of both and of every column.
CREATE FUNCTION customer_segment.create_source_views(src customer_segment.sources)
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v record;
BEGIN
    FOR v IN SELECT * FROM customer_segment.source_views(src) s WHERE to_regclass(s.data_name) IS NULL LOOP
        EXECUTE format('CREATE MATERIALIZED VIEW %s AS %s WITH NO DATA', v.data_name, v.definition);
        EXECUTE format('CREATE UNIQUE INDEX ON %s (%s)', v.data_name, v.unique_key);
        EXECUTE format('CREATE VIEW %s AS SELECT * FROM %s', v.view_name, v.data_name);
        IF current_user <> src.registered_by THEN
            -- a superuser or a member of the owning role: the views belong to the source's owner all the same
            EXECUTE format('ALTER MATERIALIZED VIEW %s OWNER TO %I', v.data_name, src.registered_by);
            EXECUTE format('ALTER VIEW %s OWNER TO %I', v.view_name, src.registered_by);
        END IF;
        PERFORM customer_segment.comment_source_view(src, v.view_name, v.data_name, v.comment, v.helper);
        RETURN NEXT v.view_name;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.create_source_views(customer_segment.sources) IS
    'Creates the helper views of a source that do not exist yet (plain views over empty materialized views with unique indexes) and their comments; returns the views'' names';

-- The comments of a helper view, of the materialized view behind it and of every column of both.
CREATE FUNCTION customer_segment.comment_source_view(src customer_segment.sources, view_name text, data_name text,
    comment text, helper text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    c record;
BEGIN
    EXECUTE format('COMMENT ON VIEW %s IS %L', view_name, comment || ' (customer_segment source ' || src.name || ')');
    EXECUTE format('COMMENT ON MATERIALIZED VIEW %s IS %L', data_name,
                   format('Data of %s, filled by customer_segment.refresh(%L); read the view', view_name, src.name));
    FOR c IN SELECT a.attname, h.description FROM pg_attribute a
               LEFT JOIN customer_segment.helper_columns() h ON h.helper = comment_source_view.helper AND h.column_name = a.attname
              WHERE a.attrelid = to_regclass(data_name) AND a.attnum > 0 AND NOT a.attisdropped LOOP
        IF c.description IS NULL THEN
            RAISE EXCEPTION 'column % of helper % has no description', c.attname, helper USING ERRCODE = 'internal_error';
        END IF;
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', view_name, c.attname, c.description);
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', data_name, c.attname, c.description);
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.comment_source_view(customer_segment.sources, text, text, text, text) IS
    'Comments a helper view, the materialized view behind it and every column of both (helper_columns)';

CREATE FUNCTION customer_segment.register_source(name text, orders regclass, customer_column name,
    time_column name, amount_column name, target_schema name DEFAULT NULL, bins integer DEFAULT 5,
    rule_set text DEFAULT 'standard', as_of date DEFAULT NULL, history_days integer DEFAULT NULL,
    tier_ladder text DEFAULT NULL, time_zone text DEFAULT current_setting('TimeZone'))
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
BEGIN
    PERFORM customer_segment.orders_source_sql(orders, customer_column, time_column, amount_column);
    IF NOT has_table_privilege(orders, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied to read %', orders USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM customer_segment.rfm_segment_rules r WHERE r.rule_set = register_source.rule_set) THEN
        RAISE EXCEPTION 'rule set "%" does not exist', rule_set USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF tier_ladder IS NOT NULL THEN
        PERFORM customer_segment.check_tier_ladder(tier_ladder);
    END IF;
    IF time_zone IS NULL THEN
        RAISE EXCEPTION 'time_zone must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass the zone the business counts its days in, e.g. ''Europe/Berlin''.';
    END IF;
    INSERT INTO customer_segment.sources (name, orders, customer_column, time_column, amount_column, target_schema, bins,
                                          rule_set, as_of, history_days, tier_ladder, time_zone)
    VALUES (name, orders, customer_column, time_column, amount_column,
            coalesce(target_schema, (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                      WHERE c.oid = orders)), bins, rule_set, as_of, history_days, tier_ladder,
            customer_segment.check_time_zone(time_zone))
    RETURNING * INTO src;
    RETURN QUERY SELECT customer_segment.create_source_views(src);
END
$$;
COMMENT ON FUNCTION customer_segment.register_source(text, regclass, name, name, name, name, integer, text, date, integer, text, text) IS
    'Registers an orders table with its business time zone (default: the session''s) and creates its helper views (empty until the first refresh); returns their names';

-- The business time zone of a source; the next refresh uses it.
CREATE FUNCTION customer_segment.set_source_time_zone(source text, time_zone text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.get_source(source);
    IF time_zone IS NULL THEN
        RAISE EXCEPTION 'time_zone must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE customer_segment.sources s SET time_zone = customer_segment.check_time_zone(set_source_time_zone.time_zone)
     WHERE s.name = set_source_time_zone.source;
END
$$;
COMMENT ON FUNCTION customer_segment.set_source_time_zone(text, text) IS
    'Sets the business time zone of a source (22023 for a zone AT TIME ZONE does not know); the next refresh uses it';

-- Clusters of a source's customers: k-means with k clusters on log1p + z-score of (recency_days, orders,
-- monetary_total), two more helper views, computed at each refresh; NULL drops them.
CREATE FUNCTION customer_segment.set_source_clusters(source text, k integer)
RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
    v record;
BEGIN
    IF k IS NULL THEN
        FOR v IN SELECT * FROM customer_segment.source_views(src) s WHERE s.helper IN ('clusters', 'cluster_profiles') LOOP
            PERFORM customer_segment.drop_source_view(src, v.view_name, v.data_name, false);
        END LOOP;
    ELSIF k < 2 OR k > 20 THEN
        RAISE EXCEPTION 'k must be between 2 and 20' USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', k);
    END IF;
    UPDATE customer_segment.sources s SET clusters = set_source_clusters.k WHERE s.name = src.name RETURNING * INTO src;
    RETURN QUERY SELECT customer_segment.create_source_views(src);
END
$$;
COMMENT ON FUNCTION customer_segment.set_source_clusters(text, integer) IS
    'Gives a source k-means clusters (k = 2..20) of its customers in two more helper views, <name>_clusters and <name>_cluster_profiles, '
    'filled at each refresh; NULL drops them; returns the views created';

-- Drops one helper view of a source and the data behind it; the user's own objects are never dropped silently.
CREATE FUNCTION customer_segment.drop_source_view(src customer_segment.sources, view_name text, data_name text, cascade boolean)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    dependents text;
BEGIN
    -- the plain view goes when it is the one over this source's data (not an object of the user's)
    IF EXISTS (SELECT 1 FROM pg_rewrite r JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                WHERE r.ev_class = to_regclass(view_name) AND d.refobjid = to_regclass(data_name)) THEN
        EXECUTE format('DROP VIEW %s %s', view_name, CASE WHEN cascade THEN 'CASCADE' ELSE 'RESTRICT' END);
    END IF;
    EXECUTE format('DROP MATERIALIZED VIEW IF EXISTS %s %s', data_name, CASE WHEN cascade THEN 'CASCADE' ELSE 'RESTRICT' END);
EXCEPTION WHEN dependent_objects_still_exist THEN
    -- PostgreSQL's detail names them
    GET STACKED DIAGNOSTICS dependents = PG_EXCEPTION_DETAIL;
    RAISE EXCEPTION 'objects of yours depend on helper view % of source "%"', view_name, src.name
        USING ERRCODE = 'dependent_objects_still_exist', DETAIL = dependents,
              HINT = 'Drop them first, or pass cascade => true to drop them too.';
END
$$;
COMMENT ON FUNCTION customer_segment.drop_source_view(customer_segment.sources, text, text, boolean) IS
    'Drops a helper view of a source and its materialized view; 2BP01 naming the user''s dependent objects unless cascade';

CREATE FUNCTION customer_segment.unregister_source(name text, cascade boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    v record;
    msg text;
    dependents text;
BEGIN
    src := customer_segment.get_source(name);
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        BEGIN
            PERFORM customer_segment.drop_source_view(src, v.view_name, v.data_name, cascade);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, dependents = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION 'cannot unregister source "%": %', name, msg
                USING ERRCODE = 'dependent_objects_still_exist', DETAIL = dependents,
                      HINT = format('Drop them first, or SELECT customer_segment.unregister_source(%L, cascade => true); to drop them too.', name);
        END;
    END LOOP;
    IF to_regclass(customer_segment.source_states_table(src)) IS NOT NULL THEN
        EXECUTE format('DROP TABLE %s', customer_segment.source_states_table(src));
    END IF;
    DELETE FROM customer_segment.sources s WHERE s.name = unregister_source.name;
    DELETE FROM customer_segment.segment_history h WHERE h.source = unregister_source.name;
    PERFORM customer_segment.drop_empty_history_partitions();
END
$$;
COMMENT ON FUNCTION customer_segment.unregister_source(text, boolean) IS
    'Drops the helper views, the states (incremental refresh) and the history of a source and forgets it (the orders table is untouched); refuses (2BP01) when other objects depend on the views, unless cascade';

-- Incremental refresh: a source that names a change column (an ever-increasing key of its orders, such as an
-- identity order id or an inserted_at) keeps one rfm_summary_state per customer in <name>_states, and the
-- largest key merged (the watermark).  A refresh reads only the rows past the watermark, merges their states,
-- and computes the customers and cohorts helper views from the states instead of the orders.
-- doc/operations.md, "Incremental refresh", says what it assumes.

CREATE TABLE customer_segment.source_increments (
    source        text PRIMARY KEY REFERENCES customer_segment.sources (name) ON DELETE CASCADE,
    change_column name NOT NULL,
    watermark     text,
    covered_rows  bigint,
    last_day      date,
    updated_at    timestamptz,
    note          text,
    owner         name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE customer_segment.source_increments IS
    'Sources refreshed incrementally (set_source_change_column): change column, watermark and row count of their <name>_states';
COMMENT ON COLUMN customer_segment.source_increments.source IS 'The source';
COMMENT ON COLUMN customer_segment.source_increments.change_column IS 'Ever-increasing key of the orders table (integer, numeric, date or timestamp type)';
COMMENT ON COLUMN customer_segment.source_increments.watermark IS 'Largest key merged into the states, as JSON text; NULL until the states are built';
COMMENT ON COLUMN customer_segment.source_increments.covered_rows IS 'Orders rows with a key at or below the watermark, or no key, when the states were brought up to date';
COMMENT ON COLUMN customer_segment.source_increments.last_day IS 'Latest order day in the states (an as_of before it is refreshed from the orders)';
COMMENT ON COLUMN customer_segment.source_increments.updated_at IS 'When the states were last brought up to date';
COMMENT ON COLUMN customer_segment.source_increments.note IS 'What the last update of the states did';
COMMENT ON COLUMN customer_segment.source_increments.owner IS 'The source''s owner';
SELECT pg_catalog.pg_extension_config_dump('customer_segment.source_increments', '');

-- Key types whose order is built in and whose JSON text reads back the same value.
CREATE FUNCTION customer_segment.check_change_column(source regclass, change_column name)
RETURNS regtype LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    t regtype := customer_segment.column_type(source, change_column);
BEGIN
    IF t NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'numeric'::regtype, 'date'::regtype,
                 'timestamp'::regtype, 'timestamptz'::regtype) THEN
        RAISE EXCEPTION 'change column "%" has type %', change_column, t USING ERRCODE = 'datatype_mismatch',
            HINT = 'Use an ever-increasing integer, numeric, date or timestamp column, such as an identity order id or an inserted_at.';
    END IF;
    RETURN t;
END
$$;
COMMENT ON FUNCTION customer_segment.check_change_column(regclass, name) IS
    'Type of a change column when it is an integer, numeric, date or timestamp type; 42804 otherwise';

CREATE FUNCTION customer_segment.source_states_table(src customer_segment.sources)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || '_states')
$$;
COMMENT ON FUNCTION customer_segment.source_states_table(customer_segment.sources) IS
    'Qualified name of the per-customer states table of an incrementally refreshed source (<name>_states)';

CREATE FUNCTION customer_segment.set_source_change_column(name text, change_column name)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(name);
BEGIN
    IF to_regclass(customer_segment.source_states_table(src)) IS NOT NULL THEN
        EXECUTE format('DROP TABLE %s', customer_segment.source_states_table(src));
    END IF;
    DELETE FROM customer_segment.source_increments i WHERE i.source = src.name;
    IF change_column IS NOT NULL THEN
        PERFORM customer_segment.check_change_column(src.orders, change_column);
        INSERT INTO customer_segment.source_increments (source, change_column, owner)
        VALUES (src.name, change_column, src.registered_by);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.set_source_change_column(text, name) IS
    'Refresh a source incrementally by an ever-increasing key column of its orders (NULL: from all orders every time); '
    'drops the states it kept, so the next refresh builds them';

-- Brings the states of a source up to date (rebuild: from all orders); returns what it did.
CREATE FUNCTION customer_segment.update_source_states(src customer_segment.sources, rebuild boolean DEFAULT false)
RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    inc customer_segment.source_increments;
    states text := customer_segment.source_states_table(src);
    o record;
    key text;
    key_type regtype;
    covered bigint;
    stats record;
    what text;
BEGIN
    SELECT * INTO inc FROM customer_segment.source_increments i WHERE i.source = src.name FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    o := customer_segment.orders_source_sql(src.orders, src.customer_column, src.time_column, src.amount_column, src.time_zone);
    key := format('o.%I', inc.change_column);
    key_type := customer_segment.check_change_column(src.orders, inc.change_column);
    IF to_regclass(states) IS NULL THEN
        EXECUTE format('CREATE TABLE %s (customer_id text PRIMARY KEY, state customer_segment.rfm_summary_state NOT NULL)', states);
        IF current_user <> src.registered_by THEN
            EXECUTE format('ALTER TABLE %s OWNER TO %I', states, src.registered_by);
        END IF;
        EXECUTE format('COMMENT ON TABLE %s IS %L', states,
                       format('Per-customer rfm_summary_state of source %s, kept by incremental refresh', src.name));
        rebuild := true;
        what := 'states built';
    ELSIF rebuild THEN
        what := 'states rebuilt (full refresh)';
    ELSIF inc.watermark IS NULL THEN
        rebuild := true;
        what := 'states built';
    ELSE
        -- Rows below the watermark that appeared or went away (a late commit, a delete) are only seen here.
        EXECUTE format('SELECT count(*) FROM %s WHERE %s OPERATOR(pg_catalog.<=) $1::%s OR %s IS NULL',
                       o.from_clause, key, key_type, key) INTO covered USING inc.watermark;
        IF covered <> inc.covered_rows THEN
            rebuild := true;
            what := format('states rebuilt: %s rows at or below the watermark, %s when it was set', covered, inc.covered_rows);
        END IF;
    END IF;
    -- One statement each, so the rows merged and the watermark come from one snapshot.
    IF rebuild THEN
        EXECUTE format('TRUNCATE %s', states);
        EXECUTE format($q$
            WITH ins AS (
                INSERT INTO %1$s
                SELECT %2$s::text, customer_segment.rfm_state(%3$s, %4$s) FROM %5$s WHERE %2$s IS NOT NULL GROUP BY %2$s
                RETURNING 1
            ), seen AS (
                SELECT to_json(max(%6$s)) #>> '{}' AS watermark, count(*) AS n, max((%3$s)::date) AS last_day FROM %5$s
            )
            SELECT seen.*, merged.customers FROM seen CROSS JOIN (SELECT count(*) AS customers FROM ins) merged
            $q$, states, o.customer_expr, o.time_expr, o.amount_expr, o.from_clause, key) INTO stats;
        UPDATE customer_segment.source_increments i
           SET watermark = stats.watermark, covered_rows = stats.n, last_day = stats.last_day, updated_at = clock_timestamp(),
               note = format('%s from %s rows, %s customers', what, stats.n, stats.customers)
         WHERE i.source = src.name;
    ELSE
        EXECUTE format($q$
            WITH rows AS MATERIALIZED (
                SELECT %2$s AS c, %3$s AS t, %4$s AS a, %6$s AS k FROM %5$s WHERE %6$s OPERATOR(pg_catalog.>) $1::%7$s
            ), ins AS (
                INSERT INTO %1$s AS s
                SELECT c::text, customer_segment.rfm_state(t, a) FROM rows WHERE c IS NOT NULL GROUP BY c
                ON CONFLICT (customer_id) DO UPDATE
                   SET state = (SELECT customer_segment.rfm_state_merge(x) FROM (VALUES (s.state), (excluded.state)) v(x))
                RETURNING 1
            ), seen AS (
                SELECT to_json(max(k)) #>> '{}' AS watermark, count(*) AS n, max(t::date) AS last_day FROM rows
            )
            SELECT seen.*, merged.customers FROM seen CROSS JOIN (SELECT count(*) AS customers FROM ins) merged
            $q$, states, o.customer_expr, o.time_expr, o.amount_expr, o.from_clause, key, key_type)
          INTO stats USING inc.watermark;
        UPDATE customer_segment.source_increments i
           SET watermark = coalesce(stats.watermark, i.watermark), covered_rows = i.covered_rows + stats.n,
               last_day = greatest(i.last_day, stats.last_day), updated_at = clock_timestamp(),
               note = format('%s new rows merged into %s customers', stats.n, stats.customers)
         WHERE i.source = src.name;
    END IF;
    RETURN (SELECT i.note FROM customer_segment.source_increments i WHERE i.source = src.name);
END
$$;
COMMENT ON FUNCTION customer_segment.update_source_states(customer_segment.sources, boolean) IS
    'Merges the orders past the watermark into the states of an incrementally refreshed source, or rebuilds them '
    '(rebuild, first time, or when the rows at or below the watermark changed in number); returns what it did; NULL for other sources';

-- The states a source's helper views read for as_of, or NULL when they read the orders (no change column,
-- states not built, or an as_of before the latest order kept: a state cannot forget orders).
CREATE FUNCTION customer_segment.source_states(src customer_segment.sources, as_of date)
RETURNS regclass LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT to_regclass(customer_segment.source_states_table(src))
      FROM customer_segment.source_increments i
     WHERE i.source = src.name AND i.watermark IS NOT NULL AND (i.last_day IS NULL OR as_of >= i.last_day)
$$;
COMMENT ON FUNCTION customer_segment.source_states(customer_segment.sources, date) IS
    'The states table a source''s helper views read for as_of, or NULL when they read its orders';

-- rfm_analyze and cohort_retention over a table of states (customer_id, state rfm_summary_state).
CREATE FUNCTION customer_segment.rfm_analyze_states(states regclass, as_of date, bins integer DEFAULT 5,
    rule_set text DEFAULT 'standard', granularity text DEFAULT 'day', unit text DEFAULT 'day')
RETURNS TABLE (
    customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
    refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
    monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
    monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
    fm_score float8, rfm_score float8, segment text, action text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    PERFORM customer_segment.check_rfm_arguments(as_of, bins, rule_set, granularity, unit);
    RETURN QUERY EXECUTE customer_segment.rfm_scored_sql(format(
        'SELECT %s::text AS customer_id, customer_segment.rfm_state_summary(%s, $1, $2, $3) AS s FROM %s s',
        customer_segment.safe_key_sql(states, 'customer_id', 's'), customer_segment.state_column_sql(states), states))
    USING as_of, granularity, unit, bins, rule_set;
END
$$;
COMMENT ON FUNCTION customer_segment.rfm_analyze_states(regclass, date, integer, text, text, text) IS
    'rfm_analyze over a table of per-customer states (customer_id, state rfm_summary_state): the same rows '
    'rfm_analyze gives for the orders the states were built from; 22023 when a state holds orders after as_of';

CREATE FUNCTION customer_segment.cohort_retention_states(states regclass, as_of date, period text DEFAULT 'month')
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF as_of IS NULL OR period IS NULL THEN
        RAISE EXCEPTION 'as_of and period must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM customer_segment.check_period(period);
    RETURN QUERY EXECUTE customer_segment.cohort_sql(format(
        'SELECT date_trunc($2, (customer_segment.rfm_state_summary(%1$s, $1)).first_purchase)::date AS cohort,
                customer_segment.rfm_state_activity(%1$s, $1, $2) AS activity
           FROM %2$s s', customer_segment.state_column_sql(states), states)) USING as_of, period;
END
$$;
COMMENT ON FUNCTION customer_segment.cohort_retention_states(regclass, date, text) IS
    'cohort_retention over a table of per-customer states (customer_id, state rfm_summary_state): the same rows '
    'cohort_retention gives for the orders the states were built from';

-- The state column of a states table, checked: it must be of type rfm_summary_state.
CREATE FUNCTION customer_segment.state_column_sql(states regclass)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    IF customer_segment.column_type(states, 'state') <> 'customer_segment.rfm_summary_state'::regtype THEN
        RAISE EXCEPTION 'column "state" of % must be of type customer_segment.rfm_summary_state', states
            USING ERRCODE = 'datatype_mismatch', HINT = 'Build it with customer_segment.rfm_state.';
    END IF;
    RETURN 's.state';
END
$$;
COMMENT ON FUNCTION customer_segment.state_column_sql(regclass) IS
    'SQL for the state column of a states table, after checking its type is rfm_summary_state';

-- What a source's helper views read: its states when they serve as_of, else its orders.
CREATE FUNCTION customer_segment.source_rfm(src customer_segment.sources, as_of date)
RETURNS TABLE (
    customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
    refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
    monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
    monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
    fm_score float8, rfm_score float8, segment text, action text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    states regclass := customer_segment.source_states(src, as_of);
BEGIN
    IF states IS NOT NULL THEN
        RETURN QUERY SELECT * FROM customer_segment.rfm_analyze_states(states, as_of, src.bins, src.rule_set);
    ELSE
        RETURN QUERY SELECT * FROM customer_segment.rfm_analyze(src.orders, src.customer_column, src.time_column,
                                                                src.amount_column, as_of, src.bins, src.rule_set,
                                                                zone => src.time_zone);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.source_rfm(customer_segment.sources, date) IS
    'rfm_analyze of a source as of as_of: from its states when it is refreshed incrementally and they serve as_of, else from its orders';

CREATE FUNCTION customer_segment.source_cohort_retention(src customer_segment.sources, as_of date)
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    states regclass := customer_segment.source_states(src, as_of);
BEGIN
    IF states IS NOT NULL THEN
        RETURN QUERY SELECT * FROM customer_segment.cohort_retention_states(states, as_of, 'month');
    ELSE
        RETURN QUERY SELECT * FROM customer_segment.cohort_retention(src.orders, src.customer_column, src.time_column,
                                                                     src.amount_column, as_of, 'month', src.time_zone);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.source_cohort_retention(customer_segment.sources, date) IS
    'Monthly cohort_retention of a source as of as_of: from its states when they serve as_of, else from its orders';
-- What every column of the helper views means, with its unit and range: the comments BI tools show as
-- descriptions (Metabase, DBeaver, Superset through SQLAlchemy, JDBC's REMARKS).  create_source_views puts
-- them on the plain views and on the materialized views behind them; a test keeps this list equal to the
-- result columns of the source_<helper> functions.
CREATE FUNCTION customer_segment.helper_columns()
RETURNS TABLE (helper text, column_name name, description text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT v.helper, v.column_name::name, v.description FROM (VALUES
    ('customers', 'customer_id', 'Customer, as text'),
    ('customers', 'first_purchase', 'Day of the first purchase on or before as_of (business time zone); NULL with refunds only'),
    ('customers', 'last_purchase', 'Day of the last purchase on or before as_of; NULL with refunds only'),
    ('customers', 'orders', 'Purchase rows (amount >= 0) up to as_of; 0 with refunds only'),
    ('customers', 'purchase_days', 'Distinct days with a purchase'),
    ('customers', 'refunds_count', 'Refund rows (amount < 0)'),
    ('customers', 'recency_days', 'Days from the last purchase to as_of (0 = bought on as_of)'),
    ('customers', 'tenure_days', 'Days from the first purchase to as_of'),
    ('customers', 'revenue', 'Sum of purchase amounts, in the currency of the orders'),
    ('customers', 'refunds', 'Refunded total as a positive amount, in the currency of the orders'),
    ('customers', 'monetary_total', 'Net spend: revenue - refunds, in the currency of the orders (negative with refunds only)'),
    ('customers', 'monetary_avg', 'Net spend per purchase row: monetary_total / orders'),
    ('customers', 'frequency', 'Repeat purchase days: distinct purchase days - 1 (lifetimes'' frequency)'),
    ('customers', 'recency', 'Days from the first to the last purchase day (lifetimes'' recency, unit: day)'),
    ('customers', 't', 'Days from the first purchase day to as_of (lifetimes'' T, unit: day)'),
    ('customers', 'monetary_value', 'Mean spend per repeat purchase day, the first day excluded; 0 when frequency = 0 (lifetimes'' monetary_value)'),
    ('customers', 'r_score', 'Recency score 1..bins of the source (higher = more recent); NULL with refunds only'),
    ('customers', 'f_score', 'Frequency score 1..bins, on orders (higher = more orders); NULL with refunds only'),
    ('customers', 'm_score', 'Monetary score 1..bins, on monetary_total (higher = more spend); NULL with refunds only'),
    ('customers', 'rfm_cell', 'R, F and M scores as one code, e.g. 545'),
    ('customers', 'fm_score', 'Mean of f_score and m_score, 1..bins'),
    ('customers', 'rfm_score', 'Mean of the three scores, 1..bins'),
    ('customers', 'segment', 'Named RFM segment of the source''s rule set (e.g. Champions, At Risk)'),
    ('customers', 'action', 'Recommended marketing action of the segment'),
    ('customers', 'lifecycle_stage', 'prospect, new, active, at risk, lapsed or reactivated as of as_of (see lifecycle_stage)'),
    ('customers', 'quadrant', 'High/Low value (net spend) x High/Low engagement (orders), cut at the medians of buying customers'),
    ('customers', 'tier', 'Tier of the source''s tier ladder by net spend; NULL without a ladder'),
    ('customers', 'p_alive', 'Probability that the customer is still active, 0..1, by the source''s prediction_model (BG/NBD, Pareto/NBD or MBG/NBD); NULL when no model could be fitted'),
    ('customers', 'expected_purchases_90d', 'Expected repeat purchase days in the next 90 days by the source''s prediction_model, >= 0'),
    ('customers', 'expected_spend', 'Gamma-Gamma expected spend per future purchase, in the currency of the orders; NULL when the model has q <= 1'),
    ('customers', 'clv_12m', 'Expected net spend of the next 12 months, discounted at 1% a month, in the currency of the orders'),
    ('customers', 'as_of', 'Last day of the observation window of this refresh (the source''s as_of, or the day of the refresh in its time zone)'),
    ('segments', 'segment', 'Named RFM segment; (not scored) for customers with refunds only'),
    ('segments', 'customers', 'Customers in the segment'),
    ('segments', 'share', 'Share of all customers, 0..1'),
    ('segments', 'revenue', 'Net spend of the segment''s customers, in the currency of the orders'),
    ('segments', 'avg_revenue', 'Mean net spend per customer of the segment'),
    ('segments', 'avg_recency_days', 'Mean days since the last purchase'),
    ('segments', 'avg_orders', 'Mean purchase rows per customer'),
    ('rf_grid', 'r_score', 'Recency score 1..bins (0 = not scored: refunds only)'),
    ('rf_grid', 'f_score', 'Frequency score 1..bins (0 = not scored)'),
    ('rf_grid', 'customers', 'Customers in the R x F cell'),
    ('rf_grid', 'revenue', 'Net spend of the cell''s customers, in the currency of the orders'),
    ('lifecycle', 'lifecycle_stage', 'prospect, new, active, at risk, lapsed or reactivated'),
    ('lifecycle', 'customers', 'Customers in the stage'),
    ('lifecycle', 'revenue', 'Net spend of the stage''s customers, in the currency of the orders'),
    ('tiers', 'tier', 'Tier of the source''s ladder; (none) without a ladder or below its lowest bound'),
    ('tiers', 'customers', 'Customers in the tier'),
    ('tiers', 'revenue', 'Net spend of the tier''s customers, in the currency of the orders'),
    ('cohorts', 'cohort', 'First day of the month of the customers'' first purchase (acquisition cohort)'),
    ('cohorts', 'period_offset', 'Months since the cohort month, 0 = the cohort month itself'),
    ('cohorts', 'cohort_size', 'Customers acquired in the cohort month'),
    ('cohorts', 'observed', 'Customers of the cohort observed this many months after it (the month is on or before as_of)'),
    ('cohorts', 'active', 'Customers of the cohort who bought in this month'),
    ('cohorts', 'active_share', 'active / cohort_size, 0..1'),
    ('cohorts', 'at_risk', 'Customers active in this month and observed in the next'),
    ('cohorts', 'retained', 'Customers active in this month and in the next'),
    ('cohorts', 'retention', 'retained / at_risk, 0..1, month-over-month retention; NULL in the last observed month'),
    ('clusters', 'customer_id', 'Customer, as text (buying customers with a positive net spend)'),
    ('clusters', 'cluster', 'k-means cluster, 1..k of the source'),
    ('clusters', 'distance', 'Distance to the cluster''s centre in the transformed space (log1p, then z-score), >= 0'),
    ('cluster_profiles', 'cluster', 'k-means cluster, 1..k of the source'),
    ('cluster_profiles', 'customers', 'Customers in the cluster'),
    ('cluster_profiles', 'share', 'Share of the clustered customers, 0..1'),
    ('cluster_profiles', 'avg_recency_days', 'Mean days since the last purchase'),
    ('cluster_profiles', 'avg_orders', 'Mean purchase rows per customer'),
    ('cluster_profiles', 'avg_spend', 'Mean net spend per customer, in the currency of the orders'),
    ('cluster_profiles', 'top_segment', 'Commonest RFM segment of the cluster'),
    ('cluster_profiles', 'top_lifecycle_stage', 'Commonest lifecycle stage of the cluster')
    ) v(helper, column_name, description)
$$;
COMMENT ON FUNCTION customer_segment.helper_columns() IS
    'Description, unit and range of every column of the helper views (the column comments BI tools show)';
-- What the helper views of a source compute.  Each helper is a plain view, <name>_<helper>, that BI tools
-- find through information_schema and JDBC like any view, over a materialized view <name>_<helper>_data
-- whose query is one call, SELECT * FROM customer_segment.source_<helper>(name): the computation lives in
-- the extension, so a release changes these functions, not objects in users' schemas.  refresh fills the
-- materialized views; the extension itself reads only them.

-- Per customer: the RFM analysis, lifecycle stage, quadrant, tier and BTYD predictions, as of the source's day.
CREATE FUNCTION customer_segment.source_customers(source text)
RETURNS TABLE (customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
               refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
               monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
               monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
               fm_score float8, rfm_score float8, segment text, action text, lifecycle_stage text, quadrant text,
               tier text, p_alive float8, expected_purchases_90d float8, expected_spend float8, clv_12m float8,
               as_of date)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
#variable_conflict use_column
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
    -- refresh sets it off for a second attempt when the predictions failed on a data error
    predict boolean := coalesce(nullif(current_setting('customer_segment.refresh_predictions', true), ''), 'on')::boolean;
BEGIN
    RETURN QUERY
    WITH a AS MATERIALIZED (
        SELECT a.*, d.as_of
          FROM customer_segment.source_as_of(src.name) d,
               LATERAL customer_segment.source_rfm(src, d.as_of) a
    ), fit AS (
        -- Models only when the data can identify them; otherwise the prediction columns stay NULL.
        SELECT customer_segment.bgnbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE predict AND src.prediction_model = 'bgnbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS bg,
               customer_segment.pareto_nbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE predict AND src.prediction_model = 'pareto_nbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS pn,
               customer_segment.mbgnbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE predict AND src.prediction_model = 'mbgnbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS mb,
               customer_segment.gamma_gamma_fit(a.frequency, a.monetary_value)
                   FILTER (WHERE predict AND f.repeaters >= 10 AND (a.frequency = 0 OR a.monetary_value > 0)) AS gg
          FROM a, (SELECT count(*) AS buyers, count(*) FILTER (WHERE frequency > 0 AND monetary_value > 0) AS repeaters
                     FROM a WHERE orders > 0) f
         WHERE a.orders > 0
    )
    SELECT a.customer_id, a.first_purchase, a.last_purchase, a.orders, a.purchase_days, a.refunds_count,
           a.recency_days, a.tenure_days, a.revenue, a.refunds, a.monetary_total, a.monetary_avg,
           a.frequency, a.recency, a.t, a.monetary_value, a.r_score, a.f_score, a.m_score, a.rfm_cell,
           a.fm_score, a.rfm_score, a.segment, a.action,
           customer_segment.lifecycle_stage(a.first_purchase, a.last_purchase, a.orders, a.as_of),
           CASE WHEN a.orders > 0 THEN customer_segment.quadrant(a.monetary_total, a.orders,
                (customer_segment.score_breakpoints(a.monetary_total, 2) FILTER (WHERE a.orders > 0) OVER ())[1],
                (customer_segment.score_breakpoints(a.orders, 2) FILTER (WHERE a.orders > 0) OVER ())[1],
                'value', 'engagement') END,
           CASE WHEN src.tier_ladder IS NOT NULL THEN customer_segment.tier_for(src.tier_ladder, a.monetary_total) END,
           p.p_alive, p.expected_purchases, p.expected_spend, p.clv,
           a.as_of
      FROM a CROSS JOIN fit,
           LATERAL (SELECT * FROM customer_segment.btyd_predict(CASE WHEN a.orders > 0 THEN fit.bg END, CASE WHEN a.orders > 0 THEN fit.pn END,
                                                                CASE WHEN a.orders > 0 THEN fit.gg END,
                                                                a.frequency, a.recency, a.t, a.monetary_value, 90)
                     WHERE src.prediction_model <> 'mbgnbd'
                    UNION ALL
                    SELECT * FROM customer_segment.btyd_predict_mbgnbd(CASE WHEN a.orders > 0 THEN fit.mb END, CASE WHEN a.orders > 0 THEN fit.gg END,
                                                                       a.frequency, a.recency, a.t, a.monetary_value, 90)
                     WHERE src.prediction_model = 'mbgnbd') p;
END
$$;
COMMENT ON FUNCTION customer_segment.source_customers(text) IS
    'The rows of a source''s customers helper view, computed now: RFM analysis in the source''s time zone '
    '(from its states when it is refreshed incrementally), '
    'lifecycle stage, quadrant, tier, BG/NBD and Gamma-Gamma predictions';

-- The materialized view behind a helper view: the only name the extension reads a helper's rows by.
CREATE FUNCTION customer_segment.source_data(src customer_segment.sources, helper text)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || '_' || helper || '_data')
$$;
COMMENT ON FUNCTION customer_segment.source_data(customer_segment.sources, text) IS
    'Qualified name of the materialized view behind a helper view of a source (<name>_<helper>_data)';

-- The summaries below read the source's customers data, so they show what its last refresh computed.
CREATE FUNCTION customer_segment.source_customers_view(src customer_segment.sources)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT customer_segment.source_data(src, 'customers')
$$;
COMMENT ON FUNCTION customer_segment.source_customers_view(customer_segment.sources) IS
    'Qualified name of the materialized view behind the customers helper view of a source';

CREATE FUNCTION customer_segment.source_segments(source text)
RETURNS TABLE (segment text, customers bigint, share numeric, revenue numeric, avg_revenue numeric,
               avg_recency_days numeric, avg_orders numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT coalesce(segment, '(not scored)'), count(*), round(count(*)::numeric / sum(count(*)) OVER (), 4),
               round(sum(monetary_total)::numeric, 2), round(avg(monetary_total)::numeric, 2),
               round(avg(recency_days), 1), round(avg(orders), 2)
          FROM %s GROUP BY 1$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_segments(text) IS 'Rows of a source''s segments helper view';

CREATE FUNCTION customer_segment.source_rf_grid(source text)
RETURNS TABLE (r_score integer, f_score integer, customers bigint, revenue numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT coalesce(r_score, 0), coalesce(f_score, 0), count(*), round(sum(monetary_total)::numeric, 2)
          FROM %s GROUP BY 1, 2$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_rf_grid(text) IS 'Rows of a source''s rf_grid helper view';

CREATE FUNCTION customer_segment.source_lifecycle(source text)
RETURNS TABLE (lifecycle_stage text, customers bigint, revenue numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT lifecycle_stage, count(*), round(sum(monetary_total)::numeric, 2)
          FROM %s GROUP BY 1$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_lifecycle(text) IS 'Rows of a source''s lifecycle helper view';

CREATE FUNCTION customer_segment.source_tiers(source text)
RETURNS TABLE (tier text, customers bigint, revenue numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT coalesce(tier, '(none)'), count(*), round(sum(monetary_total)::numeric, 2)
          FROM %s GROUP BY 1$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_tiers(text) IS 'Rows of a source''s tiers helper view';

CREATE FUNCTION customer_segment.source_cohorts(source text)
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT c.*
      FROM customer_segment.sources s,
           LATERAL customer_segment.source_cohort_retention(s, customer_segment.source_as_of(s.name)) c
     WHERE s.name = source_cohorts.source
$$;
COMMENT ON FUNCTION customer_segment.source_cohorts(text) IS 'Rows of a source''s cohorts helper view: monthly cohort retention in the source''s time zone';

-- Clusters: k-means on log1p + z-score of (recency_days, orders, monetary_total) of the buying customers
-- with a positive net spend, k from the source, seed 0.
CREATE FUNCTION customer_segment.source_clusters(source text)
RETURNS TABLE (customer_id text, cluster integer, distance float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
BEGIN
    IF src.clusters IS NULL THEN
        RAISE EXCEPTION 'source "%" has no clusters', source USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('SELECT customer_segment.set_source_clusters(%L, 4);', source);
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH c AS MATERIALIZED (
            SELECT customer_id, ARRAY[recency_days, orders, monetary_total]::float8[] AS f
              FROM %s WHERE orders > 0 AND monetary_total > 0
        ), m AS (
            -- no clusters while there are fewer such customers than k
            SELECT customer_segment.kmeans_fit(c.f, $1, 0, 'log1p+zscore') FILTER (WHERE n.customers >= $1) AS m
              FROM c, (SELECT count(*) AS customers FROM c) n
        )
        SELECT c.customer_id, customer_segment.kmeans_assign(m.m, c.f), customer_segment.kmeans_distance(m.m, c.f)
          FROM c, m WHERE m.m IS NOT NULL$q$, customer_segment.source_customers_view(src))
    USING src.clusters;
END
$$;
COMMENT ON FUNCTION customer_segment.source_clusters(text) IS
    'Rows of a source''s clusters helper view: k-means cluster of every buying customer with a positive net spend';

CREATE FUNCTION customer_segment.source_cluster_profiles(source text)
RETURNS TABLE (cluster integer, customers bigint, share numeric, avg_recency_days numeric, avg_orders numeric,
               avg_spend numeric, top_segment text, top_lifecycle_stage text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT k.cluster, count(*), round(count(*)::numeric / sum(count(*)) OVER (), 4),
               round(avg(c.recency_days), 1), round(avg(c.orders), 2), round(avg(c.monetary_total)::numeric, 2),
               mode() WITHIN GROUP (ORDER BY c.segment), mode() WITHIN GROUP (ORDER BY c.lifecycle_stage)
          FROM %s k JOIN %s c USING (customer_id) GROUP BY 1$q$,
        customer_segment.source_data(src, 'clusters'), customer_segment.source_customers_view(src));
END
$$;
COMMENT ON FUNCTION customer_segment.source_cluster_profiles(text) IS
    'Rows of a source''s cluster_profiles helper view: per cluster the size, share, mean recency, orders and spend, and the commonest segment and stage';

-- The helper views of a source, in refresh order: the plain view, the materialized view behind it, its query,
-- unique key and comment.
CREATE FUNCTION customer_segment.source_views(src customer_segment.sources)
RETURNS TABLE (view_name text, data_name text, definition text, unique_key text, comment text, helper text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || v.suffix), customer_segment.source_data(src, substr(v.suffix, 2)),
           format('SELECT * FROM customer_segment.%I(%L)', 'source' || v.suffix, src.name), v.unique_key, v.comment, substr(v.suffix, 2)
      FROM (VALUES
        (1, '_customers', 'customer_id',
         'Per customer: RFM summary, scores, cell, segment and action, lifecycle stage, value/engagement quadrant '
         '(cuts at the medians), tier on the source''s ladder (net spend to as_of), P(alive) and expected '
         'purchases in 90 days (BG/NBD, or Pareto/NBD or MBG/NBD: the source''s prediction_model), Gamma-Gamma expected spend and 12-month CLV at 1% a month (time in days), as of the last refresh'),
        (2, '_segments', 'segment', 'Segment sizes, shares and revenue'),
        (3, '_rf_grid', 'r_score, f_score', 'Customers and revenue per R x F cell (0 = not scored), for heat maps'),
        (4, '_lifecycle', 'lifecycle_stage', 'Customers and revenue per lifecycle stage'),
        (5, '_tiers', 'tier', 'Customers and revenue per tier ((none) without a ladder or below it)'),
        (6, '_cohorts', 'cohort, period_offset', 'Monthly cohort retention matrix: share of each acquisition cohort active k months later'),
        (7, '_clusters', 'customer_id', 'k-means cluster of every buying customer with a positive net spend (log1p + z-score of recency, orders, net spend)'),
        (8, '_cluster_profiles', 'cluster', 'Per k-means cluster: size, share, mean recency, orders and net spend, commonest segment and lifecycle stage')
      ) v(ord, suffix, unique_key, comment)
     WHERE v.ord <= 6 OR src.clusters IS NOT NULL
     ORDER BY v.ord
$$;
COMMENT ON FUNCTION customer_segment.source_views(customer_segment.sources) IS
    'Helper views of a source: the plain view, the materialized view behind it, its query, unique key, comment and helper name';
-- Refresh: recompute a source's helper views, one refresh at a time, logged; refresh_job for schedulers.

-- Recomputes the helper views of a source, in the caller's subtransaction; first brings its states up to
-- date when it is refreshed incrementally (rebuild: from all orders).
CREATE FUNCTION customer_segment.refresh_views(src customer_segment.sources, rebuild boolean DEFAULT false,
    OUT customers bigint, OUT note text)
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    v record;
BEGIN
    PERFORM customer_segment.check_source_views(src);
    note := customer_segment.update_source_states(src, rebuild);
    FOR v IN SELECT * FROM customer_segment.source_views(src) LOOP
        -- CONCURRENTLY keeps the old rows readable during the refresh; it needs data to start from.
        IF (SELECT c.relispopulated FROM pg_class c WHERE c.oid = v.data_name::regclass) THEN
            EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY %s', v.data_name);
        ELSE
            EXECUTE format('REFRESH MATERIALIZED VIEW %s', v.data_name);
        END IF;
    END LOOP;
    EXECUTE format('SELECT count(*) FROM %s', customer_segment.source_customers_view(src)) INTO customers;
    IF src.history_days IS NOT NULL THEN
        PERFORM customer_segment.snapshot_history(src);
    END IF;
END
$$;
COMMENT ON FUNCTION customer_segment.refresh_views(customer_segment.sources, boolean) IS
    'Brings the states of an incrementally refreshed source up to date (rebuild: from all orders), recomputes the helper '
    'views and takes the history snapshot; returns the customers and what happened to the states; used by refresh';

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
        -- The subtransaction is rolled back: every view keeps its previous rows.
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
    INSERT INTO customer_segment.refresh_log (source, started_at, finished_at, customers, status, error, note, owner)
    VALUES (source, started, clock_timestamp(), n, state, msg, note, src.registered_by);
    RETURN state;
END
$$;
COMMENT ON FUNCTION customer_segment.refresh(text, boolean, boolean) IS
    'Recomputes the helper views of a source (concurrently once populated), one refresh at a time (wait => false skips when busy); '
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
-- rows of its month (row security applies through the parent only).  These two functions are the extension's
-- only SECURITY DEFINER code; they take no name from the caller and pin their search_path.
CREATE FUNCTION customer_segment.create_history_partition(day date)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    part text := format('segment_history_%s', to_char(day, 'YYYY_MM'));
BEGIN
    IF day IS NULL OR NOT isfinite(day) THEN
        RAISE EXCEPTION 'snapshot day must be a finite date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
    'Creates the monthly partition of segment_history that holds a snapshot day, owned by the extension''s owner (SECURITY DEFINER)';

CREATE FUNCTION customer_segment.drop_empty_history_partitions()
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
    part name;
    has_rows boolean;
BEGIN
    FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'customer_segment.segment_history'::regclass LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM customer_segment.%I)', part) INTO has_rows;
        IF NOT has_rows THEN
            EXECUTE format('DROP TABLE customer_segment.%I', part);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.drop_empty_history_partitions() IS 'Drops the monthly partitions of segment_history that hold no rows';

CREATE FUNCTION customer_segment.snapshot_history(src customer_segment.sources)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    day date;
    n bigint;
BEGIN
    EXECUTE format('SELECT max(as_of) FROM %s', customer_segment.source_customers_view(src)) INTO day;
    IF day IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM customer_segment.create_history_partition(day);
    -- A second refresh of the same day replaces that day's snapshot.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date = day;
    EXECUTE format('INSERT INTO customer_segment.segment_history
                    SELECT %L, as_of, customer_id, segment, rfm_cell, lifecycle_stage, tier, monetary_total, %L FROM %s',
                   src.name, src.registered_by, customer_segment.source_customers_view(src));
    GET DIAGNOSTICS n = ROW_COUNT;
    -- Retention: older snapshots of this source go; partitions left empty are dropped.
    DELETE FROM customer_segment.segment_history h WHERE h.source = src.name AND h.snapshot_date < day - src.history_days;
    PERFORM customer_segment.drop_empty_history_partitions();
    RETURN n;
END
$$;
COMMENT ON FUNCTION customer_segment.snapshot_history(customer_segment.sources) IS
    'Copies the customers view of a source into segment_history for its as_of day, applies the retention, drops empty partitions';

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

-- The sources row of a source whose helper views a report may read: verified and refreshed at least once.
CREATE FUNCTION customer_segment.get_refreshed_source(source text)
RETURNS customer_segment.sources LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
BEGIN
    src := customer_segment.get_source(source);
    PERFORM customer_segment.check_source_views(src);
    IF NOT (SELECT c.relispopulated FROM pg_class c WHERE c.oid = customer_segment.source_customers_view(src)::regclass) THEN
        RAISE EXCEPTION 'source "%" has not been refreshed yet', source USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('SELECT customer_segment.refresh(%L);', source);
    END IF;
    RETURN src;
END
$$;
COMMENT ON FUNCTION customer_segment.get_refreshed_source(text) IS
    'The sources row of a registered source whose helper views are verified (check_source_views) and populated; 55000 before the first refresh';

-- A report for psql and terminals.
CREATE FUNCTION customer_segment.report(source text, top integer DEFAULT 10)
RETURNS SETOF text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    cust text;
    r record;
    line text;
    max_n bigint;
    shades text[] := ARRAY[' ', '░', '▒', '▓', '█'];
BEGIN
    IF top IS NULL THEN
        RAISE EXCEPTION 'top must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    ELSIF top < 0 THEN
        RAISE EXCEPTION 'top must be a number of customers, 0 or more' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', top);
    END IF;
    src := customer_segment.get_refreshed_source(source);
    cust := customer_segment.source_customers_view(src);
    EXECUTE format('SELECT max(as_of)::text FROM %s', cust) INTO line;
    RETURN NEXT format('Customer segments of %s as of %s', source, line);
    RETURN NEXT '';
    RETURN NEXT format('%-20s %9s %7s %14s  %s', 'segment', 'customers', 'share', 'revenue', '');
    EXECUTE format('SELECT max(customers) FROM %s', customer_segment.source_data(src, 'segments')) INTO max_n;
    FOR r IN EXECUTE format('SELECT * FROM %s ORDER BY revenue DESC NULLS LAST', customer_segment.source_data(src, 'segments')) LOOP
        RETURN NEXT format('%-20s %9s %6s%% %14s  %s', r.segment, r.customers, to_char(100 * r.share, 'FM990.0'),
                           to_char(r.revenue, 'FM999,999,999,990'), repeat('■', greatest(1, (40.0 * r.customers / max_n)::int)));
    END LOOP;
    RETURN NEXT '';
    RETURN NEXT 'Recency x frequency: customers per cell (shade = share of the busiest cell)';
    RETURN NEXT format('%6s %s', 'R \ F', (SELECT string_agg(format('%8s', f), '') FROM generate_series(1, src.bins) f));
    EXECUTE format('SELECT max(customers) FROM %s WHERE r_score > 0', customer_segment.source_data(src, 'rf_grid')) INTO max_n;
    FOR r IN EXECUTE format($q$
        SELECT g.r, string_agg(format('%%s%%7s', ($1)[1 + least(4, ceil(4.0 * coalesce(x.customers, 0) / $2)::int)],
                                      coalesce(x.customers, 0)), '' ORDER BY g2.f) AS cells
          FROM generate_series(%1$s, 1, -1) g(r) CROSS JOIN LATERAL generate_series(1, %1$s) g2(f)
          LEFT JOIN %2$s x ON x.r_score = g.r AND x.f_score = g2.f
         GROUP BY g.r ORDER BY g.r DESC$q$, src.bins, customer_segment.source_data(src, 'rf_grid')) USING shades, max_n LOOP
        RETURN NEXT format('%6s %s', r.r, r.cells);
    END LOOP;
    RETURN NEXT '';
    RETURN NEXT 'Lifecycle stages';
    FOR r IN EXECUTE format('SELECT * FROM %s ORDER BY customers DESC', customer_segment.source_data(src, 'lifecycle')) LOOP
        RETURN NEXT format('%-14s %9s', r.lifecycle_stage, r.customers);
    END LOOP;
    IF src.tier_ladder IS NOT NULL THEN
        RETURN NEXT '';
        RETURN NEXT format('Tiers (%s)', src.tier_ladder);
        FOR r IN EXECUTE format('SELECT t.tier, t.customers FROM %s t LEFT JOIN customer_segment.tier_ladders l
                                  ON l.ladder = %L AND l.tier = t.tier ORDER BY l.rank DESC NULLS LAST',
                                 customer_segment.source_data(src, 'tiers'), src.tier_ladder) LOOP
            RETURN NEXT format('%-14s %9s', r.tier, r.customers);
        END LOOP;
    END IF;
    RETURN NEXT '';
    RETURN NEXT format('Top %s customers by net spend', top);
    FOR r IN EXECUTE format('SELECT customer_id, rfm_cell, segment, orders, monetary_total FROM %s
                              ORDER BY monetary_total DESC, customer_id LIMIT %s', cust, top) LOOP
        RETURN NEXT format('%-12s %5s  %-20s %6s orders %12s', r.customer_id, r.rfm_cell, r.segment, r.orders,
                           to_char(r.monetary_total, 'FM999,999,990.00'));
    END LOOP;
END
$$;
COMMENT ON FUNCTION customer_segment.report(text, integer) IS 'Text report of a refreshed source: segments with bars, shaded R x F grid, lifecycle stages, top customers';

-- A self-contained HTML report of a source: inline SVG charts, no scripts, no external assets.  The three
-- chart functions are plain SQL over arrays so a user can draw their own rows with them too.

CREATE FUNCTION customer_segment.html_escape(value text)
RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT replace(replace(replace(replace(replace(value, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;')
$$;
COMMENT ON FUNCTION customer_segment.html_escape(text) IS 'Text with & < > " and '' replaced by HTML entities (safe in element text and quoted attributes)';

-- A number as chart labels show it: thousands separated, `decimals` decimals (NULL: none for a whole number, else 2).
CREATE FUNCTION customer_segment.svg_number(value float8, decimals integer DEFAULT 0)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN value IS NULL OR NOT abs(value) < 'Infinity' THEN '' ELSE
           to_char(round(value::numeric, d), 'FM999,999,999,999,990' || CASE WHEN d > 0 THEN '.' || repeat('0', d) ELSE '' END) END
      FROM (SELECT coalesce(decimals, CASE WHEN value = trunc(value) THEN 0 ELSE 2 END) AS d) x
$$;
COMMENT ON FUNCTION customer_segment.svg_number(float8, integer) IS 'A number for a chart label: thousands separators, rounded to decimals (NULL: 0 for a whole number, else 2); empty for NULL, NaN and infinities';

-- Charts draw finite numbers only: NaN and infinities become NULL (not drawn).
CREATE FUNCTION customer_segment.svg_finite(vals float8[])
RETURNS float8[] LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT array_agg(CASE WHEN abs(v) < 'Infinity' THEN v END ORDER BY i) FROM unnest(vals) WITH ORDINALITY u(v, i)
$$;
COMMENT ON FUNCTION customer_segment.svg_finite(float8[]) IS 'The array with NaN and infinities replaced by NULL';

-- The fill of a heat-map cell: white-blue ramp by share (0..1) of the largest value; light grey for none.
CREATE FUNCTION customer_segment.svg_heat_colour(share float8)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    SELECT CASE WHEN share IS NULL OR share = 'NaN' THEN '#eeeeee' ELSE
           format('#%s%s%s', lpad(to_hex(round(247 - 239 * s)::int), 2, '0'), lpad(to_hex(round(251 - 170 * s)::int), 2, '0'),
                  lpad(to_hex(round(255 - 99 * s)::int), 2, '0')) END
      FROM (SELECT least(1, greatest(0, share)) AS s) x
$$;
COMMENT ON FUNCTION customer_segment.svg_heat_colour(float8) IS 'Heat-map fill for a share 0..1 (#f7fbff to #08519c); #eeeeee for NULL';

CREATE FUNCTION customer_segment.svg_bar_chart(labels text[], vals float8[], notes text[] DEFAULT NULL)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    WITH rows AS (
        SELECT u.label, u.value, u.note, u.i, max(greatest(u.value, 0)) OVER () AS top
          FROM unnest(labels, customer_segment.svg_finite(vals), coalesce(notes, '{}'::text[])) WITH ORDINALITY AS u(label, value, note, i)
         WHERE u.i <= cardinality(labels)
    ), rows_len AS (
        SELECT x.*, coalesce(round(360 * greatest(x.value, 0) / nullif(x.top, 0))::int, 0) AS len FROM rows x
    )
    SELECT format('<svg class="chart bars" width="900" height="%s" viewBox="0 0 900 %1$s" role="img">', 24 * count(*) + 8)
           || coalesce(string_agg(format('<text x="194" y="%1$s" text-anchor="end">%2$s</text><rect x="200" y="%3$s" width="%4$s" height="16" fill="#4e79a7"><title>%5$s</title></rect><text x="%6$s" y="%1$s">%5$s</text>',
                                         24 * r.i - 6, customer_segment.html_escape(coalesce(r.label, '(none)')), 24 * r.i - 19, r.len,
                                         customer_segment.html_escape(coalesce(r.note, customer_segment.svg_number(r.value, NULL))), 206 + r.len),
                                  '' ORDER BY r.i), '')
           || '</svg>'
      FROM rows_len r
$$;
COMMENT ON FUNCTION customer_segment.svg_bar_chart(text[], float8[], text[]) IS
    'Inline SVG of horizontal bars: one per label, length proportional to the value (negative and NULL values draw none), the note (default: the value) after it';

CREATE FUNCTION customer_segment.svg_heat_map(row_labels text[], column_labels text[], cells float8[],
    cell_notes text[] DEFAULT NULL, row_title text DEFAULT '', column_title text DEFAULT '', cell_width integer DEFAULT 48)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    WITH finite AS MATERIALIZED (   -- once, not per cell
        SELECT customer_segment.svg_finite(cells) AS cells
    ), grid AS (
        SELECT r.label AS row_label, r.i, c.label AS column_label, c.j,
               f.cells[(r.i - 1) * cardinality(column_labels) + c.j] AS value,
               cell_notes[(r.i - 1) * cardinality(column_labels) + c.j] AS note
          FROM finite f, unnest(row_labels) WITH ORDINALITY r(label, i), unnest(column_labels) WITH ORDINALITY c(label, j)
    ), scaled AS (
        SELECT g.*, g.value / nullif(max(abs(g.value)) OVER (), 0) AS share FROM grid g
    )
    SELECT format('<svg class="chart heat" width="%s" height="%s" viewBox="0 0 %1$s %2$s" role="img">',
                  110 + cell_width * greatest(cardinality(column_labels), 1), 44 + 22 * greatest(cardinality(row_labels), 1))
           || format('<text x="%s" y="12" text-anchor="middle" class="axis">%s</text>', 110 + cell_width * cardinality(column_labels) / 2,
                     customer_segment.html_escape(column_title))
           || format('<text x="4" y="30" class="axis">%s</text>', customer_segment.html_escape(row_title))
           || (SELECT coalesce(string_agg(format('<text x="%s" y="34" text-anchor="middle">%s</text>', 110 + cell_width * (c.j - 1) + cell_width / 2,
                                                 customer_segment.html_escape(c.label)), '' ORDER BY c.j), '')
                 FROM unnest(column_labels) WITH ORDINALITY c(label, j))
           || (SELECT coalesce(string_agg(format('<text x="104" y="%s" text-anchor="end">%s</text>', 40 + 22 * r.i - 7,
                                                 customer_segment.html_escape(r.label)), '' ORDER BY r.i), '')
                 FROM unnest(row_labels) WITH ORDINALITY r(label, i))
           || coalesce(string_agg(format('<rect x="%s" y="%s" width="%s" height="21" fill="%s"><title>%s, %s: %s</title></rect>%s',
                                         110 + cell_width * (s.j - 1), 40 + 22 * (s.i - 1), cell_width - 1,
                                         customer_segment.svg_heat_colour(s.share), customer_segment.html_escape(s.row_label),
                                         customer_segment.html_escape(s.column_label),
                                         customer_segment.html_escape(coalesce(s.note, nullif(customer_segment.svg_number(s.value, NULL), ''), 'none')),
                                         CASE WHEN s.value IS NOT NULL THEN
                                             format('<text x="%s" y="%s" text-anchor="middle" fill="%s" class="cell">%s</text>',
                                                    110 + cell_width * (s.j - 1) + cell_width / 2, 40 + 22 * s.i - 7,
                                                    CASE WHEN s.share > 0.55 THEN '#ffffff' ELSE '#222222' END,
                                                    customer_segment.html_escape(coalesce(s.note, customer_segment.svg_number(s.value, NULL)))) ELSE '' END),
                                  '' ORDER BY s.i, s.j), '')
           || '</svg>'
      FROM scaled s
$$;
COMMENT ON FUNCTION customer_segment.svg_heat_map(text[], text[], float8[], text[], text, text, integer) IS
    'Inline SVG heat map: cells[(i - 1) * columns + j] is row i, column j (row-major), shaded by its share of the largest |value| '
    '(grey when NULL) and labelled with its note (default: the value)';

CREATE FUNCTION customer_segment.svg_line_chart(x float8[], series text[], y float8[], marker_x float8 DEFAULT NULL,
    x_title text DEFAULT '', y_title text DEFAULT '', marker_label text DEFAULT '')
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
    WITH finite AS MATERIALIZED (   -- once, not per point
        SELECT customer_segment.svg_finite(svg_line_chart.y) AS y
    ), pts AS (
        SELECT s.name, s.k, p.x, f.y[(s.k - 1) * cardinality(svg_line_chart.x) + p.i] AS y
          FROM finite f, unnest(series) WITH ORDINALITY s(name, k), unnest(customer_segment.svg_finite(svg_line_chart.x)) WITH ORDINALITY p(x, i)
    ), box AS (
        SELECT min(p.x) AS x0, max(p.x) AS x1, least(0, min(p.y)) AS y0, greatest(max(p.y), 0) AS y1 FROM pts p
    ), scale AS (
        SELECT b.x0, b.x1, b.y0, b.y1 + (b.y1 = b.y0)::int AS y1, nullif(b.x1 - b.x0, 0) AS dx FROM box b
    ), lines AS (
        SELECT p.k, p.name, string_agg(format('%s,%s', round((60 + 520 * coalesce((p.x - sc.x0) / sc.dx, 0.5))::numeric, 1),
                                              round((290 - 270 * (p.y - sc.y0) / (sc.y1 - sc.y0))::numeric, 1)), ' ' ORDER BY p.x) AS points
          FROM pts p, scale sc WHERE p.y IS NOT NULL AND p.x IS NOT NULL GROUP BY p.k, p.name
    ), palette(colours) AS (VALUES (ARRAY['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1']))
    SELECT '<svg class="chart lines" width="760" height="330" viewBox="0 0 760 330" role="img">'
           || '<line x1="60" y1="290" x2="580" y2="290" stroke="#888"/><line x1="60" y1="20" x2="60" y2="290" stroke="#888"/>'
           || (SELECT string_agg(format('<text x="54" y="%s" text-anchor="end">%s</text><line x1="60" y1="%s" x2="580" y2="%3$s" stroke="#e4e4e4"/>',
                                        round(290 - 270 * t / 4.0 + 4), customer_segment.svg_number(sc.y0 + (sc.y1 - sc.y0) * t / 4.0,
                                        CASE WHEN sc.y1 - sc.y0 < 4 THEN 2 ELSE 0 END), round(290 - 270 * t / 4.0)), '' ORDER BY t)
                 FROM generate_series(0, 4) t)
           || (SELECT string_agg(format('<text x="%s" y="306" text-anchor="middle">%s</text>', round(60 + 520 * t / 5.0),
                                        customer_segment.svg_number(sc.x0 + coalesce(sc.dx, 0) * t / 5.0, CASE WHEN coalesce(sc.dx, 0) < 5 THEN 1 ELSE 0 END)), '' ORDER BY t)
                 FROM generate_series(0, 5) t)
           || format('<text x="320" y="324" text-anchor="middle" class="axis">%s</text><text x="60" y="12" class="axis">%s</text>',
                     customer_segment.html_escape(x_title), customer_segment.html_escape(y_title))
           || CASE WHEN marker_x IS NOT NULL AND sc.dx IS NOT NULL AND marker_x BETWEEN sc.x0 AND sc.x1 THEN
                  format('<line x1="%s" y1="20" x2="%1$s" y2="290" stroke="#666" stroke-dasharray="4 3"/><text x="%s" y="30">%s</text>',
                         round((60 + 520 * (marker_x - sc.x0) / sc.dx)::numeric, 1), round((64 + 520 * (marker_x - sc.x0) / sc.dx)::numeric, 1),
                         customer_segment.html_escape(marker_label)) ELSE '' END
           || coalesce((SELECT string_agg(format('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>'
                                                 '<rect x="596" y="%4$s" width="14" height="4" fill="%1$s"/><text x="616" y="%5$s">%3$s</text>',
                                                 pl.colours[1 + (l.k - 1) % 6], l.points, customer_segment.html_escape(l.name),
                                                 24 + 20 * l.k - 6, 24 + 20 * l.k), '' ORDER BY l.k)
                          FROM lines l, palette pl), '')
           || '</svg>'
      FROM scale sc
$$;
COMMENT ON FUNCTION customer_segment.svg_line_chart(float8[], text[], float8[], float8, text, text, text) IS
    'Inline SVG line chart: series k has the points (x[i], y[(k - 1) * cardinality(x) + i]) (series-major; NULL and NaN skipped), '
    'axes from 0 or the least value, a legend, and a dashed vertical marker at marker_x';

-- The report: what `report` prints, drawn, plus the cohort retention heat map and, unless holdout_weeks is 0,
-- both purchase models fitted on the orders up to holdout_weeks before the views' as_of and checked against the
-- weeks after it (btyd_evaluate, btyd_tracking, btyd_conditional_expectations).
CREATE FUNCTION customer_segment.report_html(source text, holdout_weeks integer DEFAULT 26)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src customer_segment.sources;
    cust text;
    as_of date;
    calibration_end date;
    body text;
    part text;
    n_customers bigint;
    revenue numeric;
    problem text;
BEGIN
    IF holdout_weeks IS NULL THEN
        RAISE EXCEPTION 'holdout_weeks must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass 0 for a report without the model charts.';
    ELSIF holdout_weeks < 0 OR holdout_weeks > 520 THEN
        RAISE EXCEPTION 'holdout_weeks must be between 0 and 520' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', holdout_weeks);
    END IF;
    src := customer_segment.get_refreshed_source(source);
    cust := customer_segment.source_customers_view(src);
    EXECUTE format('SELECT max(as_of), count(*), sum(monetary_total) FROM %s', cust) INTO as_of, n_customers, revenue;
    as_of := coalesce(as_of, customer_segment.source_as_of(source));   -- no customer yet: the source's as_of

    body := format('<h1>Customer segments of %s</h1><p class="meta">As of %s (%s), %s customers, net revenue %s. '
                   'Orders: %s. Generated by customer_segment.report_html.</p>',
                   customer_segment.html_escape(source), as_of, customer_segment.html_escape(src.time_zone),
                   customer_segment.svg_number(n_customers), customer_segment.svg_number(coalesce(revenue, 0), 2),
                   customer_segment.html_escape(src.orders::text));

    EXECUTE format($q$SELECT customer_segment.svg_bar_chart(array_agg(segment ORDER BY revenue DESC NULLS LAST, segment),
                                                           array_agg(customers::float8 ORDER BY revenue DESC NULLS LAST, segment),
                                                           array_agg(format('%%s customers (%%s%%%%), revenue %%s', customers,
                                                                            to_char(100 * share, 'FM990.0'), customer_segment.svg_number(revenue, 0))
                                                                     ORDER BY revenue DESC NULLS LAST, segment)) FROM %s$q$,
                   customer_segment.source_data(src, 'segments')) INTO part;
    body := body || '<h2>RFM segments</h2><p>Customers per segment of the rule set '
            || customer_segment.html_escape(src.rule_set) || ', by revenue.</p>' || coalesce(part, '');

    EXECUTE format($q$SELECT customer_segment.svg_heat_map(
                          (SELECT array_agg(r::text ORDER BY r DESC) FROM generate_series(1, %1$s) r),
                          (SELECT array_agg(f::text ORDER BY f) FROM generate_series(1, %1$s) f),
                          array_agg(coalesce(x.customers, 0)::float8 ORDER BY g.r DESC, g2.f),
                          NULL, 'R score', 'F score')
                        FROM generate_series(1, %1$s) g(r) CROSS JOIN generate_series(1, %1$s) g2(f)
                        LEFT JOIN %2$s x ON x.r_score = g.r AND x.f_score = g2.f$q$,
                   src.bins, customer_segment.source_data(src, 'rf_grid')) INTO part;
    body := body || '<h2>Recency &times; frequency</h2><p>Customers per R (rows, 5 = most recent) and F score (columns); '
            || 'customers without a purchase are not scored and not shown.</p>' || part;

    EXECUTE format($q$SELECT customer_segment.svg_bar_chart(array_agg(lifecycle_stage ORDER BY customers DESC, lifecycle_stage),
                                                           array_agg(customers::float8 ORDER BY customers DESC, lifecycle_stage))
                        FROM %s$q$, customer_segment.source_data(src, 'lifecycle')) INTO part;
    body := body || '<h2>Lifecycle stages</h2>' || coalesce(part, '');
    IF src.tier_ladder IS NOT NULL THEN
        EXECUTE format($q$SELECT customer_segment.svg_bar_chart(array_agg(t.tier ORDER BY l.rank DESC NULLS LAST, t.tier),
                                                               array_agg(t.customers::float8 ORDER BY l.rank DESC NULLS LAST, t.tier))
                            FROM %s t LEFT JOIN customer_segment.tier_ladders l ON l.ladder = %L AND l.tier = t.tier$q$,
                       customer_segment.source_data(src, 'tiers'), src.tier_ladder) INTO part;
        body := body || format('<h2>Tiers (%s)</h2>', customer_segment.html_escape(src.tier_ladder)) || coalesce(part, '');
    END IF;

    -- The 24 latest monthly cohorts and their first 24 months.
    EXECUTE format($q$WITH c AS (SELECT * FROM %s WHERE cohort >= (SELECT max(cohort) FROM %1$s) - interval '23 months'
                                                    AND period_offset < 24),
                        k AS (SELECT DISTINCT cohort FROM c), o AS (SELECT DISTINCT period_offset FROM c)
                     SELECT customer_segment.svg_heat_map(
                                (SELECT array_agg(format('%%s (%%s)', to_char(cohort, 'YYYY-MM'), n) ORDER BY cohort)
                                   FROM (SELECT cohort, max(cohort_size) AS n FROM c GROUP BY cohort) s),
                                (SELECT array_agg(period_offset::text ORDER BY period_offset) FROM o),
                                array_agg(c.active_share ORDER BY k.cohort, o.period_offset),
                                array_agg(to_char(100 * c.active_share, 'FM990') ORDER BY k.cohort, o.period_offset),
                                'cohort (size)', 'months after the first purchase', 32)
                       FROM k CROSS JOIN o LEFT JOIN c ON c.cohort = k.cohort AND c.period_offset = o.period_offset$q$,
                   customer_segment.source_data(src, 'cohorts')) INTO part;
    body := body || '<h2>Cohort retention</h2><p>Percent of each monthly acquisition cohort buying in each later month '
            || '(the 24 latest cohorts, their first 24 months; grey: not observed yet).</p>' || coalesce(part, '<p>No cohorts.</p>');

    IF holdout_weeks > 0 THEN
        calibration_end := as_of - 7 * holdout_weeks;
        BEGIN
            body := body || customer_segment.report_html_models(src, calibration_end, as_of);
        EXCEPTION WHEN data_exception OR object_not_in_prerequisite_state THEN
            GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT;
            RAISE WARNING 'report_html: no model charts for source "%": %', source, problem;
            body := body || format('<h2>Purchase models</h2><p class="problem">Not shown: the models could not be evaluated on '
                                   'the orders to %s with the %s weeks after as the holdout: %s</p>',
                                   calibration_end, holdout_weeks, customer_segment.html_escape(problem));
        END;
    END IF;

    RETURN '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        || format('<title>Customer segments of %s</title>', customer_segment.html_escape(source))
        || '<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1000px}'
        || 'h2{margin-top:32px;border-bottom:1px solid #ddd}svg text{font:12px system-ui,sans-serif}'
        || 'svg text.cell{font-size:11px}svg text.axis{fill:#555}.meta{color:#555}.problem{color:#a00}'
        || 'table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}'
        || 'th:first-child,td:first-child{text-align:left}</style></head><body>'
        || body || '</body></html>';
END
$$;
COMMENT ON FUNCTION customer_segment.report_html(text, integer) IS
    'Self-contained HTML report of a refreshed source (inline SVG, no scripts or external assets): segment bars, R x F heat map, '
    'lifecycle stages, tiers, cohort retention heat map and, unless holdout_weeks = 0, both purchase models evaluated on the last '
    'holdout_weeks weeks: holdout metrics, tracking and conditional-expectation charts';

-- The model part of report_html: BG/NBD and Pareto/NBD fitted on the orders to calibration_end, against
-- the purchases up to observation_end.
CREATE FUNCTION customer_segment.report_html_models(src customer_segment.sources, calibration_end date, observation_end date)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    metrics text;
    tracking text;
    conditional text;
BEGIN
    SELECT string_agg(format('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>',
                             CASE e.model WHEN 'bgnbd' THEN 'BG/NBD' WHEN 'mbgnbd' THEN 'MBG/NBD' ELSE 'Pareto/NBD' END, customer_segment.svg_number(e.customers),
                             customer_segment.svg_number(e.actual_purchases), customer_segment.svg_number(e.predicted_purchases, 1),
                             to_char(100 * e.total_error, 'FMS990.0') || '%', customer_segment.svg_number(e.mae, 3),
                             customer_segment.svg_number(e.rmse, 3), coalesce(customer_segment.svg_number(e.holdout_log_likelihood, 1), 'n/a'),
                             CASE WHEN e.converged THEN 'yes' ELSE 'no' END), '' ORDER BY e.model)
      INTO metrics
      FROM customer_segment.btyd_evaluate(src.orders, src.customer_column, src.time_column, src.amount_column,
                                          calibration_end, observation_end, 'week', src.time_zone) e;
    IF metrics IS NULL THEN
        RAISE EXCEPTION 'no customer of source "%" bought by %', src.name, calibration_end
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Pass a shorter holdout_weeks.';
    END IF;
    SELECT customer_segment.svg_line_chart(array_agg(t.period::float8 ORDER BY t.period),
               ARRAY['actual', 'BG/NBD', 'Pareto/NBD'],
               array_agg(t.actual_cumulative::float8 ORDER BY t.period) || array_agg(t.bgnbd_cumulative ORDER BY t.period)
                   || array_agg(t.pareto_nbd_cumulative ORDER BY t.period),
               min(t.period) FILTER (WHERE t.holdout)::float8 - 0.5, 'weeks since the first acquisition', 'repeat purchase days, cumulative',
               'holdout')
      INTO tracking
      FROM customer_segment.btyd_tracking(src.orders, src.customer_column, src.time_column, src.amount_column,
                                          calibration_end, observation_end, 'week', src.time_zone) t;
    SELECT customer_segment.svg_line_chart(array_agg(c.frequency_cal::float8 ORDER BY c.frequency_cal),
               ARRAY['actual', 'BG/NBD', 'Pareto/NBD'],
               array_agg(c.actual ORDER BY c.frequency_cal) || array_agg(c.bgnbd ORDER BY c.frequency_cal)
                   || array_agg(c.pareto_nbd ORDER BY c.frequency_cal),
               NULL, 'repeat purchase days in the calibration window (7 = 7 or more)', 'mean purchase days in the holdout')
      INTO conditional
      FROM customer_segment.btyd_conditional_expectations(src.orders, src.customer_column, src.time_column, src.amount_column,
                                                          calibration_end, observation_end, 'week', src.time_zone) c;
    RETURN format('<h2>Purchase models</h2><p>BG/NBD, MBG/NBD and Pareto/NBD fitted on the orders to %s, forecasting the purchase '
                  'days of the same customers from then to %s (the holdout); the charts show BG/NBD and Pareto/NBD.</p>',
                  calibration_end, observation_end)
        || '<table class="metrics"><tr><th>model</th><th>customers</th><th>actual</th><th>predicted</th><th>total error</th>'
        || '<th>MAE</th><th>RMSE</th><th>holdout log-likelihood</th><th>converged</th></tr>' || coalesce(metrics, '') || '</table>'
        || '<h3>Tracking: cumulative repeat purchase days, actual and expected</h3>' || coalesce(tracking, '')
        || '<h3>Conditional expectations: holdout purchases by calibration frequency</h3>' || coalesce(conditional, '');
END
$$;
COMMENT ON FUNCTION customer_segment.report_html_models(customer_segment.sources, date, date) IS
    'The purchase-model section of report_html: holdout metrics table, tracking and conditional-expectation charts';
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
-- Privileges: what an ordinary role may read and change in the extension's tables (doc/operations.md, Privileges).
--
-- Every function runs with the rights of its caller (the history partition helpers excepted), so reading an
-- orders table through the extension needs SELECT on it, and a refresh runs as the owner of the source's
-- views.  The tables are shared by all roles that have USAGE on the schema; row-level security decides whose
-- rows each role sees and changes:
--   rule sets, tier ladders, value-grid names  readable by all, changed only by the set's owner;
--   sources, refresh_log, segment_history,
--   source_increments                          seen and changed only by the source's owner.
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

-- Sources: a role sees and changes its own.  It registers them as itself (register_source), may change the
-- settings a refresh reads, but not which table, columns or schema a source reads and writes.
ALTER TABLE customer_segment.sources ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.sources FOR SELECT USING (customer_segment.acts_as(registered_by));
CREATE POLICY owner_registers ON customer_segment.sources FOR INSERT WITH CHECK (registered_by OPERATOR(pg_catalog.=) CURRENT_USER);
CREATE POLICY owner_changes ON customer_segment.sources FOR UPDATE USING (customer_segment.acts_as(registered_by));
CREATE POLICY owner_unregisters ON customer_segment.sources FOR DELETE USING (customer_segment.acts_as(registered_by));
GRANT SELECT, INSERT, DELETE ON customer_segment.sources TO PUBLIC;
GRANT UPDATE (bins, rule_set, as_of, tier_ladder, history_days, time_zone, clusters, prediction_model) ON customer_segment.sources TO PUBLIC;

-- The refresh log and the history: rows carry the owner of their source.  The log is append-only for users.
ALTER TABLE customer_segment.refresh_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON customer_segment.refresh_log FOR SELECT USING (customer_segment.acts_as(owner));
CREATE POLICY owner_logs ON customer_segment.refresh_log FOR INSERT WITH CHECK (customer_segment.acts_as(owner));
GRANT SELECT, INSERT ON customer_segment.refresh_log TO PUBLIC;
ALTER TABLE customer_segment.segment_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON customer_segment.segment_history FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
GRANT SELECT, INSERT, DELETE ON customer_segment.segment_history TO PUBLIC;
-- The incremental state of a source: its owner sets the change column and refresh moves the watermark.
ALTER TABLE customer_segment.source_increments ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON customer_segment.source_increments FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
GRANT SELECT, INSERT, UPDATE, DELETE ON customer_segment.source_increments TO PUBLIC;
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
    IF target_schema IS NULL OR customers IS NULL OR seed IS NULL OR start_date IS NULL OR end_date IS NULL THEN
        RAISE EXCEPTION 'create_sample_store arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF customers < 1 OR customers > 100000000 THEN
        RAISE EXCEPTION 'customers must be between 1 and 100000000' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('Got %s.', customers);
    END IF;
    IF end_date <= start_date OR NOT isfinite(start_date) OR NOT isfinite(end_date) THEN
        RAISE EXCEPTION 'end_date must be a finite date after start_date' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    span := end_date - start_date + 1;
    IF to_regnamespace(quote_ident(target_schema)) IS NULL THEN
        RAISE EXCEPTION 'schema "%" does not exist', target_schema USING ERRCODE = 'invalid_schema_name',
            HINT = format('CREATE SCHEMA %I;', target_schema);
    END IF;
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
-- Install-time helpers are not part of the extension's interface.
DROP FUNCTION customer_segment.install_aggregate(text, text[], text, text, text, text, text, text, text, text, text);
DROP FUNCTION customer_segment.install_state_type(text, text);

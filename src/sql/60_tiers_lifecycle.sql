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

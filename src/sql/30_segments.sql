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
RETURNS integer AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
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

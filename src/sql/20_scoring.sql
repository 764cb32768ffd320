-- Population scoring: exact, tie-safe quantile breakpoints and scores.

CREATE FUNCTION customer_segment.score_breakpoints_trans(internal, float8, integer)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_serialize(internal)
RETURNS bytea AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_deserialize(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_final(internal)
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE customer_segment.score_breakpoints(value float8, bins integer) (
    SFUNC = customer_segment.score_breakpoints_trans,
    STYPE = internal,
    FINALFUNC = customer_segment.score_breakpoints_final,
    -- The final function reorders the collected values in place: the multiset a
    -- later call sees is unchanged, so it counts as read-only (and the
    -- aggregate works as a window function).
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = customer_segment.score_breakpoints_combine,
    SERIALFUNC = customer_segment.score_breakpoints_serialize,
    DESERIALFUNC = customer_segment.score_breakpoints_deserialize,
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

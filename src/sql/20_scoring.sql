-- Population scoring: exact, tie-safe quantile breakpoints and scores.

CREATE TYPE customer_segment.score_breakpoints_state;
CREATE FUNCTION customer_segment.score_breakpoints_state_in(cstring) RETURNS customer_segment.score_breakpoints_state
    AS 'MODULE_PATHNAME', 'score_breakpoints_state_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_state_out(customer_segment.score_breakpoints_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'score_breakpoints_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_state_recv(internal) RETURNS customer_segment.score_breakpoints_state
    AS 'MODULE_PATHNAME', 'score_breakpoints_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_state_send(customer_segment.score_breakpoints_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'score_breakpoints_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE TYPE customer_segment.score_breakpoints_state (INPUT = customer_segment.score_breakpoints_state_in,
    OUTPUT = customer_segment.score_breakpoints_state_out, RECEIVE = customer_segment.score_breakpoints_state_recv, SEND = customer_segment.score_breakpoints_state_send,
    INTERNALLENGTH = VARIABLE, ALIGNMENT = double, STORAGE = extended);
COMMENT ON TYPE customer_segment.score_breakpoints_state IS
    'State of score_breakpoints: the number of bins and every value collected';
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

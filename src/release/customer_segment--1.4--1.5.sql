-- customer_segment 1.4 -> 1.5: every aggregate's state is a real type instead of internal (rfm_summary_state,
-- clv_historical_state, score_breakpoints_state, retention_curve_state, btyd_fit_state, kmeans_state): Citus
-- runs the aggregates in two phases (partial states on the workers, combined on the coordinator) when they
-- are not grouped by the distribution column, and a per-customer summary can be stored, merged with the
-- state of newer orders and finalised later (rfm_state, rfm_state_merge, rfm_state_summary,
-- rfm_state_activity).  Incremental refresh: a source with a change column (set_source_change_column) keeps
-- per-customer states in <name>_states and merges only the orders past its watermark (source_increments,
-- update_source_states, rfm_analyze_states, cohort_retention_states; refresh(..., full)).  Each aggregate keeps its identity (CREATE OR REPLACE AGGREGATE changes the state type
-- in place), so views and materialized views of users that call them are untouched.
\echo Use "ALTER EXTENSION customer_segment UPDATE TO '1.5'" to load this file. \quit

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

SELECT customer_segment.install_state_type('rfm_summary_state',
    'Mergeable per-customer purchase summary (state of rfm_summary, purchase_activity and rfm_state): '
    'counts, exact decimal sums, first/last days and a bitmap of purchase days, 216 bytes plus one bit per day of the customer''s span');
SELECT customer_segment.install_state_type('score_breakpoints_state',
    'State of score_breakpoints: the number of bins and every value collected');
SELECT customer_segment.install_state_type('clv_historical_state',
    'State of clv_historical: the discounting terms (reference day, rate, margin, compounding, zone), the discounted sum and the number of cash flows');
SELECT customer_segment.install_state_type('retention_curve_state',
    'State of retention_curve: customers, and per period offset the observed, active, at-risk and retained counts');
SELECT customer_segment.install_state_type('btyd_fit_state',
    'State of the BTYD fits: the penalizer, the rows skipped and the weighted distinct rows (frequency, recency, T) '
    'or (frequency, monetary_value)');
SELECT customer_segment.install_state_type('kmeans_state',
    'State of kmeans_fit and kmeans_scan: k, seed, transform, and the weighted points kept (a priority sample beyond 1M)');

CREATE FUNCTION customer_segment.rfm_summary_combine(customer_segment.rfm_summary_state, customer_segment.rfm_summary_state)
RETURNS customer_segment.rfm_summary_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_summary_final(customer_segment.rfm_summary_state)
RETURNS customer_segment.customer_summary AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_trans(customer_segment.score_breakpoints_state, float8, integer)
RETURNS customer_segment.score_breakpoints_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_combine(customer_segment.score_breakpoints_state, customer_segment.score_breakpoints_state)
RETURNS customer_segment.score_breakpoints_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.score_breakpoints_final(customer_segment.score_breakpoints_state)
RETURNS float8[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.clv_historical_combine(customer_segment.clv_historical_state, customer_segment.clv_historical_state)
RETURNS customer_segment.clv_historical_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.clv_historical_final(customer_segment.clv_historical_state)
RETURNS float8 AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.rfm_activity_final(customer_segment.rfm_summary_state)
RETURNS varbit AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_trans(customer_segment.retention_curve_state, varbit)
RETURNS customer_segment.retention_curve_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_combine(customer_segment.retention_curve_state, customer_segment.retention_curve_state)
RETURNS customer_segment.retention_curve_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.retention_curve_final(customer_segment.retention_curve_state)
RETURNS customer_segment.retention_counts AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.btyd_fit_combine(customer_segment.btyd_fit_state, customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_fit_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.bgnbd_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.pareto_nbd_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_fit_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.gamma_gamma_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.bgnbd_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.pnbd_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.gg_uncertainty_final(customer_segment.btyd_fit_state)
RETURNS customer_segment.btyd_uncertainty AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_combine(customer_segment.kmeans_state, customer_segment.kmeans_state)
RETURNS customer_segment.kmeans_state AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_fit_final(customer_segment.kmeans_state)
RETURNS customer_segment.kmeans_model AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION customer_segment.kmeans_scan_final(customer_segment.kmeans_state)
RETURNS customer_segment.kmeans_k_score[] AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- Each aggregate over its new state: its transition function takes the state (created unless an
-- aggregate before it shares it), then the aggregate is replaced in place (same OID: objects that use it keep
-- working).  The functions of the internal states go afterwards, when nothing uses them.
DO $$
DECLARE
    a record;
BEGIN
    FOR a IN SELECT * FROM (VALUES
        ('rfm_summary', 'date, numeric, date', 'date, numeric, date', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'date, numeric, date'),
        ('rfm_summary', 'date, double precision, date', 'date, double precision, date', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'date, double precision, date'),
        ('rfm_summary', 'timestamp with time zone, numeric, date', 'timestamp with time zone, numeric, date', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, numeric, date'),
        ('rfm_summary', 'timestamp with time zone, double precision, date', 'timestamp with time zone, double precision, date', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, double precision, date'),
        ('rfm_summary', 'date, numeric, date, text, text', 'date, numeric, date, text, text', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'date, numeric, date, text, text'),
        ('rfm_summary', 'date, double precision, date, text, text', 'date, double precision, date, text, text', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'date, double precision, date, text, text'),
        ('rfm_summary', 'timestamp with time zone, numeric, date, text, text', 'timestamp with time zone, numeric, date, text, text', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, numeric, date, text, text'),
        ('rfm_summary', 'timestamp with time zone, double precision, date, text, text', 'timestamp with time zone, double precision, date, text, text', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, double precision, date, text, text'),
        ('rfm_summary', 'timestamp with time zone, numeric, date, text, text, text', 'timestamp with time zone, numeric, date, text, text, text', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, numeric, date, text, text, text'),
        ('rfm_summary', 'timestamp with time zone, double precision, date, text, text, text', 'timestamp with time zone, double precision, date, text, text, text', 'rfm_summary_trans', 'rfm_summary_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, double precision, date, text, text, text'),
        ('score_breakpoints', 'value double precision, bins integer', 'double precision, integer', 'score_breakpoints_trans', 'score_breakpoints_final', 'score_breakpoints_combine', 'score_breakpoints_state', 'IMMUTABLE', 'double precision, integer'),
        ('clv_historical', 'date, numeric, date, double precision', 'date, numeric, date, double precision', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'date, numeric, date, double precision'),
        ('clv_historical', 'date, double precision, date, double precision', 'date, double precision, date, double precision', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'date, double precision, date, double precision'),
        ('clv_historical', 'timestamp with time zone, numeric, date, double precision', 'timestamp with time zone, numeric, date, double precision', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'timestamp with time zone, numeric, date, double precision'),
        ('clv_historical', 'timestamp with time zone, double precision, date, double precision', 'timestamp with time zone, double precision, date, double precision', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'timestamp with time zone, double precision, date, double precision'),
        ('clv_historical', 'date, numeric, date, double precision, double precision, text', 'date, numeric, date, double precision, double precision, text', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'date, numeric, date, double precision, double precision, text'),
        ('clv_historical', 'date, double precision, date, double precision, double precision, text', 'date, double precision, date, double precision, double precision, text', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'date, double precision, date, double precision, double precision, text'),
        ('clv_historical', 'timestamp with time zone, numeric, date, double precision, double precision, text', 'timestamp with time zone, numeric, date, double precision, double precision, text', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'timestamp with time zone, numeric, date, double precision, double precision, text'),
        ('clv_historical', 'timestamp with time zone, double precision, date, double precision, double precision, text', 'timestamp with time zone, double precision, date, double precision, double precision, text', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'timestamp with time zone, double precision, date, double precision, double precision, text'),
        ('clv_historical', 'timestamp with time zone, numeric, date, double precision, double precision, text, text', 'timestamp with time zone, numeric, date, double precision, double precision, text, text', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'timestamp with time zone, numeric, date, double precision, double precision, text, text'),
        ('clv_historical', 'timestamp with time zone, double precision, date, double precision, double precision, text, text', 'timestamp with time zone, double precision, date, double precision, double precision, text, text', 'clv_historical_trans', 'clv_historical_final', 'clv_historical_combine', 'clv_historical_state', 'STABLE', 'timestamp with time zone, double precision, date, double precision, double precision, text, text'),
        ('purchase_activity', 'date, numeric, date, text', 'date, numeric, date, text', 'rfm_summary_trans', 'rfm_activity_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'date, numeric, date, text'),
        ('purchase_activity', 'date, double precision, date, text', 'date, double precision, date, text', 'rfm_summary_trans', 'rfm_activity_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'date, double precision, date, text'),
        ('purchase_activity', 'timestamp with time zone, numeric, date, text', 'timestamp with time zone, numeric, date, text', 'rfm_summary_trans', 'rfm_activity_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, numeric, date, text'),
        ('purchase_activity', 'timestamp with time zone, double precision, date, text', 'timestamp with time zone, double precision, date, text', 'rfm_summary_trans', 'rfm_activity_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, double precision, date, text'),
        ('purchase_activity', 'timestamp with time zone, numeric, date, text, text', 'timestamp with time zone, numeric, date, text, text', 'rfm_activity_trans', 'rfm_activity_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, numeric, date, text, text'),
        ('purchase_activity', 'timestamp with time zone, double precision, date, text, text', 'timestamp with time zone, double precision, date, text, text', 'rfm_activity_trans', 'rfm_activity_final', 'rfm_summary_combine', 'rfm_summary_state', 'STABLE', 'timestamp with time zone, double precision, date, text, text'),
        ('retention_curve', 'activity bit varying', 'bit varying', 'retention_curve_trans', 'retention_curve_final', 'retention_curve_combine', 'retention_curve_state', 'IMMUTABLE', 'bit varying'),
        ('bgnbd_fit', 'frequency double precision, recency double precision, t double precision', 'frequency double precision, recency double precision, t double precision', 'bgnbd_fit_trans', 'bgnbd_fit_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision'),
        ('bgnbd_fit', 'frequency double precision, recency double precision, t double precision, penalizer double precision', 'frequency double precision, recency double precision, t double precision, penalizer double precision', 'bgnbd_fit_trans', 'bgnbd_fit_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision, double precision'),
        ('pareto_nbd_fit', 'frequency double precision, recency double precision, t double precision', 'frequency double precision, recency double precision, t double precision', 'bgnbd_fit_trans', 'pnbd_fit_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision'),
        ('pareto_nbd_fit', 'frequency double precision, recency double precision, t double precision, penalizer double precision', 'frequency double precision, recency double precision, t double precision, penalizer double precision', 'bgnbd_fit_trans', 'pnbd_fit_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision, double precision'),
        ('gamma_gamma_fit', 'frequency double precision, monetary_value double precision', 'frequency double precision, monetary_value double precision', 'gg_fit_trans', 'gg_fit_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision'),
        ('gamma_gamma_fit', 'frequency double precision, monetary_value double precision, penalizer double precision', 'frequency double precision, monetary_value double precision, penalizer double precision', 'gg_fit_trans', 'gg_fit_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision'),
        ('bgnbd_fit_uncertainty', 'frequency double precision, recency double precision, t double precision', 'frequency double precision, recency double precision, t double precision', 'bgnbd_fit_trans', 'bgnbd_uncertainty_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision'),
        ('bgnbd_fit_uncertainty', 'frequency double precision, recency double precision, t double precision, penalizer double precision', 'frequency double precision, recency double precision, t double precision, penalizer double precision', 'bgnbd_fit_trans', 'bgnbd_uncertainty_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision, double precision'),
        ('pareto_nbd_fit_uncertainty', 'frequency double precision, recency double precision, t double precision', 'frequency double precision, recency double precision, t double precision', 'bgnbd_fit_trans', 'pnbd_uncertainty_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision'),
        ('pareto_nbd_fit_uncertainty', 'frequency double precision, recency double precision, t double precision, penalizer double precision', 'frequency double precision, recency double precision, t double precision, penalizer double precision', 'bgnbd_fit_trans', 'pnbd_uncertainty_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision, double precision'),
        ('gamma_gamma_fit_uncertainty', 'frequency double precision, monetary_value double precision', 'frequency double precision, monetary_value double precision', 'gg_fit_trans', 'gg_uncertainty_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision'),
        ('gamma_gamma_fit_uncertainty', 'frequency double precision, monetary_value double precision, penalizer double precision', 'frequency double precision, monetary_value double precision, penalizer double precision', 'gg_fit_trans', 'gg_uncertainty_final', 'btyd_fit_combine', 'btyd_fit_state', 'IMMUTABLE', 'double precision, double precision, double precision'),
        ('kmeans_fit', 'features double precision[], k integer', 'features double precision[], k integer', 'kmeans_fit_trans', 'kmeans_fit_final', 'kmeans_combine', 'kmeans_state', 'IMMUTABLE', 'double precision[], integer'),
        ('kmeans_fit', 'features double precision[], k integer, seed bigint', 'features double precision[], k integer, seed bigint', 'kmeans_fit_trans', 'kmeans_fit_final', 'kmeans_combine', 'kmeans_state', 'IMMUTABLE', 'double precision[], integer, bigint'),
        ('kmeans_fit', 'features double precision[], k integer, seed bigint, transform text', 'features double precision[], k integer, seed bigint, transform text', 'kmeans_fit_trans', 'kmeans_fit_final', 'kmeans_combine', 'kmeans_state', 'IMMUTABLE', 'double precision[], integer, bigint, text'),
        ('kmeans_fit', 'features double precision[], k integer, seed bigint, transform text, weight double precision', 'features double precision[], k integer, seed bigint, transform text, weight double precision', 'kmeans_fit_trans', 'kmeans_fit_final', 'kmeans_combine', 'kmeans_state', 'IMMUTABLE', 'double precision[], integer, bigint, text, double precision'),
        ('kmeans_scan', 'features double precision[], k_min integer, k_max integer', 'features double precision[], k_min integer, k_max integer', 'kmeans_scan_trans', 'kmeans_scan_final', 'kmeans_combine', 'kmeans_state', 'IMMUTABLE', 'double precision[], integer, integer'),
        ('kmeans_scan', 'features double precision[], k_min integer, k_max integer, seed bigint', 'features double precision[], k_min integer, k_max integer, seed bigint', 'kmeans_scan_trans', 'kmeans_scan_final', 'kmeans_combine', 'kmeans_state', 'IMMUTABLE', 'double precision[], integer, integer, bigint'),
        ('kmeans_scan', 'features double precision[], k_min integer, k_max integer, seed bigint, transform text', 'features double precision[], k_min integer, k_max integer, seed bigint, transform text', 'kmeans_scan_trans', 'kmeans_scan_final', 'kmeans_combine', 'kmeans_state', 'IMMUTABLE', 'double precision[], integer, integer, bigint, text'),
        ('kmeans_scan', 'features double precision[], k_min integer, k_max integer, seed bigint, transform text, weight double precision', 'features double precision[], k_min integer, k_max integer, seed bigint, transform text, weight double precision', 'kmeans_scan_trans', 'kmeans_scan_final', 'kmeans_combine', 'kmeans_state', 'IMMUTABLE', 'double precision[], integer, integer, bigint, text, double precision'))
        v(agg, args, trans_args, trans, final, combine, stype, volatility, arg_types)
    LOOP
        IF to_regprocedure(format('customer_segment.%I(customer_segment.%I, %s)', a.trans, a.stype,
                                  a.arg_types)) IS NULL THEN
            EXECUTE format('CREATE FUNCTION customer_segment.%I(customer_segment.%I, %s) RETURNS customer_segment.%I
                            AS %L, %L LANGUAGE C %s PARALLEL SAFE',
                           a.trans, a.stype, a.trans_args, a.stype, 'MODULE_PATHNAME', a.trans, a.volatility);
        END IF;
        EXECUTE format('CREATE OR REPLACE AGGREGATE customer_segment.%I(%s) (SFUNC = customer_segment.%I,
                        STYPE = customer_segment.%I, FINALFUNC = customer_segment.%I,
                        COMBINEFUNC = customer_segment.%I, PARALLEL = SAFE)',
                       a.agg, a.args, a.trans, a.stype, a.final, a.combine);
    END LOOP;
END
$$;
DROP FUNCTION customer_segment.rfm_summary_combine(internal,internal);
DROP FUNCTION customer_segment.rfm_summary_serialize(internal);
DROP FUNCTION customer_segment.rfm_summary_deserialize(bytea,internal);
DROP FUNCTION customer_segment.rfm_summary_final(internal);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,date,numeric,date);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,date,double precision,date);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,timestamp with time zone,numeric,date);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,timestamp with time zone,double precision,date);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,date,numeric,date,text,text);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,date,double precision,date,text,text);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,timestamp with time zone,numeric,date,text,text);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,timestamp with time zone,double precision,date,text,text);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,timestamp with time zone,numeric,date,text,text,text);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,timestamp with time zone,double precision,date,text,text,text);
DROP FUNCTION customer_segment.score_breakpoints_trans(internal,double precision,integer);
DROP FUNCTION customer_segment.score_breakpoints_combine(internal,internal);
DROP FUNCTION customer_segment.score_breakpoints_serialize(internal);
DROP FUNCTION customer_segment.score_breakpoints_deserialize(bytea,internal);
DROP FUNCTION customer_segment.score_breakpoints_final(internal);
DROP FUNCTION customer_segment.clv_historical_combine(internal,internal);
DROP FUNCTION customer_segment.clv_historical_serialize(internal);
DROP FUNCTION customer_segment.clv_historical_deserialize(bytea,internal);
DROP FUNCTION customer_segment.clv_historical_final(internal);
DROP FUNCTION customer_segment.clv_historical_trans(internal,date,numeric,date,double precision);
DROP FUNCTION customer_segment.clv_historical_trans(internal,date,double precision,date,double precision);
DROP FUNCTION customer_segment.clv_historical_trans(internal,timestamp with time zone,numeric,date,double precision);
DROP FUNCTION customer_segment.clv_historical_trans(internal,timestamp with time zone,double precision,date,double precision);
DROP FUNCTION customer_segment.clv_historical_trans(internal,date,numeric,date,double precision,double precision,text);
DROP FUNCTION customer_segment.clv_historical_trans(internal,date,double precision,date,double precision,double precision,text);
DROP FUNCTION customer_segment.clv_historical_trans(internal,timestamp with time zone,numeric,date,double precision,double precision,text);
DROP FUNCTION customer_segment.clv_historical_trans(internal,timestamp with time zone,double precision,date,double precision,double precision,text);
DROP FUNCTION customer_segment.clv_historical_trans(internal,timestamp with time zone,numeric,date,double precision,double precision,text,text);
DROP FUNCTION customer_segment.clv_historical_trans(internal,timestamp with time zone,double precision,date,double precision,double precision,text,text);
DROP FUNCTION customer_segment.rfm_activity_final(internal);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,date,numeric,date,text);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,date,double precision,date,text);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,timestamp with time zone,numeric,date,text);
DROP FUNCTION customer_segment.rfm_summary_trans(internal,timestamp with time zone,double precision,date,text);
DROP FUNCTION customer_segment.rfm_activity_trans(internal,timestamp with time zone,numeric,date,text,text);
DROP FUNCTION customer_segment.rfm_activity_trans(internal,timestamp with time zone,double precision,date,text,text);
DROP FUNCTION customer_segment.retention_curve_trans(internal,bit varying);
DROP FUNCTION customer_segment.retention_curve_combine(internal,internal);
DROP FUNCTION customer_segment.retention_curve_serialize(internal);
DROP FUNCTION customer_segment.retention_curve_deserialize(bytea,internal);
DROP FUNCTION customer_segment.retention_curve_final(internal);
DROP FUNCTION customer_segment.btyd_fit_combine(internal,internal);
DROP FUNCTION customer_segment.btyd_fit_serialize(internal);
DROP FUNCTION customer_segment.btyd_fit_deserialize(bytea,internal);
DROP FUNCTION customer_segment.bgnbd_fit_final(internal);
DROP FUNCTION customer_segment.pnbd_fit_final(internal);
DROP FUNCTION customer_segment.gg_fit_final(internal);
DROP FUNCTION customer_segment.bgnbd_fit_trans(internal,double precision,double precision,double precision);
DROP FUNCTION customer_segment.bgnbd_fit_trans(internal,double precision,double precision,double precision,double precision);
DROP FUNCTION customer_segment.gg_fit_trans(internal,double precision,double precision);
DROP FUNCTION customer_segment.gg_fit_trans(internal,double precision,double precision,double precision);
DROP FUNCTION customer_segment.bgnbd_uncertainty_final(internal);
DROP FUNCTION customer_segment.pnbd_uncertainty_final(internal);
DROP FUNCTION customer_segment.gg_uncertainty_final(internal);
DROP FUNCTION customer_segment.kmeans_combine(internal,internal);
DROP FUNCTION customer_segment.kmeans_serialize(internal);
DROP FUNCTION customer_segment.kmeans_deserialize(bytea,internal);
DROP FUNCTION customer_segment.kmeans_fit_final(internal);
DROP FUNCTION customer_segment.kmeans_scan_final(internal);
DROP FUNCTION customer_segment.kmeans_fit_trans(internal,double precision[],integer);
DROP FUNCTION customer_segment.kmeans_fit_trans(internal,double precision[],integer,bigint);
DROP FUNCTION customer_segment.kmeans_fit_trans(internal,double precision[],integer,bigint,text);
DROP FUNCTION customer_segment.kmeans_fit_trans(internal,double precision[],integer,bigint,text,double precision);
DROP FUNCTION customer_segment.kmeans_scan_trans(internal,double precision[],integer,integer);
DROP FUNCTION customer_segment.kmeans_scan_trans(internal,double precision[],integer,integer,bigint);
DROP FUNCTION customer_segment.kmeans_scan_trans(internal,double precision[],integer,integer,bigint,text);
DROP FUNCTION customer_segment.kmeans_scan_trans(internal,double precision[],integer,integer,bigint,text,double precision);

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

CREATE FUNCTION customer_segment.rfm_state_activity(state customer_segment.rfm_summary_state, as_of date,
    granularity text DEFAULT 'day')
RETURNS varbit AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION customer_segment.rfm_state_activity(customer_segment.rfm_summary_state, date, text) IS
    'purchase_activity of an open state as of as_of (= purchase_activity of the same orders); '
    'error when the state holds an order after as_of; NULL state: NULL';

-- Incremental refresh: change column, per-customer states and watermark (doc/operations.md).
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

CREATE OR REPLACE FUNCTION customer_segment.rfm_analyze(
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

CREATE OR REPLACE FUNCTION customer_segment.cohort_retention(source regclass, customer_column name, time_column name,
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

CREATE OR REPLACE FUNCTION customer_segment.unregister_source(name text, cascade boolean DEFAULT false)
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

-- Per customer: the RFM analysis, lifecycle stage, quadrant, tier and BTYD predictions, as of the source's day.
CREATE OR REPLACE FUNCTION customer_segment.source_customers(source text)
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
           LATERAL customer_segment.btyd_predict(CASE WHEN a.orders > 0 THEN fit.bg END, CASE WHEN a.orders > 0 THEN fit.pn END,
                                                 CASE WHEN a.orders > 0 THEN fit.gg END,
                                                 a.frequency, a.recency, a.t, a.monetary_value, 90) p;
END
$$;
COMMENT ON FUNCTION customer_segment.source_customers(text) IS
    'The rows of a source''s customers helper view, computed now: RFM analysis in the source''s time zone '
    '(from its states when it is refreshed incrementally), '
    'lifecycle stage, quadrant, tier, BG/NBD and Gamma-Gamma predictions';

CREATE OR REPLACE FUNCTION customer_segment.source_cohorts(source text)
RETURNS TABLE (cohort date, period_offset integer, cohort_size bigint, observed bigint, active bigint,
               active_share float8, at_risk bigint, retained bigint, retention float8)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT c.*
      FROM customer_segment.sources s,
           LATERAL customer_segment.source_cohort_retention(s, customer_segment.source_as_of(s.name)) c
     WHERE s.name = source_cohorts.source
$$;
COMMENT ON FUNCTION customer_segment.source_cohorts(text) IS 'Rows of a source''s cohorts helper view: monthly cohort retention in the source''s time zone';

DROP FUNCTION customer_segment.refresh_views(customer_segment.sources);
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

DROP FUNCTION customer_segment.refresh(text, boolean);
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

-- The incremental state of a source: its owner sets the change column and refresh moves the watermark.
ALTER TABLE customer_segment.source_increments ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_only ON customer_segment.source_increments FOR ALL
    USING (customer_segment.acts_as(owner)) WITH CHECK (customer_segment.acts_as(owner));
GRANT SELECT, INSERT, UPDATE, DELETE ON customer_segment.source_increments TO PUBLIC;

-- SQLSTATEs: btyd_analyze(model => NULL) is 22004, btyd_p_alive_history with an infinite end_date 22023.
CREATE OR REPLACE FUNCTION customer_segment.btyd_analyze(source regclass, customer_column name, time_column name,
    amount_column name, calibration_end date, horizon float8 DEFAULT 12, unit text DEFAULT 'week',
    margin float8 DEFAULT 1, months integer DEFAULT 12, monthly_discount float8 DEFAULT 0.01,
    penalizer float8 DEFAULT 0, zone text DEFAULT NULL, model text DEFAULT 'bgnbd')
RETURNS TABLE (customer_id text, frequency bigint, recency float8, t float8, monetary_value float8,
               p_alive float8, expected_purchases float8, expected_spend float8, clv float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    src record;
    per_month float8;
BEGIN
    IF calibration_end IS NULL OR horizon IS NULL OR unit IS NULL OR margin IS NULL OR months IS NULL
       OR monthly_discount IS NULL OR penalizer IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'btyd_analyze arguments must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF model NOT IN ('bgnbd', 'pareto_nbd') THEN
        RAISE EXCEPTION 'unknown purchase model "%"', model USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Use ''bgnbd'' or ''pareto_nbd''; btyd_evaluate compares them on a holdout.';
    END IF;
    per_month := CASE customer_segment.check_period(unit, 'unit') WHEN 'day' THEN 30 WHEN 'week' THEN 4.345 ELSE 1 END;
    src := customer_segment.orders_source_sql(source, customer_column, time_column, amount_column, zone);
    RETURN QUERY EXECUTE format($q$
        WITH s AS MATERIALIZED (
            SELECT %1$s::text AS customer_id, (customer_segment.rfm_summary(%2$s, %3$s, $1, 'day', $2)).*
              FROM %4$s WHERE %1$s IS NOT NULL GROUP BY %1$s
        ), models AS (
            SELECT customer_segment.bgnbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'bgnbd') AS bg,
                   customer_segment.pareto_nbd_fit(s.frequency, s.recency, s.t, $8) FILTER (WHERE $9 = 'pareto_nbd') AS pn,
                   customer_segment.gamma_gamma_fit(s.frequency, s.monetary_value, $8)
                       FILTER (WHERE s.frequency = 0 OR s.monetary_value > 0) AS gg
              FROM s WHERE s.orders > 0
        )
        SELECT s.customer_id, s.frequency, s.recency, s.t, s.monetary_value,
               p.p_alive, p.expected_purchases, p.expected_spend, p.clv
          FROM s CROSS JOIN models m,
               LATERAL customer_segment.btyd_predict(m.bg, m.pn, m.gg, s.frequency, s.recency, s.t, s.monetary_value,
                                                     $3, $5, $6, $7, $4) p
         WHERE s.orders > 0
    $q$, src.customer_expr, src.time_expr, src.amount_expr, src.from_clause)
    USING calibration_end, unit, horizon, margin, months, monthly_discount, per_month, penalizer, model;
END
$$;
COMMENT ON FUNCTION customer_segment.btyd_analyze(regclass, name, name, name, date, float8, text, float8, integer, float8, float8, text, text) IS
    'Summarises orders up to calibration_end (day purchases, a timestamptz on its date in zone or the session''s TimeZone when NULL, reported in unit), '
    'fits BG/NBD (or Pareto/NBD: model) and Gamma-Gamma, and returns per customer P(alive), expected purchases in horizon units, expected spend and discounted CLV '
    '(btyd_predict: spend and CLV NULL when the Gamma-Gamma q <= 1)';

-- The P(alive) history of one customer: at the end of every period from the first purchase to end_date,
-- P(alive) given the purchases up to then (the line of lifetimes' plot_history_alive).
CREATE OR REPLACE FUNCTION customer_segment.btyd_p_alive_history(source regclass, customer_column name, time_column name,
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

DROP FUNCTION customer_segment.install_state_type(text, text);

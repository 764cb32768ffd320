-- customer_segment 1.4 -> 1.5: every aggregate's state is a real type instead of internal (rfm_summary_state,
-- clv_historical_state, score_breakpoints_state, retention_curve_state, btyd_fit_state, kmeans_state): Citus
-- runs the aggregates in two phases (partial states on the workers, combined on the coordinator) when they
-- are not grouped by the distribution column, and a per-customer summary can be stored, merged with the
-- state of newer orders and finalised later (rfm_state, rfm_state_merge, rfm_state_summary,
-- rfm_state_activity).  Each aggregate keeps its identity (CREATE OR REPLACE AGGREGATE changes the state type
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
    'counts, sums, first/last days and a bitmap of purchase days, about 180 bytes plus one bit per day of the customer''s span');
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
                        STYPE = customer_segment.rfm_summary_state, COMBINEFUNC = customer_segment.rfm_summary_combine,
                        PARALLEL = SAFE)', sig);
        EXECUTE format('COMMENT ON AGGREGATE customer_segment.rfm_state(%s) IS %L', sig,
                       'Open per-customer state of all the given orders (with a zone: each on its date in zone), '
                       'to store, merge with rfm_state_merge and finalise with rfm_state_summary; '
                       'NULL times/amounts are skipped and counted');
    END LOOP;
END
$$;
CREATE AGGREGATE customer_segment.rfm_state_merge(customer_segment.rfm_summary_state) (
    SFUNC = customer_segment.rfm_summary_combine, STYPE = customer_segment.rfm_summary_state,
    COMBINEFUNC = customer_segment.rfm_summary_combine, PARALLEL = SAFE);
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

DROP FUNCTION customer_segment.install_state_type(text, text);

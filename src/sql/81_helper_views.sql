-- What the helper views of a source compute.  Each helper is a plain view, <name>_<helper>, that BI tools
-- find through information_schema and JDBC like any view, over a table <name>_<helper>_data that a refresh
-- fills with SELECT * FROM customer_segment.source_<helper>(name) (fill_source_views): the computation lives
-- in the extension, so a release changes these functions, not objects in users' schemas.  The extension
-- itself reads only the tables.  Each function reads the extension's tables with row security on, whatever
-- the session says.

-- The customers view's rows as one query, for a source as of as_of: source_rfm_query's analysis (its
-- parameters: $1 as_of, $2 granularity, $3 unit, $4 bins, $5 rule_set) with the lifecycle stage, quadrant,
-- tier and BTYD predictions; after checking the source's settings.  One statement from the orders (or the
-- states) to the rows, so a refresh inserts them as they are computed (fill_source_views).
CREATE FUNCTION customer_segment.source_customers_query(src customer_segment.sources, as_of date)
RETURNS text LANGUAGE plpgsql STABLE SET search_path = pg_catalog AS $$
DECLARE
    -- refresh sets it off for a second attempt when the predictions failed on a data error
    predict boolean := coalesce(nullif(current_setting('customer_segment.refresh_predictions', true), ''), 'on')::boolean;
BEGIN
    PERFORM customer_segment.check_rfm_arguments(as_of, src.bins, src.rule_set, 'day', 'day');
    IF src.tier_ladder IS NOT NULL THEN
        PERFORM customer_segment.check_tier_ladder(src.tier_ladder);
    END IF;
    RETURN format($q$
    WITH a (customer_id, first_purchase, last_purchase, orders, purchase_days, refunds_count, recency_days, tenure_days,
            revenue, refunds, monetary_total, monetary_avg, frequency, recency, t, monetary_value, r_score, f_score,
            m_score, rfm_cell, fm_score, rfm_score, segment, action) AS MATERIALIZED (
        %1$s
    ), fit AS (
        -- Models only when the data can identify them; otherwise the prediction columns stay NULL.
        SELECT customer_segment.bgnbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE %2$s AND %3$L = 'bgnbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS bg,
               customer_segment.pareto_nbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE %2$s AND %3$L = 'pareto_nbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS pn,
               customer_segment.mbgnbd_fit(a.frequency, a.recency, a.t)
                   FILTER (WHERE %2$s AND %3$L = 'mbgnbd' AND f.buyers >= 10 AND f.repeaters >= 10) AS mb,
               customer_segment.gamma_gamma_fit(a.frequency, a.monetary_value)
                   FILTER (WHERE %2$s AND f.repeaters >= 10 AND (a.frequency = 0 OR a.monetary_value > 0)) AS gg,
               -- the quadrant's cuts: the medians of the buying customers' net spend and orders
               (customer_segment.score_breakpoints(a.monetary_total, 2))[1] AS value_cut,
               (customer_segment.score_breakpoints(a.orders, 2))[1] AS engagement_cut
          FROM a, (SELECT count(*) AS buyers, count(*) FILTER (WHERE frequency > 0 AND monetary_value > 0) AS repeaters
                     FROM a WHERE orders > 0) f
         WHERE a.orders > 0
    ), ladder AS (
        -- the tier of a net spend is the tier of the highest bound it reaches (tier_for): bounds strictly
        -- increase with rank, so that is the count of bounds it reaches
        SELECT array_agg(t.lower_bound ORDER BY t.rank) AS bounds, array_agg(t.tier ORDER BY t.rank) AS tiers
          FROM customer_segment.tier_ladders t WHERE t.ladder = %4$L
    )
    SELECT a.customer_id, a.first_purchase, a.last_purchase, a.orders, a.purchase_days, a.refunds_count,
           a.recency_days, a.tenure_days, a.revenue, a.refunds, a.monetary_total, a.monetary_avg,
           a.frequency, a.recency, a.t, a.monetary_value, a.r_score, a.f_score, a.m_score, a.rfm_cell,
           a.fm_score, a.rfm_score, a.segment, a.action,
           customer_segment.lifecycle_stage(a.first_purchase, a.last_purchase, a.orders, $1),
           CASE WHEN a.orders > 0 THEN customer_segment.quadrant(a.monetary_total, a.orders, fit.value_cut, fit.engagement_cut,
                                                                'value', 'engagement') END,
           %5$s,
           p.p_alive, p.expected_purchases, p.expected_spend, p.clv,
           $1::date
      FROM a CROSS JOIN fit CROSS JOIN ladder,
           LATERAL (SELECT * FROM customer_segment.btyd_predict(CASE WHEN a.orders > 0 THEN fit.bg END, CASE WHEN a.orders > 0 THEN fit.pn END,
                                                                CASE WHEN a.orders > 0 THEN fit.gg END,
                                                                a.frequency, a.recency, a.t, a.monetary_value, 90)
                     WHERE %3$L <> 'mbgnbd'
                    UNION ALL
                    SELECT * FROM customer_segment.btyd_predict_mbgnbd(CASE WHEN a.orders > 0 THEN fit.mb END, CASE WHEN a.orders > 0 THEN fit.gg END,
                                                                       a.frequency, a.recency, a.t, a.monetary_value, 90)
                     WHERE %3$L = 'mbgnbd') p
    $q$, customer_segment.source_rfm_query(src, as_of), CASE WHEN predict THEN 'true' ELSE 'false' END, src.prediction_model,
       src.tier_ladder,
       -- without a ladder no tier, and no numeric of every net spend (0.12 s for 185k customers)
       CASE WHEN src.tier_ladder IS NULL THEN 'NULL::text'
            ELSE 'ladder.tiers[nullif(width_bucket(a.monetary_total::numeric, ladder.bounds), 0)]' END);
END
$$;
COMMENT ON FUNCTION customer_segment.source_customers_query(customer_segment.sources, date) IS
    'Text of the query of a source''s customers rows as of as_of (parameters $1 as_of, $2 granularity, $3 unit, $4 bins, $5 rule_set), '
    'its settings checked; the prediction columns NULL while customer_segment.refresh_predictions is off';

-- Per customer: the RFM analysis, lifecycle stage, quadrant, tier and BTYD predictions, as of the source's day.
CREATE FUNCTION customer_segment.source_customers(source text)
RETURNS TABLE (customer_id text, first_purchase date, last_purchase date, orders bigint, purchase_days bigint,
               refunds_count bigint, recency_days integer, tenure_days integer, revenue float8, refunds float8,
               monetary_total float8, monetary_avg float8, frequency bigint, recency float8, t float8,
               monetary_value float8, r_score integer, f_score integer, m_score integer, rfm_cell text,
               fm_score float8, rfm_score float8, segment text, action text, lifecycle_stage text, quadrant text,
               tier text, p_alive float8, expected_purchases_90d float8, expected_spend float8, clv_12m float8,
               as_of date)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog SET row_security = on AS $$
DECLARE
    src customer_segment.sources := customer_segment.get_source(source);
    day date := customer_segment.source_day(src);
BEGIN
    RETURN QUERY EXECUTE customer_segment.source_customers_query(src, day) USING day, 'day', 'day', src.bins, src.rule_set;
END
$$;
COMMENT ON FUNCTION customer_segment.source_customers(text) IS
    'The rows of a source''s customers helper view, computed now: RFM analysis in the source''s time zone '
    '(from its states when it is refreshed incrementally), '
    'lifecycle stage, quadrant, tier, BG/NBD and Gamma-Gamma predictions';

-- The table behind a helper view: the only name the extension reads a helper's rows by.
CREATE FUNCTION customer_segment.source_data(src customer_segment.sources, helper text)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || '_' || helper || '_data')
$$;
COMMENT ON FUNCTION customer_segment.source_data(customer_segment.sources, text) IS
    'Qualified name of the table behind a helper view of a source (<name>_<helper>_data)';

-- The summaries below read the source's customers data, so they show what its last refresh computed.
CREATE FUNCTION customer_segment.source_customers_view(src customer_segment.sources)
RETURNS text LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT customer_segment.source_data(src, 'customers')
$$;
COMMENT ON FUNCTION customer_segment.source_customers_view(customer_segment.sources) IS
    'Qualified name of the table behind the customers helper view of a source';

CREATE FUNCTION customer_segment.source_segments(source text)
RETURNS TABLE (segment text, customers bigint, share numeric, revenue numeric, avg_revenue numeric,
               avg_recency_days numeric, avg_orders numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog SET row_security = on AS $$
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
LANGUAGE plpgsql STABLE SET search_path = pg_catalog SET row_security = on AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT coalesce(r_score, 0), coalesce(f_score, 0), count(*), round(sum(monetary_total)::numeric, 2)
          FROM %s GROUP BY 1, 2$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_rf_grid(text) IS 'Rows of a source''s rf_grid helper view';

CREATE FUNCTION customer_segment.source_lifecycle(source text)
RETURNS TABLE (lifecycle_stage text, customers bigint, revenue numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog SET row_security = on AS $$
BEGIN
    RETURN QUERY EXECUTE format($q$
        SELECT lifecycle_stage, count(*), round(sum(monetary_total)::numeric, 2)
          FROM %s GROUP BY 1$q$, customer_segment.source_customers_view(customer_segment.get_source(source)));
END
$$;
COMMENT ON FUNCTION customer_segment.source_lifecycle(text) IS 'Rows of a source''s lifecycle helper view';

CREATE FUNCTION customer_segment.source_tiers(source text)
RETURNS TABLE (tier text, customers bigint, revenue numeric)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog SET row_security = on AS $$
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
LANGUAGE sql STABLE SET search_path = pg_catalog SET row_security = on AS $$
    SELECT c.*
      FROM customer_segment.sources s,
           LATERAL customer_segment.source_cohort_retention(s, customer_segment.source_day(s)) c
     WHERE s.name = source_cohorts.source
$$;
COMMENT ON FUNCTION customer_segment.source_cohorts(text) IS 'Rows of a source''s cohorts helper view: monthly cohort retention in the source''s time zone';

-- Clusters: k-means on log1p + z-score of (recency_days, orders, monetary_total) of the buying customers
-- with a positive net spend, k from the source, seed 0.
CREATE FUNCTION customer_segment.source_clusters(source text)
RETURNS TABLE (customer_id text, cluster integer, distance float8)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog SET row_security = on AS $$
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
LANGUAGE plpgsql STABLE SET search_path = pg_catalog SET row_security = on AS $$
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

-- The helper views of a source, in refresh order: the plain view, the table behind it, its query, unique key
-- (indexed; none for the per-customer tables, where keeping an index up to date would cost a refresh more
-- than writing the rows) and comment.
CREATE FUNCTION customer_segment.source_views(src customer_segment.sources)
RETURNS TABLE (view_name text, data_name text, definition text, unique_key text, comment text, helper text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT format('%I.%I', src.target_schema, src.name || v.suffix), customer_segment.source_data(src, substr(v.suffix, 2)),
           format('SELECT * FROM customer_segment.%I(%L)', 'source' || v.suffix, src.name), v.unique_key, v.comment, substr(v.suffix, 2)
      FROM (VALUES
        (1, '_customers', NULL,
         'Per customer: RFM summary, scores, cell, segment and action, lifecycle stage, value/engagement quadrant '
         '(cuts at the medians), tier on the source''s ladder (net spend to as_of), P(alive) and expected '
         'purchases in 90 days (BG/NBD, or Pareto/NBD or MBG/NBD: the source''s prediction_model), Gamma-Gamma expected spend and 12-month CLV at 1% a month (time in days), as of the last refresh'),
        (2, '_segments', 'segment', 'Segment sizes, shares and revenue'),
        (3, '_rf_grid', 'r_score, f_score', 'Customers and revenue per R x F cell (0 = not scored), for heat maps'),
        (4, '_lifecycle', 'lifecycle_stage', 'Customers and revenue per lifecycle stage'),
        (5, '_tiers', 'tier', 'Customers and revenue per tier ((none) without a ladder or below it)'),
        (6, '_cohorts', 'cohort, period_offset', 'Monthly cohort retention matrix: share of each acquisition cohort active k months later'),
        (7, '_clusters', NULL, 'k-means cluster of every buying customer with a positive net spend (log1p + z-score of recency, orders, net spend)'),
        (8, '_cluster_profiles', 'cluster', 'Per k-means cluster: size, share, mean recency, orders and net spend, commonest segment and lifecycle stage')
      ) v(ord, suffix, unique_key, comment)
     WHERE v.ord <= 6 OR src.clusters IS NOT NULL
     ORDER BY v.ord
$$;
COMMENT ON FUNCTION customer_segment.source_views(customer_segment.sources) IS
    'Helper views of a source: the plain view, the table behind it, its query, unique key, comment and helper name';

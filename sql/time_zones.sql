\set SHOW_CONTEXT never
-- Business time zones: a timestamptz order is counted on its date in the zone given, whatever the
-- session's TimeZone; the reference is PostgreSQL's own (ordered_at AT TIME ZONE zone)::date.
CREATE SCHEMA tz_store;
SELECT customers_created FROM customer_segment.create_sample_store('tz_store', 800, 5);
-- orders at every hour of the day, so zones 14 hours apart move many of them to another day
UPDATE tz_store.orders SET ordered_at = ordered_at + make_interval(hours => (order_id % 24)::int);
CREATE TEMP TABLE zones (zone text PRIMARY KEY);
INSERT INTO zones VALUES ('UTC'), ('Pacific/Kiritimati'), ('America/Los_Angeles'), ('Asia/Kathmandu');

-- The aggregates with a zone equal the date signatures fed PostgreSQL's conversion, for every zone,
-- under a session zone far from all of them.
SET TimeZone = 'Pacific/Pago_Pago';
SELECT z.zone,
       count(*) FILTER (WHERE x.with_zone IS DISTINCT FROM x.reference) AS summaries_differing,
       count(*) FILTER (WHERE x.act_zone IS DISTINCT FROM x.act_reference) AS activities_differing,
       count(*) FILTER (WHERE x.hist_zone IS DISTINCT FROM x.hist_reference) AS historical_differing,
       count(*) FILTER (WHERE x.with_zone IS DISTINCT FROM x.session) > 0 AS zone_matters
  FROM zones z, LATERAL (
    SELECT customer_segment.rfm_summary(o.ordered_at, o.amount, DATE '2025-06-30', 'week', 'day', z.zone)::text AS with_zone,
           customer_segment.rfm_summary((o.ordered_at AT TIME ZONE z.zone)::date, o.amount, DATE '2025-06-30', 'week', 'day')::text AS reference,
           customer_segment.rfm_summary(o.ordered_at, o.amount, DATE '2025-06-30', 'week', 'day')::text AS session,
           customer_segment.purchase_activity(o.ordered_at, o.amount, DATE '2025-06-30', 'day', z.zone) AS act_zone,
           customer_segment.purchase_activity((o.ordered_at AT TIME ZONE z.zone)::date, o.amount, DATE '2025-06-30', 'day') AS act_reference,
           customer_segment.clv_historical(o.ordered_at, o.amount, DATE '2025-06-30', 0.1, 0.3, 'annual', z.zone) AS hist_zone,
           customer_segment.clv_historical((o.ordered_at AT TIME ZONE z.zone)::date, o.amount, DATE '2025-06-30', 0.1, 0.3, 'annual') AS hist_reference
      FROM tz_store.orders o GROUP BY o.customer_id) x
 GROUP BY z.zone ORDER BY z.zone;

-- Across a change of clocks: a day of 23 hours and one of 25 (Berlin, 2024), minute by minute.
SELECT count(*) AS minutes,
       count(*) FILTER (WHERE (s).first_purchase IS DISTINCT FROM (t AT TIME ZONE 'Europe/Berlin')::date) AS differing
  FROM (SELECT t, customer_segment.rfm_summary(t, 1.0, DATE '2025-01-01', 'day', 'day', 'Europe/Berlin') AS s
          FROM generate_series(TIMESTAMPTZ '2024-03-30 20:00+00', TIMESTAMPTZ '2024-04-01 02:00+00', interval '1 minute') t
         GROUP BY t
        UNION ALL
        SELECT t, customer_segment.rfm_summary(t, 1.0, DATE '2025-01-01', 'day', 'day', 'Europe/Berlin')
          FROM generate_series(TIMESTAMPTZ '2024-10-26 20:00+00', TIMESTAMPTZ '2024-10-28 02:00+00', interval '1 minute') t
         GROUP BY t) x;
-- and the day cache sees the same days as a row-by-row conversion over a whole sorted year
SELECT count(DISTINCT d) AS days,
       (customer_segment.rfm_summary(t, 1.0, DATE '2025-01-01', 'day', 'day', 'Europe/Berlin')).purchase_days AS counted
  FROM (SELECT t, (t AT TIME ZONE 'Europe/Berlin')::date AS d
          FROM generate_series(TIMESTAMPTZ '2024-01-01 00:00+00', TIMESTAMPTZ '2024-12-31 23:00+00', interval '37 minutes') t
         ORDER BY t) x;

-- One-call functions: the same results under three session zones when a zone is given.
CREATE TEMP TABLE one_call (session_zone text, rfm text, cohorts text, clv text, btyd text);
CREATE FUNCTION pg_temp.one_call_digest(session_zone text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('TimeZone', session_zone, true);
    INSERT INTO one_call SELECT session_zone,
        (SELECT md5(string_agg(a::text, ',' ORDER BY a.customer_id))
           FROM customer_segment.rfm_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Asia/Kathmandu') a),
        (SELECT md5(string_agg(c::text, ',' ORDER BY c.cohort, c.period_offset))
           FROM customer_segment.cohort_retention('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', 'week', 'Asia/Kathmandu') c),
        (SELECT md5(string_agg(c::text, ',' ORDER BY c.customer_id))
           FROM customer_segment.clv_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', retention_rate => 0.8, zone => 'Asia/Kathmandu') c),
        (SELECT md5(string_agg(b::text, ',' ORDER BY b.customer_id))
           FROM customer_segment.btyd_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Asia/Kathmandu') b);
END
$$;
SELECT pg_temp.one_call_digest(z) FROM unnest(ARRAY['UTC', 'Pacific/Kiritimati', 'America/Los_Angeles']) z;
SELECT count(DISTINCT rfm) AS rfm, count(DISTINCT cohorts) AS cohorts, count(DISTINCT clv) AS clv, count(DISTINCT btyd) AS btyd
  FROM one_call;
-- and the zone is the one PostgreSQL's conversion uses: rfm_analyze over a table of local dates agrees
CREATE TABLE tz_store.local_orders AS
SELECT customer_id, (ordered_at AT TIME ZONE 'Asia/Kathmandu')::date AS day, amount FROM tz_store.orders;
SELECT count(*) AS differing FROM (
    (SELECT * FROM customer_segment.rfm_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Asia/Kathmandu')
     EXCEPT ALL SELECT * FROM customer_segment.rfm_analyze('tz_store.local_orders', 'customer_id', 'day', 'amount', DATE '2025-06-30'))
    UNION ALL
    (SELECT * FROM customer_segment.rfm_analyze('tz_store.local_orders', 'customer_id', 'day', 'amount', DATE '2025-06-30')
     EXCEPT ALL SELECT * FROM customer_segment.rfm_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Asia/Kathmandu'))) d;
-- so do clv_analyze and btyd_analyze, which give their C aggregates the timestamptz and the zone
SELECT count(*) AS clv_differing FROM (
    (SELECT * FROM customer_segment.clv_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', retention_rate => 0.8, zone => 'Asia/Kathmandu')
     EXCEPT ALL SELECT * FROM customer_segment.clv_analyze('tz_store.local_orders', 'customer_id', 'day', 'amount', DATE '2025-06-30', retention_rate => 0.8))
    UNION ALL
    (SELECT * FROM customer_segment.clv_analyze('tz_store.local_orders', 'customer_id', 'day', 'amount', DATE '2025-06-30', retention_rate => 0.8)
     EXCEPT ALL SELECT * FROM customer_segment.clv_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', retention_rate => 0.8, zone => 'Asia/Kathmandu'))) d;
SELECT count(*) AS clv_estimated_retention_differing FROM (
    (SELECT * FROM customer_segment.clv_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Asia/Kathmandu')
     EXCEPT ALL SELECT * FROM customer_segment.clv_analyze('tz_store.local_orders', 'customer_id', 'day', 'amount', DATE '2025-06-30'))) d;
SELECT count(*) AS btyd_differing FROM (
    (SELECT * FROM customer_segment.btyd_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Asia/Kathmandu')
     EXCEPT ALL SELECT * FROM customer_segment.btyd_analyze('tz_store.local_orders', 'customer_id', 'day', 'amount', DATE '2025-06-30'))
    UNION ALL
    (SELECT * FROM customer_segment.btyd_analyze('tz_store.local_orders', 'customer_id', 'day', 'amount', DATE '2025-06-30')
     EXCEPT ALL SELECT * FROM customer_segment.btyd_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Asia/Kathmandu'))) d;

-- A registered source keeps its zone: refreshed under three session zones, the same rows.
SET TimeZone = 'UTC';
SELECT count(*) AS views FROM customer_segment.register_source('tz_shop', 'tz_store.orders', 'customer_id', 'ordered_at', 'amount',
    as_of => DATE '2025-06-30', time_zone => 'Pacific/Kiritimati');
SELECT time_zone FROM customer_segment.sources WHERE name = 'tz_shop';
CREATE TEMP TABLE refreshed (session_zone text, customers text, cohorts text);
CREATE FUNCTION pg_temp.refresh_digest(session_zone text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('TimeZone', session_zone, true);
    PERFORM customer_segment.refresh('tz_shop');
    INSERT INTO refreshed SELECT session_zone,
        (SELECT md5(string_agg(c::text, ',' ORDER BY c.customer_id)) FROM tz_store.tz_shop_customers c),
        (SELECT md5(string_agg(c::text, ',' ORDER BY c.cohort, c.period_offset)) FROM tz_store.tz_shop_cohorts c);
END
$$;
SELECT pg_temp.refresh_digest(z) FROM unnest(ARRAY['UTC', 'America/Los_Angeles', 'Asia/Kathmandu']) z;
SELECT count(DISTINCT customers) AS customers, count(DISTINCT cohorts) AS cohorts FROM refreshed;
-- the rows are those of the one-call function in the source's zone
SELECT count(*) AS differing FROM tz_store.tz_shop_customers c
  JOIN customer_segment.rfm_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Pacific/Kiritimati') a
    USING (customer_id)
 WHERE (c.first_purchase, c.frequency, c.recency, c.rfm_cell, c.segment)
       IS DISTINCT FROM (a.first_purchase, a.frequency, a.recency, a.rfm_cell, a.segment);
-- a new zone takes effect at the next refresh and moves customers
SELECT customer_segment.set_source_time_zone('tz_shop', 'America/Los_Angeles');
SELECT customer_segment.refresh('tz_shop');
SELECT count(*) > 0 AS moved FROM tz_store.tz_shop_customers c
  JOIN customer_segment.rfm_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Pacific/Kiritimati') a
    USING (customer_id)
 WHERE c.first_purchase IS DISTINCT FROM a.first_purchase;
-- with no fixed as_of, today is today in the source's zone
UPDATE customer_segment.sources SET as_of = NULL WHERE name = 'tz_shop';
SELECT customer_segment.source_as_of('tz_shop') = (now() AT TIME ZONE 'America/Los_Angeles')::date AS today_there;

-- Bad zones.
SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'day', 'Mars/Olympus') FROM tz_store.orders;
SELECT customer_segment.rfm_analyze('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', zone => 'Mars/Olympus');
SELECT customer_segment.set_source_time_zone('tz_shop', 'Mars/Olympus');
SELECT customer_segment.set_source_time_zone('tz_shop', NULL);
SELECT customer_segment.register_source('tz_bad', 'tz_store.orders', 'customer_id', 'ordered_at', 'amount', time_zone => 'nowhere');
-- a zone that differs within a group is an error, as any argument that must be constant
SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'day',
       CASE WHEN order_id % 2 = 0 THEN 'UTC' ELSE 'Asia/Tokyo' END) FROM tz_store.orders;
SELECT customer_segment.clv_historical(ordered_at, amount, DATE '2025-06-30', 0.1, 1, 'annual',
       CASE WHEN order_id % 2 = 0 THEN 'UTC' ELSE 'Asia/Tokyo' END) FROM tz_store.orders;
-- but may differ between groups
SELECT count(*) AS customers FROM (
    SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'day',
           CASE WHEN customer_id % 2 = 0 THEN 'UTC' ELSE 'Asia/Tokyo' END)
      FROM tz_store.orders GROUP BY customer_id) x;
-- NULL zone: the session's TimeZone, as the signatures without a zone
SELECT count(*) FILTER (WHERE a IS DISTINCT FROM b) AS differing FROM (
    SELECT customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'day', NULL)::text AS a,
           customer_segment.rfm_summary(ordered_at, amount, DATE '2025-06-30', 'day', 'day')::text AS b
      FROM tz_store.orders GROUP BY customer_id) x;

SELECT customer_segment.unregister_source('tz_shop');
-- and so does cohort_retention, which takes the first purchase as an instant and its day once a customer,
-- in a zone without daylight saving time and in one with it
CREATE TABLE tz_store.berlin_orders AS
SELECT customer_id, (ordered_at AT TIME ZONE 'Europe/Berlin')::date AS day, amount FROM tz_store.orders;
SELECT z.zone, (SELECT count(*) FROM (
           (SELECT * FROM customer_segment.cohort_retention('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', 'week', z.zone)
            EXCEPT ALL SELECT * FROM customer_segment.cohort_retention(z.local, 'customer_id', 'day', 'amount', DATE '2025-06-30', 'week'))
           UNION ALL
           (SELECT * FROM customer_segment.cohort_retention(z.local, 'customer_id', 'day', 'amount', DATE '2025-06-30', 'week')
            EXCEPT ALL SELECT * FROM customer_segment.cohort_retention('tz_store.orders', 'customer_id', 'ordered_at', 'amount', DATE '2025-06-30', 'week', z.zone))) d) AS differing,
       (SELECT count(*) FROM customer_segment.cohort_retention(z.local, 'customer_id', 'day', 'amount', DATE '2025-06-30', 'week')) AS cohort_rows
  FROM (VALUES ('Asia/Kathmandu', 'tz_store.local_orders'::regclass), ('Europe/Berlin', 'tz_store.berlin_orders'::regclass)) z(zone, local)
 ORDER BY 1;
DROP SCHEMA tz_store CASCADE;

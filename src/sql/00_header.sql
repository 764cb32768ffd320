-- customer_segment install script, generated from src/sql/*.sql by the Makefile.
\echo Use "CREATE EXTENSION customer_segment" to load this file. \quit
COMMENT ON SCHEMA customer_segment IS 'customer_segment extension: RFM, CLV, tiers and lifecycle segmentation';

{{ config(materialized='view') }}
-- What each meter told us, booked period-true onto its grid: the union of the shard tables
-- (macros/vee_shards.sql; the SQL and its rules: macros/int_meter_observations.sql).
{{ vee_shard_union('int_meter_observations') }}

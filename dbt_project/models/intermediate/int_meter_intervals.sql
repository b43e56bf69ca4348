{{ config(materialized='view') }}
-- depends_on: {{ ref('int_meter_observations') }}
-- One row per meter and expected interval up to the data watermark: the union of the shard tables
-- (macros/vee_shards.sql; the SQL and its rules: macros/int_meter_intervals.sql). Built after the
-- observations' tests (the depends_on above): a failed conservation test stops the meter-days and marts.
{{ vee_shard_union('int_meter_intervals') }}

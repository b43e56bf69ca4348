{{ config(materialized='view') }}
-- One row per meter and expected interval up to the data watermark: the union of the shard tables
-- (macros/vee_shards.sql; the SQL and its rules: macros/int_meter_intervals.sql). Shard n's intervals are
-- built after shard n's observations and their tests (models/intermediate/vee_shards/), and this view after
-- every shard's intervals and their tests: a failed conservation test stops the meter-days and marts.
{{ vee_shard_union('int_meter_intervals') }}

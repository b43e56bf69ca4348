{{ config(materialized='view') }}
-- One row per reading key, the latest version: the union of the shard tables (macros/vee_shards.sql; the SQL
-- and its rules: macros/stg_raw__readings.sql).
{{ vee_shard_union('stg_raw__readings') }}

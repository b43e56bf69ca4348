{{ int_meter_intervals_config() }}
-- Shard 1 of int_meter_intervals (macros/vee_shards.sql): the meters of the enterprises in shard 1.
{{ int_meter_intervals_sql(shard=1) }}

{{ int_meter_observations_config() }}
-- Shard 1 of int_meter_observations (macros/vee_shards.sql): the meters of the enterprises in shard 1.
{{ int_meter_observations_sql(shard=1) }}

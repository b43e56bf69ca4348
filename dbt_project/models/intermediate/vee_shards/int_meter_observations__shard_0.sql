{{ int_meter_observations_config() }}
-- Shard 0 of int_meter_observations (macros/vee_shards.sql): the meters of the enterprises in shard 0.
{{ int_meter_observations_sql(shard=0) }}

{{ stg_raw__readings_config() }}
-- Shard 0 of stg_raw__readings (macros/vee_shards.sql): the readings of the enterprises in shard 0.
{{ stg_raw__readings_sql(shard=0) }}

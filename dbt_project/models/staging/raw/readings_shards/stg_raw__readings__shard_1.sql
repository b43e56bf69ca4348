{{ stg_raw__readings_config() }}
-- Shard 1 of stg_raw__readings (macros/vee_shards.sql): the readings of the enterprises in shard 1.
{{ stg_raw__readings_sql(shard=1) }}

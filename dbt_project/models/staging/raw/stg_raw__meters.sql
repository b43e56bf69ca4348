-- post_hook: the planner's statistics of the shard expression (macros/vee_shards.sql), which the shard tables of
-- stg_raw__readings filter the meters by, analysed after the folder's own analyze
{{ config(post_hook=["{{ vee_shard_statistics(this) }}", "analyze {{ this }}"]) }}
-- Current metadata per meter (the latest version), plus when the current physical meter was installed.
select *
from {{ ref('stg_raw__meter_versions') }}
where is_current

{#
  stg_raw__readings: the SQL of one shard (macros/vee_shards.sql), shared by the shard models
  models/staging/raw/readings_shards/stg_raw__readings__shard_<n>.sql; their union is the model stg_raw__readings.
  The shards are built side by side up to the same load batch, stg_raw__readings_through, which waits for the loads
  in flight (a shard table that took the lock itself would keep the other shard waiting until it commits).
#}
{% macro stg_raw__readings_config() %}
{{
    config(
        materialized='incremental',
        unlogged=True,
        unique_key=['enterprise_id', 'meter_id', 'period_end'],
        incremental_strategy='key_replace',
        range_column='period_end',
        replaces_where='versions > 1',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['enterprise_id', 'meter_id', 'period_end'], 'unique': True},
            {'columns': ['built_through_batch']},
        ],
        post_hook=["{{ align_indexes(this) }}", "{{ align_table_storage(this) }}"],
    )
}}
{% endmacro %}

{% macro stg_raw__readings_sql(shard) %}-- One row per reading key: the latest sent_at wins (a correction replaces the earlier row; ties go
-- to the later arrival and are flagged as conflicts). Values converted to the canonical unit with
-- the source unit and factor kept. Incremental on the load batch: only keys touched by new batches
-- are recomputed (from all their versions), so a batch costs about its own size.
-- After each build the table is analysed (dbt_project.yml, every staging model): the incremental models
-- downstream then see how few rows are new.
-- Two indexes, each written with every staged reading: the key's (unique; the VEE models' previous/next
-- reading of a meter, the meter-days' readings, the key replacement) and built_through_batch (this model's
-- state, and the rows the incremental models downstream have not seen: `built_through_batch > their state`).
-- Indexes on batch_id and period_end served no query any more and cost 2.3 s of a pilot day's 15 s here
-- (1.4 M readings); align_indexes drops them from a table built by an earlier release.
-- Only a key with an earlier version can already be staged (versions > 1): the key replacement deletes
-- those, found through the key's index, instead of probing the whole range of the new readings' period_ends
-- (0.9 s of a pilot day, where hardly any key is sent twice).
{% set since = vee_built_through(this) if is_incremental() else none %}
{#- the last readings batch this build stages (every shard up to the same one, taken under the lock) -#}
{% set through = '(select max(through_batch) from ' ~ ref('stg_raw__readings_through') ~ ')' %}
with
{% if is_incremental() %}
new_range as (
    -- the period_ends of the new batches' readings; every version of a key they touch lies in this range.
    -- raw.readings' BRIN index on batch_id finds them once vacuum has summarised the new block ranges; until
    -- then (and with autovacuum off) this scans the month's partition: each shard scans it side by side
    select min(period_end) as first_end, max(period_end) as last_end, max(batch_id) as last_batch
    from {{ source('raw', 'readings') }}
    where batch_id > {{ since }} and batch_id <= {{ through }}
),
{% endif %}

versions as (
    -- Every version in the range, ranked per key in one sort; a key is rebuilt when a new batch touched it
    -- (is_touched). A full build reads every version of every key at once.
    -- The meter and the unit factor are joined to every version before the ranking (the meter is the
    -- key's own; the factor is unique per unit pair, and a key whose winning version has none is dropped
    -- below, as an inner join after the ranking would): these joins then meet the readings in the plan,
    -- never the few rows the planner expects after `version_rank = 1`. With the joins after the ranking,
    -- the planner took the new day's 1.4 M winners for one row and joined the 20,000 meters to each in a
    -- nested loop (minutes on a pilot day: 1,000 enterprises × 20 meters); so did a join of the versions
    -- to the list of new keys.
    select
        r.*,
        m.energy_code,
        m.unit as canonical_unit,
        c.factor,
        c.from_unit is not null as has_unit_conversion,
        row_number() over w_key as version_rank,
        count(*) over w_all as versions,
        {% if is_incremental() %}
        max(r.batch_id) over w_all > {{ since }} as is_touched,
        {% endif %}
        min(r.value) over w_sent <> max(r.value) over w_sent as is_conflict
    from {{ source('raw', 'readings') }} as r
    inner join {{ ref('stg_raw__meters') }} as m
        on m.enterprise_id = r.enterprise_id and m.meter_id = r.meter_id
        and {{ vee_in_shard('m.enterprise_id', shard) }}  -- the shard's enterprises
    left join {{ ref('unit_conversions') }} as c on c.from_unit = r.unit and c.to_unit = m.unit
    where r.batch_id <= {{ through }}
    {% if is_incremental() %}
        and r.period_end between (select first_end from new_range) and (select last_end from new_range)
    {% endif %}
    window
        w_key as (partition by r.enterprise_id, r.meter_id, r.period_end order by r.sent_at desc, r.batch_id desc, r.row_number desc),
        w_all as (partition by r.enterprise_id, r.meter_id, r.period_end),
        w_sent as (partition by r.enterprise_id, r.meter_id, r.period_end, r.sent_at)
)

select
    v.enterprise_id,
    v.meter_id,
    v.energy_code,
    v.period_start,
    v.period_end,
    v.value * v.factor as value,
    v.canonical_unit as unit,
    v.value as source_value,
    v.unit as source_unit,
    v.factor as unit_factor,
    v.quality,
    v.sent_at,
    v.versions,
    v.is_conflict and v.version_rank = 1 as is_conflict,
    v.batch_id,
    v.row_number,
    {% if is_incremental() %}
    (select greatest(last_batch, {{ since }}) from new_range)
    {% else %}
    {{ through }}
    {% endif %} as built_through_batch
from versions as v
where v.version_rank = 1 and v.has_unit_conversion
{% if is_incremental() %}
    and v.is_touched
{% endif %}
{% endmacro %}

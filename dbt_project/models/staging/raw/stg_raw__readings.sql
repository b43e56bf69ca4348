{{
    config(
        materialized='incremental',
        unique_key=['enterprise_id', 'meter_id', 'period_end'],
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['enterprise_id', 'meter_id', 'period_end'], 'unique': True},
            {'columns': ['batch_id']},
            {'columns': ['built_through_batch']},
            {'columns': ['period_end']},
        ],
        pre_hook=["{{ wait_for_batches_in_flight() }}"],
    )
}}
-- One row per reading key: the latest sent_at wins (a correction replaces the earlier row; ties go
-- to the later arrival and are flagged as conflicts). Values converted to the canonical unit with
-- the source unit and factor kept. Incremental on the load batch: only keys touched by new batches
-- are recomputed (from all their versions), so a batch costs about its own size.
-- After each build the table is analysed (dbt_project.yml, every staging model): the incremental models
-- downstream then see how few rows are new.
-- The indexes serve the incremental VEE models (changed keys by batch, previous/next reading of a
-- meter, the data watermark) and this model's own state and key replacement.
with
{% if is_incremental() %}
new_keys as (
    -- raw.readings has a BRIN index on batch_id: the rows of new batches are found without a scan
    select distinct enterprise_id, meter_id, period_end
    from {{ source('raw', 'readings') }}
    where batch_id > {{ vee_built_through(this) }}
),
{% endif %}

versions as (
    -- a full build reads every version of every key at once (no list of keys to join back to)
    select
        r.*,
        row_number() over w_key as version_rank,
        count(*) over (partition by r.enterprise_id, r.meter_id, r.period_end) as versions,
        min(r.value) over w_sent <> max(r.value) over w_sent as is_conflict
    from {{ source('raw', 'readings') }} as r
    {% if is_incremental() %}
    inner join new_keys as k using (enterprise_id, meter_id, period_end)
    where r.period_end between (select min(period_end) from new_keys) and (select max(period_end) from new_keys)
    {% endif %}
    window
        w_key as (partition by r.enterprise_id, r.meter_id, r.period_end order by r.sent_at desc, r.batch_id desc, r.row_number desc),
        w_sent as (partition by r.enterprise_id, r.meter_id, r.period_end, r.sent_at)
)

select
    v.enterprise_id,
    v.meter_id,
    m.energy_code,
    v.period_start,
    v.period_end,
    v.value * c.factor as value,
    m.unit,
    v.value as source_value,
    v.unit as source_unit,
    c.factor as unit_factor,
    v.quality,
    v.sent_at,
    v.versions,
    v.is_conflict and v.version_rank = 1 as is_conflict,
    v.batch_id,
    v.row_number,
    {% if is_incremental() %}
    (select greatest(max(batch_id), {{ vee_built_through(this) }})
     from {{ source('raw', 'readings') }} where batch_id > {{ vee_built_through(this) }})
    {% else %}
    (select max(batch_id) from {{ source('raw', 'readings') }})
    {% endif %} as built_through_batch
from versions as v
inner join {{ ref('stg_raw__meters') }} as m using (enterprise_id, meter_id)
inner join {{ ref('unit_conversions') }} as c on c.from_unit = v.unit and c.to_unit = m.unit
where v.version_rank = 1

{{
    config(
        materialized='incremental',
        unlogged=True,
        unique_key=['enterprise_id', 'meter_id', 'local_date'],
        incremental_strategy='key_replace',
        range_column='local_date',
        indexes=[{'columns': ['enterprise_id', 'meter_id', 'local_date'], 'unique': True}],
        post_hook=["analyze {{ this }}", "{{ align_indexes(this) }}", "{{ align_table_storage(this) }}"],
    )
}}
-- The rebuilt meter-days replace theirs through the key's index, bounded to the days they cover
-- (macros/incremental_vee.sql: key_replace; dbt's delete+insert hashed the whole table for every build).
-- Per meter and local day: consumption (measured + estimated), the estimated part, the completeness
-- counts (received ÷ expected intervals), when the last valid reading of the day ended, and how many
-- readings were sent for the day and how many on time (within 1 h of their period end).
-- Incremental: the meter-days holding intervals rebuilt since this model's last build are recomputed
-- whole, each from its own rows (lateral lookups on the interval and reading indexes).
with touched as (
    select
        enterprise_id, meter_id, local_date, local_month,
        (local_date::timestamp at time zone '{{ var("timezone") }}') as day_start,
        ((local_date + 1)::timestamp at time zone '{{ var("timezone") }}') as day_end
    from {{ ref('int_meter_intervals') }}
    {% if is_incremental() %}
    where built_through_batch > {{ vee_built_through(this) }}
    {% endif %}
    group by enterprise_id, meter_id, local_date, local_month
)

select
    t.enterprise_id,
    t.meter_id,
    t.local_date,
    t.local_month,
    i.consumption,
    i.estimated_consumption,
    i.intervals_expected,
    i.intervals_received,
    i.intervals_estimated,
    i.intervals_missing,
    i.intervals_rejected,
    i.last_received_end,
    s.readings_sent,
    s.readings_on_time,
    {{ vee_current_batch() }} as built_through_batch
from touched as t
cross join lateral (
    select
        sum(consumption) as consumption,
        coalesce(sum(consumption) filter (where quality_code = 'estimated'), 0) as estimated_consumption,
        count(*) as intervals_expected,
        count(*) filter (where is_received) as intervals_received,
        count(*) filter (where quality_code = 'estimated') as intervals_estimated,
        count(*) filter (where quality_code = 'missing') as intervals_missing,
        count(*) filter (where quality_code = 'rejected') as intervals_rejected,
        max(interval_end) filter (where is_received) as last_received_end
    from {{ ref('int_meter_intervals') }} as x
    where x.enterprise_id = t.enterprise_id and x.meter_id = t.meter_id
      and x.interval_start >= t.day_start and x.interval_start < t.day_end
) as i
cross join lateral (
    -- readings whose period starts this day (a reading ends at most a day after it starts)
    select
        count(*) as readings_sent,
        count(*) filter (where r.sent_at - r.period_end <= interval '1 hour') as readings_on_time
    from {{ ref('stg_raw__readings') }} as r
    where r.enterprise_id = t.enterprise_id and r.meter_id = t.meter_id
      and r.period_end > t.day_start and r.period_end <= t.day_end + interval '1 day'
      and r.period_start >= t.day_start and r.period_start < t.day_end
) as s

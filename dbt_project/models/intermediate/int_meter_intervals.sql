-- One row per meter and expected interval, from the meter's first interval up to the data
-- watermark (latest period_end received anywhere), with a quality code on every interval:
-- measured, estimated, missing or rejected. Missing and rejected runs of at most
-- var('max_estimate_gap_intervals') intervals, with measured neighbours on both sides, are
-- estimated as the mean of those neighbours; longer runs stay missing (or rejected).
{% set max_gap = var('max_estimate_gap_intervals') %}
with observed as (
    select * from {{ ref('int_meter_observations') }}
),

cadence as (
    select
        enterprise_id, meter_id,
        mode() within group (order by interval_end - interval_start) as cadence,
        min(interval_start) as first_start
    from observed
    group by 1, 2
),

watermark as (
    select max(period_end) as data_watermark from {{ ref('stg_raw__readings') }}
),

grid as (
    select c.enterprise_id, c.meter_id, g.interval_start, g.interval_start + c.cadence as interval_end, c.cadence
    from cadence as c
    cross join watermark as w
    cross join lateral generate_series(c.first_start, w.data_watermark - c.cadence, c.cadence) as g(interval_start)
),

joined as (
    select
        g.enterprise_id, g.meter_id, g.interval_start, g.interval_end, g.cadence,
        coalesce(o.quality_code, 'missing') as quality_code,
        o.vee_flag,
        o.observed_consumption,
        coalesce(o.is_received, false) as is_received
    from grid as g
    left join observed as o
        on o.enterprise_id = g.enterprise_id and o.meter_id = g.meter_id and o.interval_start = g.interval_start
),

islands as (
    select
        *,
        sum(case when quality_code in ('measured', 'estimated') then 1 else 0 end)
            over (partition by enterprise_id, meter_id order by interval_start rows unbounded preceding) as island
    from joined
),

runs as (
    select
        *,
        count(*) filter (where quality_code in ('missing', 'rejected'))
            over (partition by enterprise_id, meter_id, island) as run_length,
        max(case when quality_code = 'measured' then observed_consumption end)
            over (partition by enterprise_id, meter_id, island) as before_run
    from islands
),

good as (
    -- the measured interval that ends a run starts the next island: key it by the run's island
    select enterprise_id, meter_id, island - 1 as run_island, observed_consumption as after_run
    from islands
    where quality_code = 'measured'
)

select
    r.enterprise_id,
    r.meter_id,
    r.interval_start,
    r.interval_end,
    {{ local_date('r.interval_start') }} as local_date,
    {{ local_month('r.interval_start') }} as local_month,
    case
        when r.quality_code in ('measured', 'estimated') then r.observed_consumption
        when r.run_length <= {{ max_gap }} and r.before_run is not null and g.after_run is not null
            then (r.before_run + g.after_run) / 2.0
    end as consumption,
    case
        when r.quality_code in ('measured', 'estimated') then r.quality_code
        when r.run_length <= {{ max_gap }} and r.before_run is not null and g.after_run is not null then 'estimated'
        else r.quality_code
    end as quality_code,
    case
        when r.quality_code in ('missing', 'rejected') and r.run_length <= {{ max_gap }}
            and r.before_run is not null and g.after_run is not null then coalesce(r.vee_flag || '; ', '') || 'gap_estimated'
        when r.quality_code = 'missing' then 'gap_not_estimated'
        else r.vee_flag
    end as vee_flag,
    r.quality_code as observed_quality_code,
    r.observed_consumption,
    r.is_received,
    case when r.quality_code in ('missing', 'rejected') then r.run_length end as run_length
from runs as r
left join good as g
    on g.enterprise_id = r.enterprise_id and g.meter_id = r.meter_id and g.run_island = r.island

-- 综合能耗(当量值) per enterprise and month over the whole history: metered where the month is metered
-- and at least 90 % complete, otherwise the enterprise's own reported totals calibrated to the metered
-- basis (reported totals count boundary purchases; metered 综合能耗 nets out supply to neighbours and
-- uses enterprise coefficients): calibration = Σ metered / Σ reported over the months that have both,
-- 1 where none overlap. Only complete months. The input of forecasts and long trends.
with reported as (
    select * from {{ ref('int_enterprise_reported_monthly') }}
    where days_reported = days_in_month
),

watermarks as (
    {{ vee_enterprise_watermarks() }}
),

metered as (
    -- months before the one the enterprise's data watermark falls in (macros/incremental_vee.sql)
    select f.enterprise_id, f.month, f.comprehensive_tce_equivalent
    from {{ ref('fct_enterprise_monthly') }} as f
    inner join watermarks as w using (enterprise_id)
    where
        f.completeness >= {{ var('completeness_threshold') }}
        and f.month < {{ local_month('w.data_watermark') }}
),

calibration as (
    select
        r.enterprise_id,
        sum(m.comprehensive_tce_equivalent) / nullif(sum(r.reported_tce_equivalent), 0) as factor,
        count(*) as overlap_months
    from reported as r
    inner join metered as m using (enterprise_id, month)
    group by 1
),

series as (
    select
        coalesce(m.enterprise_id, r.enterprise_id) as enterprise_id,
        coalesce(m.month, r.month) as month,
        coalesce(m.comprehensive_tce_equivalent, r.reported_tce_equivalent * coalesce(c.factor, 1))
            as comprehensive_tce_equivalent,
        case when m.enterprise_id is not null then 'metered' else 'reported' end as source,
        coalesce(c.factor, 1) as calibration_factor,
        coalesce(c.overlap_months, 0) as calibration_months
    from metered as m
    full outer join reported as r using (enterprise_id, month)
    left join calibration as c on c.enterprise_id = coalesce(m.enterprise_id, r.enterprise_id)
)

select
    s.enterprise_id,
    s.month,
    d.region_code,
    d.industry_code,
    s.comprehensive_tce_equivalent,
    s.source,
    s.calibration_factor,
    s.calibration_months
from series as s
inner join {{ ref('dim_enterprise') }} as d using (enterprise_id)

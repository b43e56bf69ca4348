-- Coverage per pilot region, month and tier: enterprises expected (registered), connected (feeding
-- by the month's end), reporting (data that month), with an energy management centre, and meeting
-- the 90 % completeness rule. Tier by measured 综合能耗 (当量值) over the trailing 12 months,
-- annualised while less history exists; declared_tce when nothing is measured yet.
-- A region has a row for every month with data up to the platform's data watermark (a region where
-- nobody reported shows 0), and for any later month in which one of its own enterprises has data: one
-- enterprise's far-off month never adds months to other regions (macros/incremental_vee.sql).
with regions as (
    select distinct region_code from {{ ref('dim_enterprise') }}
),

months as (
    select r.region_code, f.month
    from {{ ref('fct_enterprise_monthly') }} as f
    cross join regions as r
    where f.month <= {{ local_month(vee_platform_watermark()) }}
    union
    select d.region_code, f.month
    from {{ ref('fct_enterprise_monthly') }} as f
    inner join {{ ref('dim_enterprise') }} as d using (enterprise_id)
),

trailing_year as (
    select
        d.enterprise_id, m.month,
        sum(f.comprehensive_tce_equivalent) as measured_tce,
        count(f.month) as months_measured
    from {{ ref('dim_enterprise') }} as d
    inner join months as m on m.region_code = d.region_code
    left join {{ ref('fct_enterprise_monthly') }} as f
        on f.enterprise_id = d.enterprise_id and f.month > (m.month - interval '12 months')::date and f.month <= m.month
    group by 1, 2
),

per_enterprise as (
    select
        d.region_code, t.month, d.enterprise_id, d.has_energy_centre,
        case when t.months_measured > 0 then t.measured_tce * 12.0 / t.months_measured else d.declared_tce end
            as annual_tce,
        (d.connected_since is null or d.connected_since < (t.month + interval '1 month')::date)
        and exists (
            select 1 from {{ ref('fct_enterprise_monthly') }} as earlier
            where earlier.enterprise_id = d.enterprise_id and earlier.month <= t.month
        ) as is_connected,
        f.enterprise_id is not null as is_reporting,
        coalesce(f.completeness >= {{ var('completeness_threshold') }}, false) as meets_completeness
    from trailing_year as t
    inner join {{ ref('dim_enterprise') }} as d using (enterprise_id)
    left join {{ ref('fct_enterprise_monthly') }} as f on f.enterprise_id = t.enterprise_id and f.month = t.month
    where d.region_code is not null
),

tiers as (
    select '>=100000' as tier, 100000 as threshold
    union all
    select '>=10000' as tier, 10000 as threshold
)

select
    p.region_code,
    p.month,
    t.tier,
    count(*) filter (where p.annual_tce >= t.threshold) as enterprises_expected,
    count(*) filter (where p.annual_tce >= t.threshold and p.is_connected) as enterprises_connected,
    count(*) filter (where p.annual_tce >= t.threshold and p.is_reporting) as enterprises_reporting,
    count(*) filter (where p.annual_tce >= t.threshold and p.has_energy_centre) as with_energy_centre,
    count(*) filter (where p.annual_tce >= t.threshold and p.meets_completeness) as meeting_completeness_90,
    (count(*) filter (where p.annual_tce >= t.threshold and p.is_connected))::numeric / nullif(
        count(*) filter (where p.annual_tce >= t.threshold), 0
    ) as target_share_connected
from per_enterprise as p
cross join tiers as t
group by 1, 2, 3

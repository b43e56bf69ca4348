-- Per pilot region, industry division and month: totals (= Σ enterprises), enterprises expected
-- (registered and connected by the month's end) and reporting (with data that month), intensity,
-- the industry's share of the region and changes.
with months as (
    select distinct month from {{ ref('fct_enterprise_monthly') }}
),

expected as (
    select d.region_code, d.industry_code, m.month, count(*) as enterprises_expected
    from {{ ref('dim_enterprise') }} as d
    cross join months as m
    where
        d.region_code is not null
        and (d.connected_since is null or d.connected_since < (m.month + interval '1 month')::date)
    group by 1, 2, 3
),

reported as (
    select
        region_code, industry_code, month,
        sum(comprehensive_tce_equivalent) as comprehensive_tce_equivalent,
        sum(comprehensive_tce_equal_value) as comprehensive_tce_equal_value,
        count(*) as enterprises_reporting,
        sum(value_added_10k_yuan) as value_added_10k_yuan,
        sum(comprehensive_tce_equivalent) filter (where value_added_10k_yuan is not null) as tce_with_value_added
    from {{ ref('fct_enterprise_monthly') }}
    group by 1, 2, 3
),

combined as (
    select
        r.region_code, r.industry_code, r.month,
        r.comprehensive_tce_equivalent,
        r.comprehensive_tce_equal_value,
        coalesce(x.enterprises_expected, 0) as enterprises_expected,
        r.enterprises_reporting,
        r.value_added_10k_yuan,
        r.tce_with_value_added / nullif(r.value_added_10k_yuan, 0) as tce_per_10k_yuan_value_added
    from reported as r
    left join expected as x using (region_code, industry_code, month)
)

select
    c.*,
    c.comprehensive_tce_equivalent / nullif(
        sum(c.comprehensive_tce_equivalent) over (partition by c.region_code, c.month), 0
    ) as share_of_region,
    c.comprehensive_tce_equivalent / nullif(p.comprehensive_tce_equivalent, 0) - 1 as mom_change,
    c.comprehensive_tce_equivalent / nullif(y.comprehensive_tce_equivalent, 0) - 1 as yoy_change
from combined as c
left join combined as p
    on
        p.region_code = c.region_code
        and p.industry_code = c.industry_code
        and p.month = (c.month - interval '1 month')::date
left join combined as y
    on
        y.region_code = c.region_code
        and y.industry_code = c.industry_code
        and y.month = (c.month - interval '1 year')::date

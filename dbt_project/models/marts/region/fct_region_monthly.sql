-- Per pilot region and month: Σ of its industries (= Σ enterprises).
with combined as (
    select
        region_code, month,
        sum(comprehensive_tce_equivalent) as comprehensive_tce_equivalent,
        sum(comprehensive_tce_equal_value) as comprehensive_tce_equal_value,
        sum(enterprises_expected) as enterprises_expected,
        sum(enterprises_reporting) as enterprises_reporting,
        sum(value_added_10k_yuan) as value_added_10k_yuan,
        sum(tce_per_10k_yuan_value_added * value_added_10k_yuan) / nullif(sum(value_added_10k_yuan), 0)
            as tce_per_10k_yuan_value_added
    from {{ ref('fct_region_industry_monthly') }}
    group by 1, 2
)

select
    c.*,
    c.comprehensive_tce_equivalent / nullif(p.comprehensive_tce_equivalent, 0) - 1 as mom_change,
    c.comprehensive_tce_equivalent / nullif(y.comprehensive_tce_equivalent, 0) - 1 as yoy_change
from combined as c
left join combined as p on p.region_code = c.region_code and p.month = (c.month - interval '1 month')::date
left join combined as y on y.region_code = c.region_code and y.month = (c.month - interval '1 year')::date

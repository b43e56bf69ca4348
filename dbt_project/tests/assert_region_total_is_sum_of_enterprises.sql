-- Identity: a region's 综合能耗 per month equals the sum over its enterprises (warehouse logic: error).
{{ config(severity='error') }}
with enterprise_sums as (
    select region_code, month, sum(comprehensive_tce_equivalent) as total
    from {{ ref('fct_enterprise_monthly') }}
    group by 1, 2
)

select r.region_code, r.month, r.comprehensive_tce_equivalent, e.total
from {{ ref('fct_region_monthly') }} as r
left join enterprise_sums as e using (region_code, month)
where abs(r.comprehensive_tce_equivalent - coalesce(e.total, 0)) > 1e-6

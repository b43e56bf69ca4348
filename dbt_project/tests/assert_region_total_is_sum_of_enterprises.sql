-- Identity: a region's 综合能耗 per month equals the sum over its enterprises (warehouse logic: error).
{{ config(severity='error') }}
select r.region_code, r.month, r.comprehensive_tce_equivalent, e.total
from {{ ref('fct_region_monthly') }} as r
left join (
    select region_code, month, sum(comprehensive_tce_equivalent) as total
    from {{ ref('fct_enterprise_monthly') }}
    group by 1, 2
) as e using (region_code, month)
where abs(r.comprehensive_tce_equivalent - coalesce(e.total, 0)) > 1e-6

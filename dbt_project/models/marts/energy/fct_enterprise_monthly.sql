-- 综合能耗 per enterprise and month: Σ energy types that count toward it (boundary in − out),
-- at 当量值 and 等价值, with intensities per 10^4 yuan and changes against last month and last year.
with energy as (
    select
        f.enterprise_id,
        f.month,
        sum(f.tce_equivalent) as comprehensive_tce_equivalent,
        sum(f.tce_equal_value) as comprehensive_tce_equal_value,
        sum(f.intervals_received)::numeric / nullif(sum(f.intervals_expected), 0) as completeness,
        coalesce(sum(f.estimated_tce) / nullif(sum(abs(f.tce_equivalent)), 0), 0) as estimated_share
    from {{ ref('fct_enterprise_energy_monthly') }} as f
    inner join {{ ref('energy_types') }} as et on et.energy_code = f.energy_code
    where et.counts_toward_comprehensive
    group by 1, 2
),

with_economics as (
    select
        e.*,
        d.region_code,
        d.industry_code,
        x.gross_output_10k_yuan,
        x.value_added_10k_yuan
    from energy as e
    inner join {{ ref('dim_enterprise') }} as d using (enterprise_id)
    left join {{ ref('stg_raw__economics') }} as x using (enterprise_id, month)
)

select
    c.enterprise_id,
    c.month,
    c.region_code,
    c.industry_code,
    c.comprehensive_tce_equivalent,
    c.comprehensive_tce_equal_value,
    c.gross_output_10k_yuan,
    c.value_added_10k_yuan,
    c.comprehensive_tce_equivalent / nullif(c.value_added_10k_yuan, 0) as tce_per_10k_yuan_value_added,
    c.comprehensive_tce_equivalent / nullif(c.gross_output_10k_yuan, 0) as tce_per_10k_yuan_gross_output,
    c.completeness,
    c.estimated_share,
    c.comprehensive_tce_equivalent / nullif(p.comprehensive_tce_equivalent, 0) - 1 as mom_change,
    c.comprehensive_tce_equivalent / nullif(y.comprehensive_tce_equivalent, 0) - 1 as yoy_change
from with_economics as c
left join energy as p on p.enterprise_id = c.enterprise_id and p.month = (c.month - interval '1 month')::date
left join energy as y on y.enterprise_id = c.enterprise_id and y.month = (c.month - interval '1 year')::date

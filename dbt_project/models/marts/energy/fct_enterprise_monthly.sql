-- 综合能耗 per enterprise and month (the statistical total, 205-1/205-2 综合能源消费量): Σ energy types
-- that count toward it, received for industrial production (用作原料 included) − supplied, at 当量值 and
-- 等价值 (see fct_enterprise_energy_daily), with intensities per 10^4 yuan and changes against last month
-- and last year. Working media (耗能工质) never count here (205-1 has no working-media rows); they count in
-- unit-product energy where the product's standard counts them. Beside the total, its parts and what
-- stays outside it, so that the 205-1/205-2 rows and the dual-control indicators can be derived:
-- raw-material use (included), non-industrial use (excluded), energy produced or recovered inside and
-- energy supplied to others.
with energy as (
    select
        f.enterprise_id,
        f.month,
        sum(f.tce_equivalent) filter (where et.counts_toward_comprehensive) as comprehensive_tce_equivalent,
        sum(f.tce_equal_value) filter (where et.counts_toward_comprehensive) as comprehensive_tce_equal_value,
        sum(f.intervals_received) filter (where et.counts_toward_comprehensive)::numeric
        / nullif(sum(f.intervals_expected) filter (where et.counts_toward_comprehensive), 0) as completeness,
        coalesce(
            sum(f.estimated_tce) filter (where et.counts_toward_comprehensive)
            / nullif(sum(abs(f.tce_equivalent)) filter (where et.counts_toward_comprehensive), 0),
            0
        ) as estimated_share,
        sum(f.tce_equivalent_raw_material) filter (where et.counts_toward_comprehensive)
            as raw_material_tce_equivalent,
        sum(f.tce_equivalent_non_industrial) filter (where et.counts_toward_comprehensive)
            as non_industrial_tce_equivalent,
        sum(f.tce_equivalent_produced) filter (where et.counts_toward_comprehensive) as produced_tce_equivalent,
        sum(f.tce_equivalent_recovered) filter (where et.counts_toward_comprehensive) as recovered_tce_equivalent,
        sum(f.tce_equivalent_out) filter (where et.counts_toward_comprehensive) as supplied_tce_equivalent,
        coalesce(sum(f.tce_equivalent) filter (where et.is_working_medium), 0) as working_media_tce_equivalent,
        max(f.equal_value_coefficient) filter (where f.energy_code = 'electricity')
            as electricity_equal_value_coefficient,
        max(f.equal_value_basis_year) filter (where f.energy_code = 'electricity')
            as electricity_equal_value_basis_year,
        max(f.equal_value_confidence) filter (where f.energy_code = 'electricity') as electricity_equal_value_confidence
    from {{ ref('fct_enterprise_energy_monthly') }} as f
    inner join {{ ref('energy_types') }} as et on et.energy_code = f.energy_code
    group by 1, 2
    having count(*) filter (where et.counts_toward_comprehensive) > 0
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
    c.comprehensive_tce_equivalent / nullif(y.comprehensive_tce_equivalent, 0) - 1 as yoy_change,
    c.raw_material_tce_equivalent,
    c.non_industrial_tce_equivalent,
    c.produced_tce_equivalent,
    c.recovered_tce_equivalent,
    c.supplied_tce_equivalent,
    c.working_media_tce_equivalent,
    c.electricity_equal_value_coefficient,
    c.electricity_equal_value_basis_year,
    c.electricity_equal_value_confidence
from with_economics as c
left join energy as p on p.enterprise_id = c.enterprise_id and p.month = (c.month - interval '1 month')::date
left join energy as y on y.enterprise_id = c.enterprise_id and y.month = (c.month - interval '1 year')::date

-- Per enterprise, month and energy type: the sum of the daily rows (see fct_enterprise_energy_daily for the
-- boundary rules and the 205-1 split).
select
    enterprise_id,
    date_trunc('month', date)::date as month,
    energy_code,
    sum(quantity) as quantity,
    sum(quantity_in) as quantity_in,
    sum(quantity_out) as quantity_out,
    max(unit) as unit,
    sum(tce_equivalent) as tce_equivalent,
    sum(tce_equal_value) as tce_equal_value,
    sum(intervals_received)::numeric / nullif(sum(intervals_expected), 0) as completeness,
    coalesce(sum(estimated_tce) / nullif(sum(abs(tce_equivalent)), 0), 0) as estimated_share,
    sum(intervals_expected) as intervals_expected,
    sum(intervals_received) as intervals_received,
    sum(estimated_tce) as estimated_tce,
    count(*) as days_with_data,
    -- 205-1 采用折标系数 (coefficient × quantity = tce_equivalent, meter overrides included) and 参考折标系数
    sum(tce_equivalent) * 1000.0 / nullif(sum(quantity), 0) as coefficient_kgce_per_unit,
    max(et.coefficient_kgce_per_unit) as reference_coefficient_kgce_per_unit,
    sum(quantity_raw_material) as quantity_raw_material,
    sum(quantity_non_industrial) as quantity_non_industrial,
    sum(quantity_produced) as quantity_produced,
    sum(quantity_recovered) as quantity_recovered,
    sum(quantity_out_self_generated) as quantity_out_self_generated,
    sum(tce_equivalent_raw_material) as tce_equivalent_raw_material,
    sum(tce_equivalent_non_industrial) as tce_equivalent_non_industrial,
    sum(tce_equivalent_produced) as tce_equivalent_produced,
    sum(tce_equivalent_recovered) as tce_equivalent_recovered,
    sum(tce_equivalent_out) as tce_equivalent_out,
    sum(tce_equal_value_out) as tce_equal_value_out,
    max(equal_value_coefficient) as equal_value_coefficient,
    max(equal_value_basis_year) as equal_value_basis_year,
    max(equal_value_confidence) as equal_value_confidence,
    bool_or(equal_value_carried_forward) as equal_value_carried_forward
from {{ ref('fct_enterprise_energy_daily') }}
inner join {{ ref('energy_types') }} as et using (energy_code)
group by 1, 2, 3

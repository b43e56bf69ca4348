-- Per enterprise, month and energy type: the sum of the daily rows (see fct_enterprise_energy_daily for the
-- boundary rules and the 205-1 split).
select
    d.enterprise_id,
    date_trunc('month', d.date)::date as month,
    d.energy_code,
    sum(d.quantity) as quantity,
    sum(d.quantity_in) as quantity_in,
    sum(d.quantity_out) as quantity_out,
    max(d.unit) as unit,
    sum(d.tce_equivalent) as tce_equivalent,
    sum(d.tce_equal_value) as tce_equal_value,
    sum(d.intervals_received)::numeric / nullif(sum(d.intervals_expected), 0) as completeness,
    coalesce(sum(d.estimated_tce) / nullif(sum(abs(d.tce_equivalent)), 0), 0) as estimated_share,
    sum(d.intervals_expected) as intervals_expected,
    sum(d.intervals_received) as intervals_received,
    sum(d.estimated_tce) as estimated_tce,
    count(*) as days_with_data,
    -- 205-1 采用折标系数 (coefficient × quantity = tce_equivalent, meter overrides included) and 参考折标系数
    sum(d.tce_equivalent) * 1000.0 / nullif(sum(d.quantity), 0) as coefficient_kgce_per_unit,
    max(et.coefficient_kgce_per_unit) as reference_coefficient_kgce_per_unit,
    sum(d.quantity_raw_material) as quantity_raw_material,
    sum(d.quantity_non_industrial) as quantity_non_industrial,
    sum(d.quantity_produced) as quantity_produced,
    sum(d.quantity_recovered) as quantity_recovered,
    sum(d.quantity_out_self_generated) as quantity_out_self_generated,
    sum(d.tce_equivalent_raw_material) as tce_equivalent_raw_material,
    sum(d.tce_equivalent_non_industrial) as tce_equivalent_non_industrial,
    sum(d.tce_equivalent_produced) as tce_equivalent_produced,
    sum(d.tce_equivalent_recovered) as tce_equivalent_recovered,
    sum(d.tce_equivalent_out) as tce_equivalent_out,
    sum(d.tce_equal_value_out) as tce_equal_value_out,
    max(d.equal_value_coefficient) as equal_value_coefficient,
    max(d.equal_value_basis_year) as equal_value_basis_year,
    max(d.equal_value_confidence) as equal_value_confidence,
    bool_or(d.equal_value_carried_forward) as equal_value_carried_forward
from {{ ref('fct_enterprise_energy_daily') }} as d
inner join {{ ref('energy_types') }} as et on d.energy_code = et.energy_code
group by d.enterprise_id, date_trunc('month', d.date)::date, d.energy_code

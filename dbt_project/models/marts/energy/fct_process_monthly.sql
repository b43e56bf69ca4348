-- Process (工序) energy per enterprise, month, process and energy type: process-scope meters only (they
-- never feed the enterprise total). quantity / tce_equivalent are the process's net energy as the limit
-- standards count 工序能耗 (e.g. GB 21256-2025): consumed in the process − supplied out of it − energy it
-- produced or recovered (contract v1.1 usage secondary_output / recovered, e.g. converter gas and steam
-- recovered at the converter, blast-furnace gas and TRT power at the blast furnace): so a converter's net
-- energy is negative. Working media (耗能工质) are kept here at their GB/T 2589 coefficient and flagged;
-- unit-product energy re-values them with the coefficient of the standard that judges the product.
with rows as (
    select
        r.*,
        r.usage in ('secondary_output', 'recovered') as produced_inside
    from {{ ref('int_enterprise_energy_daily') }} as r
    where r.scope <> 'boundary'
)

select
    r.enterprise_id,
    r.local_month as month,
    r.scope as process_code,
    r.energy_code,
    coalesce(sum(r.quantity_in) filter (where r.usage in ('industrial_production', 'raw_material')), 0)
    - sum(r.quantity_out)
    - coalesce(sum(r.quantity_in) filter (where r.produced_inside), 0) as quantity,
    max(r.unit) as unit,
    coalesce(sum(r.tce_equivalent_in) filter (where r.usage in ('industrial_production', 'raw_material')), 0)
    - sum(r.tce_equivalent_out)
    - coalesce(sum(r.tce_equivalent_in) filter (where r.produced_inside), 0) as tce_equivalent,
    sum(r.intervals_received)::numeric / nullif(sum(r.intervals_expected), 0) as completeness,
    coalesce(sum(r.tce_equal_value_in) filter (where r.usage in ('industrial_production', 'raw_material')), 0)
    - sum(r.tce_equal_value_out)
    - coalesce(sum(r.tce_equal_value_in) filter (where r.produced_inside), 0) as tce_equal_value,
    coalesce(sum(r.quantity_in) filter (where r.usage in ('industrial_production', 'raw_material')), 0)
        as quantity_consumed,
    sum(r.quantity_out) as quantity_out,
    coalesce(sum(r.quantity_in) filter (where r.usage = 'secondary_output'), 0) as quantity_produced,
    coalesce(sum(r.quantity_in) filter (where r.usage = 'recovered'), 0) as quantity_recovered,
    coalesce(sum(r.quantity_in) filter (where r.usage = 'non_industrial'), 0) as quantity_non_industrial,
    coalesce(sum(r.tce_equivalent_in) filter (where r.usage in ('industrial_production', 'raw_material')), 0)
        as tce_equivalent_consumed,
    coalesce(sum(r.tce_equivalent_in) filter (where r.produced_inside), 0) as tce_equivalent_produced_or_recovered,
    bool_or(et.is_working_medium) as is_working_medium,
    bool_or(et.is_fuel) as is_fuel
from rows as r
inner join {{ ref('energy_types') }} as et using (energy_code)
group by 1, 2, 3, 4

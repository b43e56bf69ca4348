-- The 205-1 rows summed per pilot region and month (Σ of the enterprises' rows in fct_energy_205_1_monthly,
-- same statistical units; 40 能源合计 in tce). coefficient_used = Σ tce ÷ Σ consumption (the reference
-- coefficient when nothing was consumed), so coefficient_used × consumption = tce holds for the region too.
with summed as (
    select
        e.region_code,
        f.month,
        f.nbs_code,
        max(f.energy_name_zh) as energy_name_zh,
        max(f.statistical_unit) as statistical_unit,
        max(f.sort_order) as sort_order,
        count(distinct f.enterprise_id) as enterprises,
        count(distinct f.enterprise_id) filter (where f.has_statement) as enterprises_with_statement,
        sum(f.opening_stock) as opening_stock,
        sum(f.purchased_quantity) as purchased_quantity,
        sum(f.purchased_value_1k_yuan) as purchased_value_1k_yuan,
        sum(f.consumption_total) as consumption_total,
        sum(f.consumption_industrial) as consumption_industrial,
        sum(f.consumption_raw_material) as consumption_raw_material,
        sum(f.consumption_non_industrial) as consumption_non_industrial,
        sum(f.consumption_transport) as consumption_transport,
        sum(f.closing_stock) as closing_stock,
        sum(f.supplied_to_others) as supplied_to_others,
        sum(f.produced_inside) as produced_inside,
        sum(f.tce_equivalent) as tce_equivalent,
        max(f.reference_coefficient) as reference_coefficient
    from {{ ref('fct_energy_205_1_monthly') }} as f
    inner join {{ ref('dim_enterprise') }} as e using (enterprise_id)
    group by 1, 2, 3
)

select
    region_code::text as region_code,
    month::date as month,
    nbs_code::text as nbs_code,
    energy_name_zh::text as energy_name_zh,
    statistical_unit::text as statistical_unit,
    sort_order::integer as sort_order,
    enterprises::integer as enterprises,
    enterprises_with_statement::integer as enterprises_with_statement,
    opening_stock::numeric as opening_stock,
    purchased_quantity::numeric as purchased_quantity,
    purchased_value_1k_yuan::numeric as purchased_value_1k_yuan,
    consumption_total::numeric as consumption_total,
    consumption_industrial::numeric as consumption_industrial,
    consumption_raw_material::numeric as consumption_raw_material,
    consumption_non_industrial::numeric as consumption_non_industrial,
    consumption_transport::numeric as consumption_transport,
    closing_stock::numeric as closing_stock,
    supplied_to_others::numeric as supplied_to_others,
    produced_inside::numeric as produced_inside,
    (
        case
            when nbs_code <> '40'
                then coalesce(tce_equivalent / nullif(consumption_total, 0), reference_coefficient)
        end
    )::numeric as coefficient_used,
    reference_coefficient::numeric as reference_coefficient,
    tce_equivalent::numeric as tce_equivalent
from summed

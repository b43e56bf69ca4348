-- Per pilot region and month: Σ of its industries (fct_region_industry_carbon_monthly, = Σ enterprises), with
-- the same rule: a CO2 sum is null when any enterprise of the region misses a factor.
with grouped as (
    select
        region_code,
        month,
        sum(enterprises_reporting)::bigint as enterprises_reporting,
        sum(enterprises_factor_missing)::bigint as enterprises_factor_missing,
        {{ sum_when_complete('direct_co2_t') }} as direct_co2_t,
        {{ sum_when_complete('indirect_electricity_co2_t') }} as indirect_electricity_co2_t,
        {{ sum_when_complete('indirect_heat_co2_t') }} as indirect_heat_co2_t,
        {{ sum_when_complete('total_co2_t') }} as total_co2_t,
        sum(value_added_10k_yuan) as value_added_10k_yuan,
        case
            when bool_and(co2_t_with_value_added is not null) filter (where value_added_10k_yuan is not null)
                then sum(co2_t_with_value_added)
        end as co2_t_with_value_added,
        sum(comprehensive_tce_equivalent) as comprehensive_tce_equivalent,
        sum(raw_material_tce_equivalent) as raw_material_tce_equivalent,
        sum(tce_net_of_raw_material) as tce_net_of_raw_material,
        sum(non_fossil_tce_equivalent) as non_fossil_tce_equivalent,
        sum(tce_net_of_non_fossil) as tce_net_of_non_fossil,
        sum(net_raw_with_value_added) as net_raw_with_value_added,
        sum(net_non_fossil_with_value_added) as net_non_fossil_with_value_added
    from {{ ref('fct_region_industry_carbon_monthly') }}
    group by 1, 2
)

select
    region_code,
    month,
    enterprises_reporting,
    enterprises_factor_missing,
    direct_co2_t,
    indirect_electricity_co2_t,
    indirect_heat_co2_t,
    total_co2_t,
    value_added_10k_yuan,
    co2_t_with_value_added / nullif(value_added_10k_yuan, 0) as co2_t_per_10k_yuan_value_added,
    comprehensive_tce_equivalent,
    raw_material_tce_equivalent,
    tce_net_of_raw_material,
    non_fossil_tce_equivalent,
    tce_net_of_non_fossil,
    net_raw_with_value_added / nullif(value_added_10k_yuan, 0) as tce_net_of_raw_material_per_10k_yuan_value_added,
    net_non_fossil_with_value_added / nullif(value_added_10k_yuan, 0)
        as tce_net_of_non_fossil_per_10k_yuan_value_added
from grouped

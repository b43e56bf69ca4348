-- Per pilot region, industry division and month: Σ of the enterprises' CO2 and dual-control indicators
-- (fct_enterprise_carbon_monthly). A sum over an enterprise whose factor is missing would understate, so a
-- CO2 sum is null when any enterprise of the group misses a factor (enterprises_factor_missing counts them).
-- Intensities over the enterprises that report value added.
with grouped as (
    select
        region_code,
        industry_code,
        month,
        count(*) as enterprises_reporting,
        count(*) filter (where factor_missing) as enterprises_factor_missing,
        {{ sum_when_complete('direct_co2_t') }} as direct_co2_t,
        {{ sum_when_complete('indirect_electricity_co2_t') }} as indirect_electricity_co2_t,
        {{ sum_when_complete('indirect_heat_co2_t') }} as indirect_heat_co2_t,
        {{ sum_when_complete('total_co2_t') }} as total_co2_t,
        sum(value_added_10k_yuan) as value_added_10k_yuan,
        case
            when bool_and(total_co2_t is not null) filter (where value_added_10k_yuan is not null)
                then sum(total_co2_t) filter (where value_added_10k_yuan is not null)
        end as co2_t_with_value_added,
        sum(comprehensive_tce_equivalent) as comprehensive_tce_equivalent,
        sum(raw_material_tce_equivalent) as raw_material_tce_equivalent,
        sum(tce_net_of_raw_material) as tce_net_of_raw_material,
        sum(non_fossil_tce_equivalent) as non_fossil_tce_equivalent,
        sum(tce_net_of_non_fossil) as tce_net_of_non_fossil,
        sum(tce_net_of_raw_material) filter (where value_added_10k_yuan is not null) as net_raw_with_value_added,
        sum(tce_net_of_non_fossil) filter (where value_added_10k_yuan is not null) as net_non_fossil_with_value_added
    from {{ ref('fct_enterprise_carbon_monthly') }}
    where region_code is not null
    group by 1, 2, 3
)

select
    region_code,
    industry_code,
    month,
    enterprises_reporting,
    enterprises_factor_missing,
    direct_co2_t,
    indirect_electricity_co2_t,
    indirect_heat_co2_t,
    total_co2_t,
    value_added_10k_yuan,
    co2_t_with_value_added,
    co2_t_with_value_added / nullif(value_added_10k_yuan, 0) as co2_t_per_10k_yuan_value_added,
    comprehensive_tce_equivalent,
    raw_material_tce_equivalent,
    tce_net_of_raw_material,
    non_fossil_tce_equivalent,
    tce_net_of_non_fossil,
    net_raw_with_value_added,
    net_non_fossil_with_value_added,
    net_raw_with_value_added / nullif(value_added_10k_yuan, 0) as tce_net_of_raw_material_per_10k_yuan_value_added,
    net_non_fossil_with_value_added / nullif(value_added_10k_yuan, 0)
        as tce_net_of_non_fossil_per_10k_yuan_value_added
from grouped

-- Per enterprise and month: energy-related CO2 (direct from fuel burned, indirect from net purchased
-- electricity and heat; see fct_enterprise_energy_co2_monthly), carbon intensity per 10^4 yuan of value added,
-- and the dual-control energy indicators beside 综合能耗: net of raw-material use (原料用能不纳入能源消费总量,
-- 2022) and net of non-fossil energy (非化石能源不纳入能源消耗总量, 2024), each a separate indicator.
-- A total a missing factor would understate is null (factor_missing_energy_codes names what is missing).
with co2 as (
    select
        enterprise_id,
        month,
        sum(co2_t) filter (where emission_scope = 'direct_combustion') as direct_co2_t,
        sum(co2_t) filter (where emission_scope = 'indirect_electricity') as indirect_electricity_co2_t,
        sum(co2_t) filter (where emission_scope = 'indirect_heat') as indirect_heat_co2_t,
        bool_or(factor_missing) as factor_missing,
        string_agg(energy_code, ',' order by energy_code) filter (where factor_missing) as factor_missing_energy_codes,
        bool_or(factor_missing) filter (where emission_scope = 'direct_combustion') as direct_factor_missing,
        bool_or(factor_missing) filter (where emission_scope like 'indirect%') as indirect_factor_missing,
        max(co2_factor) filter (where energy_code = 'electricity') as grid_factor_t_per_mwh,
        max(factor_series) filter (where energy_code = 'electricity') as grid_factor_series,
        max(factor_data_year) filter (where energy_code = 'electricity') as grid_factor_data_year,
        max(factor_confidence) filter (where energy_code = 'electricity') as grid_factor_confidence
    from {{ ref('fct_enterprise_energy_co2_monthly') }}
    group by 1, 2
),

non_fossil as (
    select
        enterprise_id,
        month,
        sum(tce_equivalent) as non_fossil_tce_equivalent
    from {{ ref('fct_enterprise_energy_monthly') }}
    {% set codes = var('non_fossil_energy_codes') -%}
    {% set code_list = ("'" ~ codes | join("', '") ~ "'") if codes else 'null' -%}
    where energy_code in ({{ code_list }})
    group by 1, 2
),

combined as (
    select
        m.enterprise_id,
        m.month,
        m.region_code,
        m.industry_code,
        case when c.direct_factor_missing then null else coalesce(c.direct_co2_t, 0) end as direct_co2_t,
        case when c.indirect_factor_missing then null else coalesce(c.indirect_electricity_co2_t, 0) end
            as indirect_electricity_co2_t,
        case when c.indirect_factor_missing then null else coalesce(c.indirect_heat_co2_t, 0) end
            as indirect_heat_co2_t,
        coalesce(c.factor_missing, false) as factor_missing,
        c.factor_missing_energy_codes,
        c.grid_factor_t_per_mwh,
        c.grid_factor_series,
        c.grid_factor_data_year,
        c.grid_factor_confidence,
        m.value_added_10k_yuan,
        m.comprehensive_tce_equivalent,
        coalesce(m.raw_material_tce_equivalent, 0) as raw_material_tce_equivalent,
        coalesce(n.non_fossil_tce_equivalent, 0) as non_fossil_tce_equivalent
    from {{ ref('fct_enterprise_monthly') }} as m
    left join co2 as c using (enterprise_id, month)
    left join non_fossil as n using (enterprise_id, month)
)

select
    enterprise_id,
    month,
    region_code,
    industry_code,
    direct_co2_t,
    indirect_electricity_co2_t,
    indirect_heat_co2_t,
    direct_co2_t + indirect_electricity_co2_t + indirect_heat_co2_t as total_co2_t,
    factor_missing,
    factor_missing_energy_codes,
    grid_factor_t_per_mwh,
    grid_factor_series,
    grid_factor_data_year,
    grid_factor_confidence,
    value_added_10k_yuan,
    (direct_co2_t + indirect_electricity_co2_t + indirect_heat_co2_t) / nullif(value_added_10k_yuan, 0)
        as co2_t_per_10k_yuan_value_added,
    comprehensive_tce_equivalent,
    raw_material_tce_equivalent,
    comprehensive_tce_equivalent - raw_material_tce_equivalent as tce_net_of_raw_material,
    non_fossil_tce_equivalent,
    comprehensive_tce_equivalent - non_fossil_tce_equivalent as tce_net_of_non_fossil,
    (comprehensive_tce_equivalent - raw_material_tce_equivalent) / nullif(value_added_10k_yuan, 0)
        as tce_net_of_raw_material_per_10k_yuan_value_added,
    (comprehensive_tce_equivalent - non_fossil_tce_equivalent) / nullif(value_added_10k_yuan, 0)
        as tce_net_of_non_fossil_per_10k_yuan_value_added
from combined

-- Energy-related CO2 per enterprise, month and energy type, at the enterprise boundary of 综合能耗
-- (fct_enterprise_energy_monthly: received for industrial production − supplied to others; non-industrial use,
-- energy produced or recovered inside never count, so a recovered gas burned inside adds nothing: its carbon
-- came in with the coal and coke already counted).
--   direct_combustion (化石燃料燃烧, 工业其他行业指南 2.1 / GB/T 32151 series): fuel burned = counted − 用作原料.
--       Fuel used as raw material is not burned (platform choice, S for the rule: the guidelines count
--       combustion emissions on fuel burned; the carbon of feedstock leaves with the product or as process
--       CO2, which is not modelled here). Activity = energy content of the fuel burned, tce × 29.307 GJ/tce (the
--       meter's measured heating value where it has one), × carbon content per unit heat × oxidation × 44/12.
--   indirect_electricity, indirect_heat (净购入电力/热力): net purchase = received − supplied (negative for a
--       net supplier, as the guideline's 净购入 is) × the factor of the series (var grid_factor_series for
--       electricity) whose valid_from ≤ month ≤ valid_to.
-- A month no factor row covers has co2_t null and factor_missing true: missing, never zero.
with factors as (
    select
        series,
        energy_code,
        emission_scope,
        data_year,
        valid_from,
        coalesce(valid_to, 'infinity'::date) as valid_to,
        coalesce(co2_factor, carbon_content_tc_per_tj / 1000.0 * oxidation_rate * 44.0 / 12.0) as co2_factor,
        co2_factor_unit,
        activity_per_unit,
        coalesce(activity_unit, 'GJ') as activity_unit,
        confidence
    from {{ ref('emission_factors') }}
    where series in ('guideline_default', '{{ var("grid_factor_series") }}')
),

scopes as (
    -- the energy types that emit, with their scope and activity unit (neither depends on the month: a
    -- month without a factor still has its activity)
    select distinct energy_code, emission_scope, activity_per_unit, activity_unit from factors
),

energy as (
    select
        f.enterprise_id,
        f.month,
        f.energy_code,
        s.emission_scope,
        s.activity_per_unit,
        s.activity_unit,
        f.unit,
        f.quantity,
        coalesce(f.quantity_raw_material, 0) as quantity_raw_material,
        f.tce_equivalent,
        coalesce(f.tce_equivalent_raw_material, 0) as tce_equivalent_raw_material
    from {{ ref('fct_enterprise_energy_monthly') }} as f
    inner join scopes as s on s.energy_code = f.energy_code
),

activity as (
    select
        e.*,
        case when e.emission_scope = 'direct_combustion' then e.quantity - e.quantity_raw_material else e.quantity end
            as quantity_emitting,
        case
            when e.emission_scope = 'direct_combustion'
                then (e.tce_equivalent - e.tce_equivalent_raw_material) * 29.307
            else e.quantity * e.activity_per_unit
        end as activity,
        x.co2_factor,
        x.co2_factor_unit,
        x.series as factor_series,
        x.data_year as factor_data_year,
        x.confidence as factor_confidence,
        x.energy_code is null as factor_missing
    from energy as e
    left join factors as x
        on
            x.energy_code = e.energy_code
            and e.month between x.valid_from and x.valid_to
)

select
    a.enterprise_id,
    a.month,
    d.region_code,
    d.industry_code,
    a.energy_code,
    a.emission_scope,
    a.unit,
    a.quantity,
    a.quantity_raw_material,
    a.quantity_emitting,
    a.activity,
    a.activity_unit,
    a.co2_factor,
    a.co2_factor_unit,
    a.factor_series,
    a.factor_data_year,
    a.factor_confidence,
    coalesce(a.factor_data_year < extract(year from a.month), false) as factor_beyond_data_year,
    a.factor_missing,
    a.activity * a.co2_factor as co2_t
from activity as a
inner join {{ ref('dim_enterprise') }} as d using (enterprise_id)

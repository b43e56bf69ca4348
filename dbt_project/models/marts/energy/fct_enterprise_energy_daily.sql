-- Per enterprise, local day and energy type at the enterprise boundary (GB/T 2589-2020, 5 边界划分), split
-- by the 205-1 purposes (contract v1.1 meter `usage`) so that a 205-1 row set can be derived:
--   received (boundary `in`) by use: industrial production, of which raw material, non-industrial;
--   supplied to others (boundary `out`, 外供);
--   produced inside by the enterprise's own conversion (`secondary_output`, 205-2 加工转换产出) and
--   recovered (`recovered`, 205-2 回收利用), from meters of any scope.
-- quantity / tce (what counts toward 综合能耗) = received for industrial production (raw material
-- included: 用作原料 is part of 工业生产消费) − supplied. Non-industrial consumption (205-1 非工业生产消费)
-- is outside the industrial 综合能耗. Energy produced or recovered inside is never added: what is used
-- inside was made from energy already counted, what leaves is deducted as supplied (205-2: 综合能源消费量
-- 扣除能源加工转换产出和回收利用等重复因素). So 205-1 consumption = received + produced + recovered −
-- supplied (± stock), and 综合能源消费量 = Σ consumption − Σ produced − Σ recovered = Σ (received − supplied).
--
-- 等价值 of supplied energy the enterprise generated itself (electricity is the only type with a 等价值
-- parameter): GB/T 2589 (2008 §6.2, kept in 2020 §8: U) values self-produced energy by the enterprise's
-- own input/output. The part of the supply that exceeds what was received is self-generated (energy is
-- conserved; or the declared `secondary_output`, whichever is larger); it is deducted at
-- min(national 等价值, own rate), own rate = fuel burned (当量值) ÷ energy produced (当量值) × the type's
-- 当量 coefficient (fuel shared by energy content over the outputs, 热量法). The rest of the supply
-- (passed through from what was received) is deducted at the national parameter. A coal power plant so
-- never nets below zero at 等价值 (its supply never takes away more fuel than it burned), and whenever
-- the plant is less efficient than the national rate the deduction is the ordinary 等价值 netting, so
-- region totals stay the balance-method sum.
with rows as (
    select
        r.*,
        et.is_fuel,
        r.usage in ('secondary_output', 'recovered') as produced_inside
    from {{ ref('int_enterprise_energy_daily') }} as r
    inner join {{ ref('energy_types') }} as et using (energy_code)
),

per_type as (
    select
        enterprise_id,
        local_date as date,
        energy_code,
        max(unit) as unit,
        bool_or(is_fuel) as is_fuel,
        coalesce(sum(quantity_in) filter (where scope = 'boundary' and not produced_inside), 0) as quantity_in,
        coalesce(sum(quantity_out) filter (where scope = 'boundary'), 0) as quantity_out,
        coalesce(sum(quantity_in) filter (where scope = 'boundary' and usage = 'raw_material'), 0)
            as quantity_raw_material,
        coalesce(sum(quantity_in) filter (where scope = 'boundary' and usage = 'non_industrial'), 0)
            as quantity_non_industrial,
        coalesce(sum(quantity_in) filter (where usage = 'secondary_output'), 0) as quantity_produced,
        coalesce(sum(quantity_in) filter (where usage = 'recovered'), 0) as quantity_recovered,
        -- received for industrial production (raw material included), at both values
        coalesce(sum(tce_equivalent_in) filter (
            where scope = 'boundary' and usage in ('industrial_production', 'raw_material')
        ), 0) as tce_in_counted,
        coalesce(sum(tce_equal_value_in) filter (
            where scope = 'boundary' and usage in ('industrial_production', 'raw_material')
        ), 0) as tce_ev_in_counted,
        coalesce(sum(tce_equivalent_in) filter (where scope = 'boundary' and usage = 'industrial_production'), 0)
            as tce_in_industrial,
        coalesce(sum(quantity_in) filter (
            where scope = 'boundary' and usage in ('industrial_production', 'raw_material')
        ), 0) as quantity_in_counted,
        coalesce(sum(tce_equivalent_out) filter (where scope = 'boundary'), 0) as tce_out,
        coalesce(sum(tce_equal_value_out) filter (where scope = 'boundary'), 0) as tce_ev_out,
        coalesce(sum(tce_equivalent_in) filter (where scope = 'boundary' and usage = 'raw_material'), 0)
            as tce_equivalent_raw_material,
        coalesce(sum(tce_equivalent_in) filter (where scope = 'boundary' and usage = 'non_industrial'), 0)
            as tce_equivalent_non_industrial,
        coalesce(sum(tce_equivalent_in) filter (where usage = 'secondary_output'), 0) as tce_equivalent_produced,
        coalesce(sum(tce_equivalent_in) filter (where usage = 'recovered'), 0) as tce_equivalent_recovered,
        max(equal_value_coefficient) as equal_value_coefficient,
        max(equal_value_basis_year) as equal_value_basis_year,
        max(equal_value_confidence) as equal_value_confidence,
        bool_or(equal_value_carried_forward) filter (where equal_value_coefficient is not null)
            as equal_value_carried_forward,
        coalesce(sum(intervals_expected) filter (where scope = 'boundary'), 0) as intervals_expected,
        coalesce(sum(intervals_received) filter (where scope = 'boundary'), 0) as intervals_received,
        coalesce(sum(estimated_tce) filter (where scope = 'boundary' and not produced_inside), 0) as estimated_tce,
        coalesce(sum(estimated_quantity) filter (where scope = 'boundary'), 0) as estimated_quantity,
        coalesce(sum(intervals_received) filter (where produced_inside), 0) as intervals_received_produced
    from rows
    group by 1, 2, 3
),

self_generated as (
    -- supplied energy the enterprise made itself: the declared output, or at least what it supplied
    -- beyond what it received; only for types whose 等价值 differs from 当量值
    select
        t.*,
        case
            when t.equal_value_coefficient is not null and t.quantity_out > 0
                then least(t.quantity_out, greatest(t.quantity_produced, t.quantity_out - t.quantity_in, 0))
            else 0
        end as quantity_out_self_generated
    from per_type as t
),

own_rate as (
    -- fuel burned (industrial use, 当量值) over all energy produced inside by conversion (当量值)
    select
        enterprise_id,
        date,
        sum(tce_in_industrial) filter (where is_fuel) as fuel_tce,
        sum(greatest(
            tce_equivalent_produced,
            quantity_out_self_generated * tce_out / nullif(quantity_out, 0)
        )) as produced_tce
    from self_generated
    group by 1, 2
),

valued as (
    select
        s.*,
        o.fuel_tce / nullif(o.produced_tce, 0) as own_input_per_output,
        case
            when s.quantity_out_self_generated > 0
                then
                    (s.quantity_out - s.quantity_out_self_generated) / s.quantity_out * s.tce_ev_out
                    + s.quantity_out_self_generated / s.quantity_out * least(
                        s.tce_ev_out,
                        coalesce(o.fuel_tce / nullif(o.produced_tce, 0), 0) * s.tce_out
                    )
            else s.tce_ev_out
        end as tce_ev_out_valued
    from self_generated as s
    inner join own_rate as o using (enterprise_id, date)
)

select
    enterprise_id,
    date,
    energy_code,
    quantity_in_counted - quantity_out as quantity,
    quantity_in,
    quantity_out,
    unit,
    tce_in_counted - tce_out as tce_equivalent,
    tce_ev_in_counted - tce_ev_out_valued as tce_equal_value,
    intervals_received::numeric / nullif(intervals_expected, 0) as completeness,
    coalesce(estimated_tce / nullif(abs(tce_in_counted - tce_out), 0), 0) as estimated_share,
    intervals_expected,
    intervals_received,
    estimated_tce,
    -- the coefficient actually used (205-1 采用折标系数): meter overrides included, so coefficient ×
    -- quantity = tce_equivalent; the energy type's default beside it (205-1 参考折标系数)
    (tce_in_counted - tce_out) * 1000.0 / nullif(quantity_in_counted - quantity_out, 0) as coefficient_kgce_per_unit,
    quantity_raw_material,
    quantity_non_industrial,
    quantity_produced,
    quantity_recovered,
    quantity_out_self_generated,
    tce_equivalent_raw_material,
    tce_equivalent_non_industrial,
    tce_equivalent_produced,
    tce_equivalent_recovered,
    tce_out as tce_equivalent_out,
    tce_ev_out_valued as tce_equal_value_out,
    equal_value_coefficient,
    equal_value_basis_year,
    equal_value_confidence,
    equal_value_carried_forward,
    own_input_per_output
from valued
where intervals_received > 0 or estimated_quantity <> 0 or intervals_received_produced > 0

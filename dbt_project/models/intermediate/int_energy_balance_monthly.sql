-- The energy balance per enterprise, energy type and month, in the energy type's canonical unit: what the
-- boundary meters measured (by their 205-1 usage, contract v1.1) beside the enterprise's own 205-1 statement
-- of stocks and purchases (inventories, contract v1.2) and its reported monthly total (totals).
--   consumption = received at the boundary (usage industrial_production, raw_material, non_industrial)
--                 + produced inside (secondary_output, recovered) − supplied to others (direction out);
--                 of which raw material and non-industrial by usage; industrial = consumption − non-industrial
--                 (supplied energy is deducted from industrial production, where the default usage books it)
--   balance residual = opening stock + purchases + produced − consumption − supplied − closing stock
--                    (= opening + purchases − received − closing: the purchases the meters did not see);
--   the balance closes when |residual| ≤ energy_balance_tolerance × (opening + purchases + produced).
-- A month without a statement has no balance (null), never an invented one.
with metered as (
    select
        enterprise_id,
        local_month as month,
        energy_code,
        coalesce(sum(quantity_in) filter (
            where usage in ('industrial_production', 'raw_material', 'non_industrial')
        ), 0) as received_quantity,
        coalesce(sum(quantity_in) filter (where usage in ('secondary_output', 'recovered')), 0) as produced_quantity,
        coalesce(sum(quantity_out), 0) as supplied_quantity,
        coalesce(sum(quantity_in) filter (where usage = 'raw_material'), 0) as raw_material_quantity,
        coalesce(sum(quantity_in) filter (where usage = 'non_industrial'), 0) as non_industrial_quantity,
        coalesce(sum(tce_equivalent_in), 0) - coalesce(sum(tce_equivalent_out), 0) as consumption_tce_equivalent
    from {{ ref('int_enterprise_energy_daily') }}
    where scope = 'boundary'
    group by 1, 2, 3
),

statements as (
    select * from {{ ref('stg_raw__inventories') }}
),

reported as (
    select
        enterprise_id,
        date_trunc('month', local_start_date)::date as month,
        energy_code,
        sum(value) as reported_consumption
    from {{ ref('stg_raw__totals') }}
    where grain = 'month'
    group by 1, 2, 3
),

keys as (
    select enterprise_id, month, energy_code from metered
    union
    select enterprise_id, month, energy_code from statements
),

joined as (
    select
        k.enterprise_id,
        k.month,
        k.energy_code,
        et.canonical_unit as unit,
        s.enterprise_id is not null as has_statement,
        s.opening_stock,
        s.purchased_quantity,
        s.purchased_value_1k_yuan,
        s.closing_stock,
        s.transport_quantity,
        coalesce(m.received_quantity, 0) as received_quantity,
        coalesce(m.produced_quantity, 0) as produced_quantity,
        coalesce(m.supplied_quantity, 0) as supplied_quantity,
        coalesce(m.received_quantity, 0) + coalesce(m.produced_quantity, 0) - coalesce(m.supplied_quantity, 0)
            as consumption_quantity,
        coalesce(m.raw_material_quantity, 0) as raw_material_quantity,
        coalesce(m.non_industrial_quantity, 0) as non_industrial_quantity,
        coalesce(m.consumption_tce_equivalent, 0) as consumption_tce_equivalent,
        r.reported_consumption
    from keys as k
    left join metered as m using (enterprise_id, month, energy_code)
    left join statements as s using (enterprise_id, month, energy_code)
    left join reported as r using (enterprise_id, month, energy_code)
    inner join {{ ref('energy_types') }} as et on k.energy_code = et.energy_code
)

select
    enterprise_id,
    month,
    energy_code,
    unit,
    has_statement,
    opening_stock,
    purchased_quantity,
    purchased_value_1k_yuan,
    received_quantity,
    produced_quantity,
    consumption_quantity,
    consumption_quantity - non_industrial_quantity as industrial_quantity,
    raw_material_quantity,
    non_industrial_quantity,
    transport_quantity,
    supplied_quantity,
    closing_stock,
    consumption_tce_equivalent,
    opening_stock + purchased_quantity + produced_quantity as balance_available,
    opening_stock + purchased_quantity + produced_quantity - consumption_quantity - supplied_quantity - closing_stock
        as balance_residual,
    abs(
        opening_stock + purchased_quantity + produced_quantity - consumption_quantity - supplied_quantity
        - closing_stock
    )
    <= {{ var('energy_balance_tolerance') }} * (opening_stock + purchased_quantity + produced_quantity)
        as balance_closes,
    reported_consumption,
    consumption_quantity / nullif(reported_consumption, 0) - 1 as metered_vs_reported,
    abs(consumption_quantity / nullif(reported_consumption, 0) - 1) <= {{ var('totals_tolerance') }}
        as consumption_matches_report
from joined

-- The energy statistics form 205-1 (工业企业能源购进、消费与库存) per enterprise and month: one row per NBS
-- row code in its statistical unit (seed nbs_205_1_rows: t, 万m³, 万kWh, 百万千焦, tce), from the
-- energy balance (int_energy_balance_monthly) and the row map (seed nbs_205_1_energy_map: steam booked
-- under 32 热力 in 百万千焦, energy types without a verified row of their own under 39 其他燃料 in tce;
-- working media have no 205-1 row). Statistical quantity = canonical quantity × statistical_factor.
--   coefficient_used (采用折标系数) = consumption tce (each meter's coefficient, overrides included)
--                                    ÷ consumption in the statistical unit; the reference coefficient
--                                    when nothing was consumed; so coefficient_used × consumption = tce
--   40 能源合计: every quantity column in tce, the sum of the rows' quantities × their coefficient_used;
--                purchases' value summed; no coefficient.
-- Stock and purchase columns are null where the enterprise sent no statement for the energy type.
with balance as (
    select
        b.*,
        m.nbs_code,
        m.statistical_factor
    from {{ ref('int_energy_balance_monthly') }} as b
    inner join {{ ref('nbs_205_1_energy_map') }} as m using (energy_code)
),

by_row as (
    select
        b.enterprise_id,
        b.month,
        b.nbs_code,
        string_agg(b.energy_code, ',' order by b.energy_code) as energy_codes,
        sum(b.opening_stock * b.statistical_factor) as opening_stock,
        sum(b.purchased_quantity * b.statistical_factor) as purchased_quantity,
        sum(b.purchased_value_1k_yuan) as purchased_value_1k_yuan,
        sum(b.consumption_quantity * b.statistical_factor) as consumption_total,
        sum(b.industrial_quantity * b.statistical_factor) as consumption_industrial,
        sum(b.raw_material_quantity * b.statistical_factor) as consumption_raw_material,
        sum(b.non_industrial_quantity * b.statistical_factor) as consumption_non_industrial,
        sum(b.transport_quantity * b.statistical_factor) as consumption_transport,
        sum(b.closing_stock * b.statistical_factor) as closing_stock,
        sum(b.supplied_quantity * b.statistical_factor) as supplied_to_others,
        sum(b.produced_quantity * b.statistical_factor) as produced_inside,
        sum(b.consumption_tce_equivalent) as tce_equivalent,
        bool_or(b.has_statement) as has_statement,
        bool_and(b.balance_closes) as balance_closes
    from balance as b
    group by 1, 2, 3
),

rows_205_1 as (
    select
        r.*,
        coalesce(r.tce_equivalent / nullif(r.consumption_total, 0), n.reference_coefficient) as coefficient_used,
        n.reference_coefficient
    from by_row as r
    inner join {{ ref('nbs_205_1_rows') }} as n using (nbs_code)
),

total as (
    select
        enterprise_id,
        month,
        '40' as nbs_code,
        string_agg(energy_codes, ',' order by nbs_code) as energy_codes,
        sum(opening_stock * coefficient_used) as opening_stock,
        sum(purchased_quantity * coefficient_used) as purchased_quantity,
        sum(purchased_value_1k_yuan) as purchased_value_1k_yuan,
        sum(consumption_total * coefficient_used) as consumption_total,
        sum(consumption_industrial * coefficient_used) as consumption_industrial,
        sum(consumption_raw_material * coefficient_used) as consumption_raw_material,
        sum(consumption_non_industrial * coefficient_used) as consumption_non_industrial,
        sum(consumption_transport * coefficient_used) as consumption_transport,
        sum(closing_stock * coefficient_used) as closing_stock,
        sum(supplied_to_others * coefficient_used) as supplied_to_others,
        sum(produced_inside * coefficient_used) as produced_inside,
        sum(tce_equivalent) as tce_equivalent,
        bool_or(has_statement) as has_statement,
        bool_and(balance_closes) as balance_closes,
        null::numeric as coefficient_used,
        null::numeric as reference_coefficient
    from rows_205_1
    group by 1, 2
),

combined as (
    select * from rows_205_1
    union all
    select * from total
)

select
    c.enterprise_id::text as enterprise_id,
    c.month::date as month,
    c.nbs_code::text as nbs_code,
    n.name_zh::text as energy_name_zh,
    n.statistical_unit::text as statistical_unit,
    n.sort_order::integer as sort_order,
    c.opening_stock::numeric as opening_stock,
    c.purchased_quantity::numeric as purchased_quantity,
    c.purchased_value_1k_yuan::numeric as purchased_value_1k_yuan,
    c.consumption_total::numeric as consumption_total,
    c.consumption_industrial::numeric as consumption_industrial,
    c.consumption_raw_material::numeric as consumption_raw_material,
    c.consumption_non_industrial::numeric as consumption_non_industrial,
    c.consumption_transport::numeric as consumption_transport,
    c.closing_stock::numeric as closing_stock,
    c.supplied_to_others::numeric as supplied_to_others,
    c.produced_inside::numeric as produced_inside,
    c.coefficient_used::numeric as coefficient_used,
    c.reference_coefficient::numeric as reference_coefficient,
    c.tce_equivalent::numeric as tce_equivalent,
    c.energy_codes::text as energy_codes,
    c.has_statement::boolean as has_statement,
    c.balance_closes::boolean as balance_closes
from combined as c
inner join {{ ref('nbs_205_1_rows') }} as n using (nbs_code)

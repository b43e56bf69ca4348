-- Boundary and process meters converted to standard coal per enterprise, day, energy type and scope.
-- direction `out` (supplied to others) counts negative. tce at 当量值 (meter override of the
-- coefficient, else the energy type's) and at 等价值 (electricity: the dated parameter).
select
    d.enterprise_id,
    d.local_date,
    d.local_month,
    m.energy_code,
    m.scope,
    m.unit,
    sum(case when m.direction = 'out' then -1 else 1 end * d.consumption) as quantity,
    coalesce(sum(d.consumption) filter (where m.direction = 'in'), 0) as quantity_in,
    coalesce(sum(d.consumption) filter (where m.direction = 'out'), 0) as quantity_out,
    sum(
        case when m.direction = 'out' then -1 else 1 end * d.consumption
        * coalesce(m.coefficient_kgce * 1.0 / nullif(m.unit_factor, 0), et.coefficient_kgce_per_unit)
    ) / 1000.0 as tce_equivalent,
    sum(
        case when m.direction = 'out' then -1 else 1 end * d.consumption
        * coalesce(
            ev.coefficient_kgce_per_unit,
            m.coefficient_kgce * 1.0 / nullif(m.unit_factor, 0),
            et.coefficient_kgce_per_unit
        )
    ) / 1000.0 as tce_equal_value,
    sum(
        abs(d.estimated_consumption)
        * coalesce(m.coefficient_kgce * 1.0 / nullif(m.unit_factor, 0), et.coefficient_kgce_per_unit)
    ) / 1000.0 as estimated_tce,
    sum(d.estimated_consumption) as estimated_quantity,
    sum(d.intervals_expected) as intervals_expected,
    sum(d.intervals_received) as intervals_received,
    bool_and(et.counts_toward_comprehensive) as counts_toward_comprehensive
from {{ ref('int_meter_daily') }} as d
inner join {{ ref('stg_raw__meters') }} as m using (enterprise_id, meter_id)
inner join {{ ref('energy_types') }} as et on et.energy_code = m.energy_code
left join {{ ref('equal_value_parameters') }} as ev
    on ev.energy_code = m.energy_code and d.local_date >= ev.valid_from and d.local_date < ev.valid_to
where m.scope <> 'check'
group by 1, 2, 3, 4, 5, 6

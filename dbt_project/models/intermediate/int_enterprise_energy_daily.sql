-- Meters converted to standard coal per enterprise, day, energy type, scope and 205-1 usage (contract
-- v1.1 `usage`; v1 meters are industrial production consumption). direction `out` (supplied to others)
-- counts negative. Check meters (scope `check`) never count.
--   当量值: the meter's coefficient override (采用折标系数: the measured heating value), else the energy
--           type's GB/T 2589-2020 Appendix A/B coefficient.
--   等价值: electricity by the dated parameter of the day (equal_value_parameters: GB/T 2589-2020 Table A.2
--           按上年电厂发电标准煤耗; before 2021-04-01 the 2008 rule, same year's thermal rate). A day after the
--           last parameter row keeps the last value and says so (equal_value_carried_forward); other
--           energy at its 当量值 (热力 等价值 按供热煤耗计算 is not modelled).
-- The tce of each direction is kept apart so the marts can apply GB/T 2589's boundary rules (what is
-- received and supplied, what is produced or recovered inside) without re-reading the meters.
with ev_ranges as (
    -- each parameter row holds until the next one starts; the last holds on, flagged once past valid_to
    select
        energy_code,
        valid_from,
        valid_to,
        coalesce(lead(valid_from) over (partition by energy_code order by valid_from), 'infinity'::date) as holds_until,
        coefficient_kgce_per_unit,
        basis_year,
        confidence
    from {{ ref('equal_value_parameters') }}
),

meter_days as (
    select
        d.enterprise_id,
        d.local_date,
        d.local_month,
        m.energy_code,
        m.scope,
        m.usage,
        m.unit,
        case when m.direction = 'out' then -1 else 1 end as sign,
        m.direction,
        d.consumption,
        d.estimated_consumption,
        d.intervals_expected,
        d.intervals_received,
        coalesce(m.coefficient_kgce * 1.0 / nullif(m.unit_factor, 0), et.coefficient_kgce_per_unit) as coefficient,
        ev.coefficient_kgce_per_unit as equal_value_coefficient,
        ev.basis_year as equal_value_basis_year,
        ev.confidence as equal_value_confidence,
        d.local_date >= ev.valid_to as equal_value_carried_forward,
        et.counts_toward_comprehensive
    from {{ ref('int_meter_daily') }} as d
    inner join {{ ref('stg_raw__meters') }} as m using (enterprise_id, meter_id)
    inner join {{ ref('energy_types') }} as et on et.energy_code = m.energy_code
    left join ev_ranges as ev
        on ev.energy_code = m.energy_code and d.local_date >= ev.valid_from and d.local_date < ev.holds_until
    where m.scope <> 'check'
)

select
    enterprise_id,
    local_date,
    local_month,
    energy_code,
    scope,
    usage,
    unit,
    sum(sign * consumption) as quantity,
    coalesce(sum(consumption) filter (where direction = 'in'), 0) as quantity_in,
    coalesce(sum(consumption) filter (where direction = 'out'), 0) as quantity_out,
    sum(sign * consumption * coefficient) / 1000.0 as tce_equivalent,
    sum(sign * consumption * coalesce(equal_value_coefficient, coefficient)) / 1000.0 as tce_equal_value,
    coalesce(sum(consumption * coefficient) filter (where direction = 'in'), 0) / 1000.0 as tce_equivalent_in,
    coalesce(sum(consumption * coefficient) filter (where direction = 'out'), 0) / 1000.0 as tce_equivalent_out,
    coalesce(sum(consumption * coalesce(equal_value_coefficient, coefficient)) filter (where direction = 'in'), 0)
    / 1000.0 as tce_equal_value_in,
    coalesce(sum(consumption * coalesce(equal_value_coefficient, coefficient)) filter (where direction = 'out'), 0)
    / 1000.0 as tce_equal_value_out,
    sum(abs(estimated_consumption) * coefficient) / 1000.0 as estimated_tce,
    sum(estimated_consumption) as estimated_quantity,
    sum(intervals_expected) as intervals_expected,
    sum(intervals_received) as intervals_received,
    bool_and(counts_toward_comprehensive) as counts_toward_comprehensive,
    max(equal_value_coefficient) as equal_value_coefficient,
    max(equal_value_basis_year) as equal_value_basis_year,
    max(equal_value_confidence) as equal_value_confidence,
    coalesce(bool_or(equal_value_carried_forward), false) as equal_value_carried_forward
from meter_days
group by 1, 2, 3, 4, 5, 6, 7

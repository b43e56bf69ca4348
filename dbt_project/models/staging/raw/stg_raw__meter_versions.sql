-- Waits for the loads in flight (as stg_raw__readings does): a registry batch that commits behind a
-- later batch is never left out of the batch this build goes through (vee_current_batch).
{{ config(pre_hook=["{{ wait_for_batches_in_flight() }}"]) }}
-- Every version of every meter's metadata (history kept when a row changes), with the factor that
-- converts the meter's unit to its energy type's canonical unit.
select
    m.enterprise_id,
    m.meter_id,
    m.energy_code,
    m.unit as source_unit,
    et.canonical_unit as unit,
    c.factor as unit_factor,
    m.reading_type,
    coalesce(m.multiplier, 1) as multiplier,
    m.register_max * c.factor as register_max,
    coalesce(m.direction, 'in') as direction,
    coalesce(m.scope, 'boundary') as scope,
    -- contract v1.1: the 205-1 purpose (null in v1 feeds = industrial production consumption)
    coalesce(m.usage, 'industrial_production') as usage,
    m.rated_max * c.factor as rated_max,
    m.coefficient_kgce,
    m.calibration_valid_until,
    m.installed_at,
    m.replaced_at,
    m.timezone,
    m.batch_id,
    m.row_number,
    row_number() over (
        partition by m.enterprise_id, m.meter_id order by m.batch_id desc, m.row_number desc
    ) = 1 as is_current
from {{ source('raw', 'meters') }} as m
inner join {{ ref('energy_types') }} as et on et.energy_code = m.energy_code
inner join {{ ref('unit_conversions') }} as c on c.from_unit = m.unit and c.to_unit = et.canonical_unit

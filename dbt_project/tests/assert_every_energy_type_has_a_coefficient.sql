-- Every energy type used by a meter has a standard-coal coefficient (warehouse logic: error).
{{ config(severity='error') }}
select m.enterprise_id, m.meter_id, m.energy_code
from {{ ref('stg_raw__meters') }} as m
left join {{ ref('energy_types') }} as et using (energy_code)
where et.coefficient_kgce_per_unit is null or et.coefficient_kgce_per_unit <= 0

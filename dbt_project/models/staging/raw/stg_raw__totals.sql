-- The enterprise's own totals: latest sent_at per key, canonical unit, daily or monthly grain.
with versions as (
    select
        t.*,
        row_number() over (
            partition by t.enterprise_id, t.energy_code, t.period_start, t.period_end
            order by t.sent_at desc, t.batch_id desc, t.row_number desc
        ) as version_rank
    from {{ source('raw', 'totals') }} as t
)

select
    v.enterprise_id,
    v.energy_code,
    v.period_start,
    v.period_end,
    case
        when v.period_end - v.period_start <= interval '1 day' then 'day'
        when v.period_end - v.period_start <= interval '31 days' then 'month'
        else 'other'
    end as grain,
    {{ local_date('v.period_start') }} as local_start_date,
    v.value * c.factor as value,
    et.canonical_unit as unit,
    v.value as source_value,
    v.unit as source_unit,
    v.sent_at,
    v.batch_id
from versions as v
inner join {{ ref('energy_types') }} as et on et.energy_code = v.energy_code
inner join {{ ref('unit_conversions') }} as c on c.from_unit = v.unit and c.to_unit = et.canonical_unit
where v.version_rank = 1

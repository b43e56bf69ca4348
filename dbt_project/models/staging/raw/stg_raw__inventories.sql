-- The enterprise's monthly 205-1 statement of stocks and purchases (contract v1.2): latest sent_at per
-- enterprise, energy type and month, every quantity converted to the energy type's canonical unit.
with versions as (
    select
        i.*,
        row_number() over (
            partition by i.enterprise_id, i.energy_code, i.month
            order by i.sent_at desc, i.batch_id desc, i.row_number desc
        ) as version_rank
    from {{ source('raw', 'inventories') }} as i
)

select
    v.enterprise_id,
    v.energy_code,
    to_date(v.month || '-01', 'YYYY-MM-DD') as month,
    et.canonical_unit as unit,
    v.opening_stock * c.factor as opening_stock,
    v.purchased_quantity * c.factor as purchased_quantity,
    v.purchased_value_1k_yuan,
    v.closing_stock * c.factor as closing_stock,
    v.transport_quantity * c.factor as transport_quantity,
    v.unit as source_unit,
    v.sent_at,
    v.batch_id
from versions as v
inner join {{ ref('energy_types') }} as et on et.energy_code = v.energy_code
inner join {{ ref('unit_conversions') }} as c on c.from_unit = v.unit and c.to_unit = et.canonical_unit
where v.version_rank = 1

-- Product output: latest sent_at per key; the month is the local month of period_start. The quantity is
-- converted to the product's unit (seed products) by the unit conversion seed: 万吨 and t give the same
-- tonnes. The loader rejects unconvertible units (contract v1.1); a row loaded before that check keeps a
-- null quantity and says why, so it is never summed in the wrong unit nor silently dropped.
with versions as (
    select
        p.*,
        row_number() over (
            partition by p.enterprise_id, p.product_code, p.period_start, p.period_end
            order by p.sent_at desc, p.batch_id desc, p.row_number desc
        ) as version_rank
    from {{ source('raw', 'production') }} as p
)

select
    v.enterprise_id,
    v.product_code,
    v.period_start,
    v.period_end,
    {{ local_month('v.period_start') }} as month,
    v.quantity * c.factor as quantity,
    pr.unit,
    v.quantity as source_quantity,
    v.unit as source_unit,
    c.factor as unit_factor,
    case
        when pr.product_code is null then 'unknown product_code'
        when c.factor is null then 'unit ' || v.unit || ' is not convertible to the product''s unit ' || pr.unit
    end as unit_error,
    nullif(v.scope, '') as scope,
    v.sent_at,
    v.batch_id
from versions as v
left join {{ ref('products') }} as pr on pr.product_code = v.product_code
left join {{ ref('unit_conversions') }} as c on c.from_unit = v.unit and c.to_unit = pr.unit
where v.version_rank = 1

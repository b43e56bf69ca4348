-- Product output: latest sent_at per key; the month is the local month of period_start.
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
    enterprise_id,
    product_code,
    period_start,
    period_end,
    {{ local_month('period_start') }} as month,
    quantity,
    unit,
    nullif(scope, '') as scope,
    sent_at,
    batch_id
from versions
where version_rank = 1

-- Product output: latest sent_at per key; the month is the local month of period_start.
with versions as (
    select
        p.*,
        row_number() over (
            partition by enterprise_id, product_code, period_start, period_end
            order by sent_at desc, batch_id desc, row_number desc
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

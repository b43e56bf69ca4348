-- Monthly economics: latest sent_at per enterprise and month.
with versions as (
    select
        e.*,
        row_number()
            over (partition by e.enterprise_id, e.month order by e.sent_at desc, e.batch_id desc, e.row_number desc)
            as version_rank
    from {{ source('raw', 'economics') }} as e
)

select
    enterprise_id,
    to_date(month || '-01', 'YYYY-MM-DD') as month,
    gross_output_10k_yuan,
    value_added_10k_yuan,
    sent_at,
    batch_id
from versions
where version_rank = 1

-- Per enterprise, local day and energy type, at the enterprise boundary (in − out).
select
    enterprise_id,
    local_date as date,
    energy_code,
    sum(quantity) as quantity,
    sum(quantity_in) as quantity_in,
    sum(quantity_out) as quantity_out,
    max(unit) as unit,
    sum(tce_equivalent) as tce_equivalent,
    sum(tce_equal_value) as tce_equal_value,
    sum(intervals_received)::numeric / nullif(sum(intervals_expected), 0) as completeness,
    coalesce(sum(estimated_tce) / nullif(sum(abs(tce_equivalent)), 0), 0) as estimated_share,
    sum(intervals_expected) as intervals_expected,
    sum(intervals_received) as intervals_received,
    sum(estimated_tce) as estimated_tce
from {{ ref('int_enterprise_energy_daily') }}
where scope = 'boundary'
group by 1, 2, 3
having sum(intervals_received) > 0 or sum(estimated_quantity) <> 0

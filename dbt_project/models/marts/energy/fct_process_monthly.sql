-- Process (关键工序) energy per enterprise, month, process and energy type: process-scope meters only.
select
    enterprise_id,
    local_month as month,
    scope as process_code,
    energy_code,
    sum(quantity) as quantity,
    max(unit) as unit,
    sum(tce_equivalent) as tce_equivalent,
    sum(intervals_received)::numeric / nullif(sum(intervals_expected), 0) as completeness
from {{ ref('int_enterprise_energy_daily') }}
where scope <> 'boundary'
group by 1, 2, 3, 4

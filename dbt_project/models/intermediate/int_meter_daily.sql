-- Per meter and local day: consumption (measured + estimated), the estimated part, and the
-- completeness counts (received ÷ expected intervals).
select
    enterprise_id,
    meter_id,
    local_date,
    local_month,
    sum(consumption) as consumption,
    coalesce(sum(consumption) filter (where quality_code = 'estimated'), 0) as estimated_consumption,
    count(*) as intervals_expected,
    count(*) filter (where is_received) as intervals_received,
    count(*) filter (where quality_code = 'estimated') as intervals_estimated,
    count(*) filter (where quality_code = 'missing') as intervals_missing,
    count(*) filter (where quality_code = 'rejected') as intervals_rejected
from {{ ref('int_meter_intervals') }}
group by 1, 2, 3, 4

-- Per enterprise, month and energy type: the sum of the daily rows.
select
    enterprise_id,
    date_trunc('month', date)::date as month,
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
    sum(estimated_tce) as estimated_tce,
    count(*) as days_with_data
from {{ ref('fct_enterprise_energy_daily') }}
group by 1, 2, 3

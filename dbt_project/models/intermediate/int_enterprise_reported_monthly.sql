-- The enterprise's own daily totals (企业上报日数据) summed per month, converted to tce at 当量值 with
-- the GB/T 2589 reference coefficients: the long history before metering started, used for trends and
-- forecasts. Only energy types that count toward 综合能耗; days_reported tells how complete a month is.
select
    t.enterprise_id,
    date_trunc('month', t.local_start_date)::date as month,
    sum(t.value * et.coefficient_kgce_per_unit) / 1000.0 as reported_tce_equivalent,
    count(distinct t.local_start_date) as days_reported,
    extract(day from (date_trunc('month', t.local_start_date) + interval '1 month - 1 day'))::int as days_in_month
from {{ ref('stg_raw__totals') }} as t
inner join {{ ref('energy_types') }} as et on et.energy_code = t.energy_code
where t.grain = 'day' and et.counts_toward_comprehensive
group by 1, 2, 5

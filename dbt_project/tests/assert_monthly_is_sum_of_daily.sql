-- Identity: monthly energy per enterprise and type equals the sum of its days (warehouse logic: error).
{{ config(severity='error') }}
with daily_sums as (
    select enterprise_id, date_trunc('month', date)::date as month, energy_code, sum(quantity) as quantity
    from {{ ref('fct_enterprise_energy_daily') }}
    group by 1, 2, 3
)

select m.enterprise_id, m.month, m.energy_code, m.quantity, d.quantity as daily_sum
from {{ ref('fct_enterprise_energy_monthly') }} as m
left join daily_sums as d using (enterprise_id, month, energy_code)
where abs(m.quantity - coalesce(d.quantity, 0)) > 1e-6 * greatest(1, abs(m.quantity))

-- Conservation for registers (docs/feed-contract.md, "Periods of any length"): for every register meter
-- the latest build touched, Σ booked (the valid shares in int_meter_observations) ≤ what the register
-- advanced: over each register between resets and replacements, its highest position (the value with
-- the rollovers past register_max added) − its opening value, × multiplier. Resets, replacements and
-- rollovers are told apart by the model's rules (int_meter_observations). The guarantee holds when a dip
-- recovers within var('register_high_water_readings') readings; a longer dip is the enterprise's data,
-- so a breach warns instead of failing the build.
{{ config(severity='warn') }}
{% set tolerance = var('register_jitter_tolerance') %}
with touched as (
    select distinct o.enterprise_id, o.meter_id
    from {{ ref('int_meter_observations') }} as o
    where o.built_through_batch = (select max(x.built_through_batch) from {{ ref('int_meter_observations') }} as x)
),

steps as (
    select
        r.enterprise_id, r.meter_id, r.period_end, r.value, m.multiplier, m.register_max, m.rated_max, m.installed_at,
        lag(r.value) over w as previous_value,
        lag(r.period_end) over w as previous_end
    from {{ ref('stg_raw__readings') }} as r
    inner join touched using (enterprise_id, meter_id)
    inner join {{ ref('stg_raw__meters') }} as m using (enterprise_id, meter_id)
    where m.reading_type = 'register' and r.value >= 0
    window w as (partition by r.enterprise_id, r.meter_id order by r.period_end)
),

kinds as (
    select
        *,
        case
            when previous_value is null or value >= previous_value then 'delta'
            when previous_value - value <= {{ tolerance }} * previous_value then 'jitter'
            when installed_at >= previous_end and installed_at < period_end then 'meter_replacement'
            when
                register_max is not null and previous_value >= 0.5 * register_max
                and value < 0.5 * register_max
                and (
                    rated_max is null or (register_max - previous_value + value) * multiplier
                    <= rated_max * greatest(1, extract(epoch from (period_end - previous_end)) / 900.0)
                )
                then 'rollover'
            else 'register_reset'
        end as step_kind
    from steps
),

positions as (
    select
        *,
        value + coalesce(register_max, 0) * sum(case when step_kind = 'rollover' then 1 else 0 end) over w as position,
        sum(case when step_kind in ('register_reset', 'meter_replacement') then 1 else 0 end) over w as register_no
    from kinds
    window w as (partition by enterprise_id, meter_id order by period_end rows unbounded preceding)
),

advanced as (
    select enterprise_id, meter_id, sum(advance) as advance
    from (
        select
            enterprise_id, meter_id, register_no,
            (max(position) - (array_agg(position order by period_end))[1]) * max(multiplier) as advance
        from positions
        group by enterprise_id, meter_id, register_no
    ) as registers
    group by enterprise_id, meter_id
),

booked as (
    select o.enterprise_id, o.meter_id, sum(o.observed_consumption) as total
    from {{ ref('int_meter_observations') }} as o
    inner join advanced using (enterprise_id, meter_id)
    where o.quality_code <> 'rejected'
    group by o.enterprise_id, o.meter_id
)

select a.enterprise_id, a.meter_id, a.advance, b.total as booked_total
from advanced as a
inner join booked as b using (enterprise_id, meter_id)
where b.total > a.advance * (1 + 1e-9) + 1e-9

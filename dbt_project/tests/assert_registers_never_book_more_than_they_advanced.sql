-- Conservation for registers (docs/feed-contract.md, "Periods of any length"): for every register meter
-- the latest build touched, Σ booked (the valid shares in int_meter_observations) ≤ what the register
-- advanced: over each register between resets and replacements, its highest position (the value with
-- the rollovers past register_max added) − its opening value, × multiplier. Resets, replacements and
-- rollovers are told apart by the model's rule (macros/vee_registers.sql). The guarantee holds when a dip
-- recovers within var('register_high_water_readings') readings; a longer dip is the enterprise's data,
-- so a breach warns instead of failing the build.
-- Tagged whole_history: it reads every reading of each register the build touched, so it runs with the daily
-- (whole) build, not with a 15-minute round (see assert_interval_meters_book_exactly_their_readings).
{{ config(severity='warn', tags=['whole_history']) }}
with touched as (
    {{ vee_meters_of_latest_build() }}
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
            when previous_value is null then 'delta'
            else {{ vee_register_step_kind() }}
        end as step_kind
    from steps
),

positions as (
    select *, {{ vee_register_positions('enterprise_id, meter_id') }}
    from kinds
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

{#
Conservation for registers (docs/feed-contract.md, "Periods of any length"): for every register meter
the latest build rebuilt, Σ booked from the first interval it rebuilt (`since`) on (the valid shares in
int_meter_observations) ≤ what the register advanced from its opening reading (its last reading at or
before `since`) on: over each register between resets and replacements, its highest position (the value
with the rollovers past register_max added) − its first value, × multiplier. Every step booked from `since`
on closes after the opening reading, and a step's high-water mark is never below the reading before it, so
the bound holds from any opening reading on. Resets, replacements and rollovers are told apart by the
model's rule (macros/vee_registers.sql). The guarantee holds when a dip recovers within
var('register_high_water_readings') readings; a longer dip is the enterprise's data, so a breach warns
instead of failing the build.
Cost: the rows the build rebuilt (vee_rebuilt_meters), so it runs with every build, a 15-minute round too.
On each shard table of int_meter_observations, as interval_bookings_conserved (macros/tests/).
#}
{% test register_bookings_within_advance(model, shard) %}
{{ config(severity='warn') }}
with rebuilt as (
    {{ vee_rebuilt_meters('register', model, shard, 'r.value >= 0') }}
),

steps as (
    select
        r.*,
        lag(r.value) over w as previous_value,
        lag(r.period_end) over w as previous_end
    from ({{ vee_rebuilt_readings('rebuilt', shard, 'r.value >= 0') }}) as r
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
    {{ vee_booked_since('rebuilt', model) }}
)

select a.enterprise_id, a.meter_id, a.advance, b.total as booked_total
from advanced as a
inner join booked as b using (enterprise_id, meter_id)
where b.total > a.advance * (1 + 1e-9) + 1e-9
{% endtest %}

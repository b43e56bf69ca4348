{#
Conservation, nothing lost or invented (docs/feed-contract.md, "Periods of any length"): for every
interval meter the latest build rebuilt, from the first interval it rebuilt (`since`) on, Σ booked (the
valid shares in int_meter_observations) equals Σ of its valid readings' parts from `since` on (value ×
multiplier; a negative value, one beyond the rated maximum and a period starting before the previous
one ended are not valid). A period that starts before `since` and ends after it counts with the part of
it after `since`, pro rata by time, as the model books it: `since` is a grid point, so the grid
intervals after it take exactly that part (a period inside one interval lies wholly on one side).
A failure is a platform defect, not an enterprise's bad data: it fails the build.
Cost: the rows the build rebuilt (macros/vee_registers.sql: vee_rebuilt_meters), so it runs with every
build, a 15-minute round too. It read each touched meter's whole history until 2026-12: 7.1 s of a pilot
day's build with 3 days held, growing with every day held.
A generic test on each shard table of int_meter_observations (`model`; `shard`: its number, macros/vee_shards.sql):
the shard's rebuilt meters, their bookings in it and their readings in the shard table of stg_raw__readings,
so each shard is checked as soon as it is built and its intervals wait only for its own tests.
#}
{% test interval_bookings_conserved(model, shard) %}
{{ config(severity='error') }}
with rebuilt as (
    {{ vee_rebuilt_meters('interval', model, shard) }}
),

readings as (
    select
        r.enterprise_id, r.meter_id, r.since, r.period_end, r.value * r.multiplier as consumption, r.rated_max,
        coalesce(r.period_start, greatest(lag(r.period_end) over w, r.period_end - c.cadence)) as booked_start,
        lag(r.period_end) over w as previous_end
    from ({{ vee_rebuilt_readings('rebuilt', shard) }}) as r
    inner join {{ ref('int_meter_cadence') }} as c
        on c.enterprise_id = r.enterprise_id and c.meter_id = r.meter_id
    window w as (partition by r.enterprise_id, r.meter_id order by r.period_end)
),

sent as (
    select enterprise_id, meter_id, sum(consumption * part_after_since) as total
    from (
        select
            *,
            case
                when booked_start >= since then 1
                else extract(epoch from (period_end - since)) / extract(epoch from (period_end - booked_start))
            end as part_after_since
        from readings
        where
            period_end > since
            and consumption >= 0
            and (rated_max is null or consumption <= rated_max)
            and not coalesce(booked_start < previous_end, false)
    ) as valid
    group by enterprise_id, meter_id
),

booked as (
    {{ vee_booked_since('rebuilt', model) }}
)

select s.enterprise_id, s.meter_id, s.total as readings_total, b.total as booked_total
from sent as s
full outer join booked as b using (enterprise_id, meter_id)
where abs(coalesce(s.total, 0) - coalesce(b.total, 0)) > 1e-9 * greatest(1, abs(coalesce(s.total, 0)))
{% endtest %}

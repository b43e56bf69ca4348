-- Conservation, nothing lost or invented (docs/feed-contract.md, "Periods of any length"): for every
-- interval meter the latest build touched, Σ booked (the valid shares in int_meter_observations) equals
-- Σ of its valid readings (value × multiplier; a negative value, one beyond the rated maximum and a
-- period starting before the previous one ended are not valid). A failure is a platform defect, not an
-- enterprise's bad data: it fails the build.
-- Tagged whole_history: it reads every reading of each meter the build touched, so it runs with the daily
-- (whole) build, not with a 15-minute round, where every meter is touched (9.7 s of a 34 s round on a pilot
-- region holding 4 days; its cost grows with the history held).
{{ config(severity='error', tags=['whole_history']) }}
with touched as (
    {{ vee_meters_of_latest_build() }}
),

readings as (
    select
        r.enterprise_id, r.meter_id, r.period_end, r.value * m.multiplier as consumption, m.rated_max,
        coalesce(r.period_start, greatest(lag(r.period_end) over w, r.period_end - c.cadence)) as booked_start,
        lag(r.period_end) over w as previous_end
    from {{ ref('stg_raw__readings') }} as r
    inner join touched using (enterprise_id, meter_id)
    inner join {{ ref('stg_raw__meters') }} as m using (enterprise_id, meter_id)
    inner join {{ ref('int_meter_cadence') }} as c using (enterprise_id, meter_id)
    where m.reading_type = 'interval'
    window w as (partition by r.enterprise_id, r.meter_id order by r.period_end)
),

sent as (
    select enterprise_id, meter_id, sum(consumption) as total
    from readings
    where
        consumption >= 0
        and (rated_max is null or consumption <= rated_max)
        and not coalesce(booked_start < previous_end, false)
    group by 1, 2
),

booked as (
    select o.enterprise_id, o.meter_id, sum(o.observed_consumption) as total
    from {{ ref('int_meter_observations') }} as o
    inner join touched using (enterprise_id, meter_id)
    inner join {{ ref('stg_raw__meters') }} as m using (enterprise_id, meter_id)
    where m.reading_type = 'interval' and o.quality_code <> 'rejected'
    group by 1, 2
)

select s.enterprise_id, s.meter_id, s.total as readings_total, b.total as booked_total
from sent as s
full outer join booked as b using (enterprise_id, meter_id)
where abs(coalesce(s.total, 0) - coalesce(b.total, 0)) > 1e-9 * greatest(1, abs(coalesce(s.total, 0)))

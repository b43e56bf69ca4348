{#
  int_meter_observations: the SQL of one shard (macros/vee_shards.sql), shared by the shard models
  models/intermediate/vee_shards/int_meter_observations__shard_<n>.sql; their union is the model int_meter_observations.
#}
{% macro int_meter_observations_config() %}
{{ vee_shard_config() }}
{% endmacro %}

{% macro int_meter_observations_sql(shard) %}
-- depends_on: {{ ref('stg_raw__meter_versions') }}, {{ ref('stg_raw__readings') }}, {{ vee_staged_readings(shard) }}, {{ ref('stg_raw__meters') }}
-- What each meter told us, booked period-true onto its grid (macros/incremental_vee.sql: vee_grid_step),
-- before gaps are looked at. One row per meter and grid interval that some period touches.
--
-- Periods: an interval reading is the consumption of [period_start, period_end) (value × multiplier); an
-- end-only one (no period_start, feed contract v1.1) runs from the meter's previous reading end, never
-- longer than the meter's cadence (end − cadence for the first). A register reading closes the step from
-- the reading before it: the register's advance over its high-water mark, the highest of its previous
-- var('register_high_water_readings') readings (a small dip within var('register_jitter_tolerance') is
-- jitter: nothing booked, and its recovery is not booked again, so a register never books more than it
-- advanced when its dips recover within that many readings), a rollover past register_max booked, a
-- reset or meter replacement never booked (the value after it opens a new register).
-- Booking: every period books exactly itself, whatever its length: onto each grid interval it overlaps,
-- in proportion to the overlap (pro-rating by time, as billing-period platforms split a bill onto days).
-- An interval that is exactly one period keeps that period's quality; an interval built from a share of
-- a longer or misaligned period, or from several, is 'estimated' (the period's total is measured, its
-- split onto intervals is not) with vee_flag period_prorated (register_span_split for a register step).
-- Faults: negative and beyond-rated-max interval values, resets and replacements are rejected; a period
-- that starts before the previous period of its meter ends is rejected as overlapping_period (never
-- summed with it). An interval with valid shares books them; one with only rejected shares is rejected.
-- is_received: a valid period covers the interval and is one reading's worth (at most 1.5 cadences:
-- a longer one means readings are missing, and only the interval holding its end was received).
-- Incremental (macros/incremental_vee.sql): only the spans new batches can have changed are rebuilt,
-- widened to whole grid intervals, from every reading that books into them.
{% set lookback = var('register_high_water_readings') %}
with meters as (
    select * from {{ ref('stg_raw__meters') }}
),

cadence as (
    -- the shard's meters (macros/vee_shards.sql): every window and every reading below joins them
    select enterprise_id, meter_id, cadence, {{ vee_grid_step('cadence') }} as step, grid_start
    from {{ ref('int_meter_cadence') }}
    where cadence is not null and {{ vee_in_shard('enterprise_id', shard) }}
),

windows as (
    -- [window_start, window_end) of grid intervals rebuilt, on the meter's grid
    {% if is_incremental() %}
    select enterprise_id, meter_id, lower(w) as window_start, upper(w) as window_end
    from (
        select
            s.enterprise_id, s.meter_id,
            unnest(range_agg(tstzrange(
                {{ vee_grid_floor('s.span_start', 'c.grid_start', 'c.step') }},
                {{ vee_grid_ceil('s.span_end', 'c.grid_start', 'c.step') }}, '[)'
            ))) as w
        from (
            {{ vee_changed_spans(vee_built_through(this), shard) }}
            union all
            {{ vee_meters_off_their_grid(this, ref('int_meter_cadence')) }}
        ) as s
        inner join cadence as c using (enterprise_id, meter_id)
        group by 1, 2
    ) as x
    {% else %}
    select enterprise_id, meter_id, '-infinity'::timestamptz as window_start, 'infinity'::timestamptz as window_end
    from cadence
    {% endif %}
),

bounds as materialized (
    -- the readings that book into a window: from the last ones ending at or before its start (the one
    -- before opens a register step and ends the period before an end-only reading; a register's high-water
    -- mark looks back {{ lookback }} readings) to the first ending at or after its end.
    -- Materialized, so the bounds are plain columns the readings' (enterprise_id, meter_id, period_end)
    -- index can take as its range: computed in line, the planner read each meter's whole history and
    -- filtered it (a pilot day with 3 days held: 5.7 M readings read for 1.5 M kept, 3.4 s; 2.4 s this way,
    -- and no longer growing with the history held)
    select
        w.*,
        coalesce(p.previous_end, w.window_start) as first_end,
        coalesce(n.next_end, w.window_end) as last_end
    from windows as w
    left join lateral (
        select min(x.period_end) as previous_end
        from (
            select r.period_end
            from {{ vee_staged_readings(shard) }} as r
            where r.enterprise_id = w.enterprise_id and r.meter_id = w.meter_id and r.period_end <= w.window_start
            order by r.period_end desc
            limit {{ lookback }}
        ) as x
    ) as p on isfinite(w.window_start)
    left join lateral (
        select min(r.period_end) as next_end
        from {{ vee_staged_readings(shard) }} as r
        where r.enterprise_id = w.enterprise_id and r.meter_id = w.meter_id and r.period_end >= w.window_end
    ) as n on isfinite(w.window_end)
),

readings as not materialized (
    -- not materialized: each branch below (interval, register meters) joins only its own meters' readings; as
    -- one CTE read twice, the pilot day's 1.8 M readings were first written to a tuplestore (3.5 s of 17 s)
    select
        r.enterprise_id, r.meter_id, r.period_start, r.period_end, r.value, r.quality,
        m.reading_type, m.multiplier, m.register_max, m.rated_max, m.installed_at,
        c.cadence, c.step, c.grid_start, b.window_start, b.window_end
    from {{ vee_staged_readings(shard) }} as r
    inner join meters as m using (enterprise_id, meter_id)
    inner join cadence as c using (enterprise_id, meter_id)
    inner join bounds as b
        on b.enterprise_id = r.enterprise_id and b.meter_id = r.meter_id
        and r.period_end >= b.first_end and r.period_end <= b.last_end
),

-- interval meters: each reading is its own period
interval_readings as (
    select
        *,
        lag(period_end) over (partition by enterprise_id, meter_id, window_start order by period_end) as previous_end
    from readings
    where reading_type = 'interval'
),

interval_periods as (
    select
        enterprise_id, meter_id, window_start, window_end, cadence, step, grid_start,
        booked_start, period_end, 'interval' as reading_type,
        case
            when booked_start < previous_end then 'rejected'
            when value < 0 then 'rejected'
            when rated_max is not null and value * multiplier > rated_max then 'rejected'
            when quality = 'estimated' then 'estimated'
            else 'measured'
        end as quality_code,
        case
            when booked_start < previous_end then 'overlapping_period'
            when value < 0 then 'negative'
            when rated_max is not null and value * multiplier > rated_max then 'beyond_rated_max'
            when quality = 'estimated' then 'estimated_by_enterprise'
            when quality = 'manual' then 'manual_entry'
        end as vee_flag,
        value * multiplier as consumption
    from (
        select
            *,
            coalesce(period_start, greatest(previous_end, period_end - cadence)) as booked_start
        from interval_readings
    ) as x
),

-- register meters: each reading closes the step from the one before it
register_readings as (
    select
        *,
        lag(value) over w as previous_value,
        lag(period_end) over w as previous_end
    from readings
    where reading_type = 'register' and value >= 0  -- a negative register reading is rejected at the door
    window w as (partition by enterprise_id, meter_id, window_start order by period_end)
),

register_kinds as (
    select
        *,
        case
            when previous_value is null then 'opening'
            -- macros/vee_registers.sql: delta, jitter, meter_replacement, rollover or register_reset
            else {{ vee_register_step_kind() }}
        end as step_kind
    from register_readings
),

register_positions as (
    -- the register unwrapped past its rollovers; a reset or replacement starts a new register
    select *, {{ vee_register_positions('enterprise_id, meter_id, window_start') }}
    from register_kinds
),

register_periods as (
    select
        enterprise_id, meter_id, window_start, window_end, cadence, step, grid_start,
        previous_end as booked_start, period_end, 'register' as reading_type,
        case when step_kind in ('register_reset', 'meter_replacement') then 'rejected' else 'measured' end as quality_code,
        case
            when step_kind in ('register_reset', 'meter_replacement', 'rollover') then step_kind
            when step_kind = 'jitter' then 'register_jitter'
        end as vee_flag,
        case
            when step_kind not in ('register_reset', 'meter_replacement')
                -- the advance over the register's high-water mark: dips never book, nor their recovery
                then greatest(0, position - high_water) * multiplier
        end as consumption,
        rated_max
    from (
        select
            *,
            max(position) over (
                partition by enterprise_id, meter_id, window_start, register_no order by period_end
                rows between {{ lookback }} preceding and 1 preceding
            ) as high_water
        from register_positions
    ) as x
    where step_kind <> 'opening'
),

periods as (
    select
        enterprise_id, meter_id, window_start, window_end, cadence, step, grid_start,
        booked_start, period_end, reading_type, quality_code, vee_flag, consumption, null::numeric as rated_max_per_interval
    from interval_periods
    union all
    select
        enterprise_id, meter_id, window_start, window_end, cadence, step, grid_start,
        booked_start, period_end, reading_type, quality_code, vee_flag, consumption, rated_max
    from register_periods
),

spread as (
    -- each period onto every grid interval it overlaps: the series in the select list runs as the periods
    -- stream by (a lateral function scan per period was 3.4 s of a pilot day's 1.5 M periods; most of them
    -- lie inside one interval and give one row)
    select
        *,
        generate_series(
            {{ vee_grid_floor('booked_start', 'grid_start', 'step') }},
            period_end - interval '1 microsecond',
            step
        ) as interval_start
    from periods
    where period_end > booked_start
),

shares as (
    -- each period's share of an interval, in proportion to the overlap
    select
        p.enterprise_id, p.meter_id, p.window_start, p.window_end, p.reading_type, p.quality_code, p.vee_flag,
        p.interval_start,
        p.interval_start + p.step as interval_end,
        case
            -- a period inside one interval books its value as it is
            when p.booked_start >= p.interval_start and p.period_end <= p.interval_start + p.step then p.consumption
            else p.consumption
                * extract(epoch from (least(p.period_end, p.interval_start + p.step) - greatest(p.booked_start, p.interval_start)))
                / extract(epoch from (p.period_end - p.booked_start))
        end as consumption,
        p.booked_start = p.interval_start and p.period_end = p.interval_start + p.step as is_whole,
        p.period_end > p.interval_start and p.period_end <= p.interval_start + p.step as holds_end,
        p.period_end - p.booked_start <= p.cadence * 1.5 as is_one_reading,
        p.rated_max_per_interval
    from spread as p
),

judged as (
    -- a register share beyond the meter's rated maximum for an interval is rejected
    select
        *,
        case when rated_max_per_interval is not null and consumption > rated_max_per_interval then 'rejected' else quality_code end as share_quality,
        case when rated_max_per_interval is not null and consumption > rated_max_per_interval then 'beyond_rated_max' else vee_flag end as share_flag
    from shares
),

intervals as (
    select
        enterprise_id, meter_id, window_start, window_end, interval_start,
        min(interval_end) as interval_end,
        count(*) filter (where share_quality <> 'rejected') as valid_shares,
        bool_and(is_whole) filter (where share_quality <> 'rejected') as valid_is_whole,
        min(share_quality) filter (where share_quality <> 'rejected') as valid_quality,
        min(reading_type) filter (where share_quality <> 'rejected') as valid_reading_type,
        -- the distinct flags of the valid and of the rejected shares, in `flagged`: a DISTINCT aggregate sorts
        -- every group's rows, one sort per interval (1.8 M on a pilot day, almost all with one share); min and
        -- max give the flag when there is at most one, the list the rare rest
        min(share_flag) filter (where share_quality <> 'rejected') as valid_flag_min,
        max(share_flag) filter (where share_quality <> 'rejected') as valid_flag_max,
        array_agg(share_flag) filter (where share_quality <> 'rejected') as valid_flag_list,
        min(share_flag) filter (where share_quality = 'rejected') as rejected_flag_min,
        max(share_flag) filter (where share_quality = 'rejected') as rejected_flag_max,
        array_agg(share_flag) filter (where share_quality = 'rejected') as rejected_flag_list,
        sum(consumption) filter (where share_quality <> 'rejected') as valid_consumption,
        sum(consumption) filter (where share_quality = 'rejected') as rejected_consumption,
        bool_or(share_quality <> 'rejected' and (holds_end or is_one_reading)) as is_received
    from judged
    group by enterprise_id, meter_id, window_start, window_end, interval_start
),

flagged as (
    -- string_agg(distinct flag, '; '): the flags sorted, each once, nulls left out
    select
        *,
        case when valid_flag_min = valid_flag_max or valid_flag_min is null then valid_flag_min
            else (select string_agg(distinct f, '; ') from unnest(valid_flag_list) as f) end as valid_flags,
        case when rejected_flag_min = rejected_flag_max or rejected_flag_min is null then rejected_flag_min
            else (select string_agg(distinct f, '; ') from unnest(rejected_flag_list) as f) end as rejected_flags
    from intervals
),

observed as (
    select
        enterprise_id, meter_id, window_start, window_end, interval_start, interval_end,
        case
            when valid_shares = 0 then 'rejected'
            when valid_shares = 1 and valid_is_whole then valid_quality
            else 'estimated'
        end as quality_code,
        case
            when valid_shares = 0 then rejected_flags
            when valid_shares = 1 and valid_is_whole then valid_flags
            else concat_ws('; ',
                case when valid_reading_type = 'register' then 'register_span_split' else 'period_prorated' end,
                valid_flags, rejected_flags)
        end as vee_flag,
        case when valid_shares = 0 then rejected_consumption else valid_consumption end as observed_consumption,
        coalesce(is_received, false) as is_received
    from flagged
)

select
    enterprise_id, meter_id, interval_start, interval_end, quality_code, vee_flag, observed_consumption, is_received,
    {{ vee_current_batch() }} as built_through_batch
    {% if is_incremental() %}, window_start, window_end{% endif %}
from observed
where interval_start >= window_start and interval_start < window_end
{% endmacro %}

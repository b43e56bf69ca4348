{{
    config(
        materialized='incremental',
        incremental_strategy='window_replace',
        window_column='interval_start',
        indexes=[
            {'columns': ['enterprise_id', 'meter_id', 'interval_start']},
            {'columns': ['built_through_batch']},
        ],
        post_hook=["analyze {{ this }}"],
    )
}}
-- depends_on: {{ ref('stg_raw__meter_versions') }}, {{ ref('stg_raw__readings') }}, {{ ref('stg_raw__meters') }}
-- What each meter told us, as consumption intervals (canonical unit, multiplier applied), before
-- gaps are looked at. Interval meters: value × multiplier. Register meters: the delta between
-- consecutive readings, with rollovers (register passes register_max) booked, resets and meter
-- replacements never booked (the first value after them is not consumption), and a step spanning
-- several cadence intervals split evenly (its total is measured, the split is an estimate).
-- Values beyond the meter's rated maximum and negative interval values are rejected.
-- is_received: a valid reading arrived for the interval (completeness = valid received ÷ expected).
-- Incremental (macros/incremental_vee.sql): only the spans new batches can have changed are rebuilt,
-- from the readings in them (a register span includes the reading before it, whose value opens it).
with meters as (
    select * from {{ ref('stg_raw__meters') }}
),

windows as (
    {% if is_incremental() %}
    select enterprise_id, meter_id, lower(w) as window_start, upper(w) as window_end
    from (
        select enterprise_id, meter_id, unnest(range_agg(tstzrange(span_start, span_end, '[)'))) as w
        from ({{ vee_changed_spans(vee_built_through(this)) }}) as s
        group by 1, 2
    ) as x
    {% else %}
    select enterprise_id, meter_id, '-infinity'::timestamptz as window_start, 'infinity'::timestamptz as window_end
    from meters
    {% endif %}
),

readings as (
    select
        r.enterprise_id, r.meter_id, r.period_start, r.period_end, r.value, r.quality,
        m.reading_type, m.multiplier, m.register_max, m.rated_max, m.installed_at,
        w.window_start, w.window_end
    from {{ ref('stg_raw__readings') }} as r
    inner join meters as m using (enterprise_id, meter_id)
    inner join windows as w
        on w.enterprise_id = r.enterprise_id and w.meter_id = r.meter_id
        and r.period_end >= w.window_start and r.period_end <= w.window_end
),

register_steps as (
    select
        *,
        lag(value) over w as prev_value,
        lag(period_end) over w as prev_end
    from readings
    where reading_type = 'register'
    window w as (partition by enterprise_id, meter_id, window_start order by period_end)
),

register_cadence as (
    select enterprise_id, meter_id, cadence from {{ ref('int_meter_cadence') }} where cadence is not null
),

register_intervals as (
    select
        s.enterprise_id, s.meter_id, s.window_start, s.window_end, s.prev_end as span_start, s.period_end as span_end, s.rated_max,
        case
            when s.value >= s.prev_value then 'delta'
            when s.installed_at >= s.prev_end and s.installed_at < s.period_end then 'meter_replacement'
            when s.register_max is not null and s.prev_value >= 0.5 * s.register_max
                and s.value < 0.5 * s.register_max
                -- a rollover books a plausible consumption; a reset from high up would not
                and (s.rated_max is null or (s.register_max - s.prev_value + s.value) * s.multiplier
                     <= s.rated_max * greatest(1, extract(epoch from (s.period_end - s.prev_end)) / 900.0)) then 'rollover'
            else 'register_reset'
        end as step_kind,
        case
            when s.value >= s.prev_value then (s.value - s.prev_value) * s.multiplier
            when s.register_max is not null and s.prev_value >= 0.5 * s.register_max
                and s.value < 0.5 * s.register_max
                -- a rollover books a plausible consumption; a reset from high up would not
                and (s.rated_max is null or (s.register_max - s.prev_value + s.value) * s.multiplier
                     <= s.rated_max * greatest(1, extract(epoch from (s.period_end - s.prev_end)) / 900.0)) then (s.register_max - s.prev_value + s.value) * s.multiplier
        end as span_consumption,
        c.cadence
    from register_steps as s
    inner join register_cadence as c using (enterprise_id, meter_id)
    where s.prev_value is not null
),

register_split as (
    select
        ri.enterprise_id, ri.meter_id, ri.window_start, ri.window_end,
        t.interval_start,
        t.interval_start + ri.cadence as interval_end,
        ri.span_consumption / greatest(1, round(extract(epoch from (ri.span_end - ri.span_start)) / extract(epoch from ri.cadence))) as consumption,
        ri.rated_max,
        ri.step_kind,
        ri.span_end - ri.span_start > ri.cadence as is_split,
        t.interval_start + ri.cadence = ri.span_end as is_reading_interval
    from register_intervals as ri
    cross join lateral generate_series(ri.span_start, ri.span_end - ri.cadence, ri.cadence) as t(interval_start)
),

register_observed as (
    select
        enterprise_id, meter_id, window_start, window_end, interval_start, interval_end,
        case
            when step_kind in ('register_reset', 'meter_replacement') then 'rejected'
            when rated_max is not null and consumption > rated_max then 'rejected'
            when is_split then 'estimated'
            else 'measured'
        end as quality_code,
        case
            when step_kind in ('register_reset', 'meter_replacement') then step_kind
            when rated_max is not null and consumption > rated_max then 'beyond_rated_max'
            when step_kind = 'rollover' then 'rollover'
            when is_split then 'register_span_split'
        end as vee_flag,
        consumption as observed_consumption,
        -- received and usable: the interval that carries a valid reading (rejected ones are not)
        is_reading_interval
            and step_kind not in ('register_reset', 'meter_replacement')
            and not (rated_max is not null and consumption > rated_max) as is_received
    from register_split
),

interval_observed as (
    select
        enterprise_id, meter_id, window_start, window_end,
        period_start as interval_start,
        period_end as interval_end,
        case
            when value < 0 then 'rejected'
            when rated_max is not null and value * multiplier > rated_max then 'rejected'
            when quality = 'estimated' then 'estimated'
            else 'measured'
        end as quality_code,
        case
            when value < 0 then 'negative'
            when rated_max is not null and value * multiplier > rated_max then 'beyond_rated_max'
            when quality = 'estimated' then 'estimated_by_enterprise'
            when quality = 'manual' then 'manual_entry'
        end as vee_flag,
        value * multiplier as observed_consumption,
        not (value < 0 or (rated_max is not null and value * multiplier > rated_max)) as is_received
    from readings
    where reading_type = 'interval'
),

observed as (
    select * from interval_observed
    union all
    select * from register_observed
)

select
    enterprise_id, meter_id, interval_start, interval_end, quality_code, vee_flag, observed_consumption, is_received,
    {{ vee_current_batch() }} as built_through_batch
    {% if is_incremental() %}, window_start, window_end{% endif %}
from observed
where interval_start >= window_start and interval_start < window_end

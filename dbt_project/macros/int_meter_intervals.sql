{#
  int_meter_intervals: the SQL of one shard (macros/vee_shards.sql), shared by the shard models
  models/intermediate/vee_shards/int_meter_intervals__shard_<n>.sql; their union is the model int_meter_intervals.
#}
{% macro int_meter_intervals_config() %}
{{ vee_shard_config([
    "{{ ensure_partial_index(this, ['enterprise_id', 'meter_id', 'interval_start'], 'is_data_fault') }}",
]) }}
{% endmacro %}

{% macro int_meter_intervals_sql(shard) %}
-- depends_on: {{ ref('stg_raw__meter_versions') }}, {{ ref('stg_raw__readings') }}, {{ vee_staged_readings(shard) }}, {{ ref('stg_raw__meters') }}
-- One row per meter and expected interval, from the meter's first interval up to its enterprise's data
-- watermark (macros/incremental_vee.sql: one enterprise's far-off reading grows only its own grids),
-- with a quality code on every interval:
-- measured, estimated, missing or rejected. Missing and rejected runs of at most
-- var('max_estimate_gap_intervals') intervals, with measured neighbours on both sides, are
-- estimated as the mean of those neighbours; longer runs stay missing (or rejected).
--
-- Incremental (macros/incremental_vee.sql): per meter, the windows rebuilt are the spans new batches
-- changed, widened on each side over the run of missing or rejected intervals next to them, at most
-- max_gap + 1 intervals (an estimate depends on neighbours up to that far), the tail from the previous
-- watermark to the new one (the grid grows; a trailing run gets longer) and, when old history moves a
-- meter's first interval earlier, the stretch up to where the grid started before. Each window is
-- computed with max_gap + 1 intervals of context on both sides: a run cut by the context edge is already
-- longer than max_gap, so it is never estimated — as in a full build.
{% set max_gap = var('max_estimate_gap_intervals') %}
{#- the observations of the same shard: this shard's intervals never wait for the other's -#}
{% set observations = ref('int_meter_observations__shard_' ~ shard) %}
with cadence as (
    -- with the enterprise's data watermark, where the meter's grid ends
    -- the grid step: the meter's cadence, at most a day (macros/incremental_vee.sql: vee_grid_step)
    select
        c.enterprise_id, c.meter_id, {{ vee_grid_step('c.cadence') }} as cadence, c.grid_start,
        {{ vee_grid_step('c.cadence') }} * {{ max_gap + 1 }} as margin, w.data_watermark, c.last_period_end
    from {{ ref('int_meter_cadence') }} as c
    inner join ({{ vee_enterprise_watermarks() }}) as w using (enterprise_id)
    where c.cadence is not null and {{ vee_in_shard('c.enterprise_id', shard) }}  -- the shard's meters
),

wanted as (
    {% if is_incremental() %}
    -- a changed span, widened on each side by the run of missing or rejected intervals next to it (an
    -- estimate depends on the run's two measured neighbours): up to the last interval with a valid
    -- observation before it and the first one after it (as the observations stand now), never further than
    -- the margin (a run longer than max_gap is never estimated). An interval with a valid observation
    -- right next to the span bounds every run before or after it, so nothing beyond it can change: a
    -- 15-minute round then rebuilds each meter's new interval, not max_gap + 1 of the day before as well
    -- (which made every meter-day of the day before be recomputed in every round).
    select
        s.enterprise_id, s.meter_id,
        tstzrange(
            greatest(s.span_start - c.margin, valid_before.last_start + c.cadence),
            least(s.span_end + c.margin, valid_after.first_start), '[)'
        ) as w
    from ({{ vee_changed_spans(vee_built_through(this), shard) }}) as s
    inner join cadence as c using (enterprise_id, meter_id)
    left join lateral (
        select max(o.interval_start) as last_start
        from {{ observations }} as o
        where o.enterprise_id = s.enterprise_id and o.meter_id = s.meter_id and o.quality_code <> 'rejected'
          and o.interval_start >= s.span_start - c.margin and o.interval_start + c.cadence <= s.span_start
    ) as valid_before on isfinite(s.span_start)
    left join lateral (
        select min(o.interval_start) as first_start
        from {{ observations }} as o
        where o.enterprise_id = s.enterprise_id and o.meter_id = s.meter_id and o.quality_code <> 'rejected'
          and o.interval_start >= s.span_end and o.interval_start < s.span_end + c.margin
    ) as valid_after on isfinite(s.span_end)
    union all
    -- the grid grows to the new watermark; the end of the old grid may change (a trailing run of missing or
    -- rejected intervals, from the last interval with a valid observation on, within the margin)
    select
        c.enterprise_id, c.meter_id,
        tstzrange(
            coalesce(greatest(t.last_start - c.margin, valid.last_start + c.cadence), c.grid_start), 'infinity', '[)'
        )
    from cadence as c
    left join lateral (
        select max(interval_start) as last_start
        from {{ this }} as t
        where t.enterprise_id = c.enterprise_id and t.meter_id = c.meter_id
    ) as t on true
    left join lateral (
        select max(o.interval_start) as last_start
        from {{ observations }} as o
        where o.enterprise_id = c.enterprise_id and o.meter_id = c.meter_id and o.quality_code <> 'rejected'
          and o.interval_start >= t.last_start - c.margin and o.interval_start <= t.last_start
    ) as valid on t.last_start is not null
    where t.last_start is null or t.last_start + c.cadence < c.data_watermark
    union all
    -- old history moved the grid start earlier: build up to where the grid started before
    select c.enterprise_id, c.meter_id, tstzrange(c.grid_start, t.first_start + c.margin, '[)')
    from cadence as c
    inner join lateral (
        select min(interval_start) as first_start
        from {{ this }} as t
        where t.enterprise_id = c.enterprise_id and t.meter_id = c.meter_id
    ) as t on c.grid_start < t.first_start
    union all
    -- old history moved the grid start off the lattice the rows were built on: the meter whole
    select enterprise_id, meter_id, tstzrange(span_start, span_end, '[)')
    from ({{ vee_meters_off_their_grid(this, ref('int_meter_cadence')) }}) as off_grid
    {% else %}
    select enterprise_id, meter_id, tstzrange(grid_start, 'infinity', '[)') as w
    from cadence
    {% endif %}
),

windows as (
    -- merged per meter and clipped to [grid start, the enterprise's watermark)
    select
        x.enterprise_id, x.meter_id, c.cadence, c.grid_start, c.margin, c.data_watermark, c.last_period_end,
        greatest(lower(x.w), c.grid_start) as window_start,
        least(upper(x.w), c.data_watermark) as window_end
    from (
        select enterprise_id, meter_id, unnest(range_agg(w)) as w
        from wanted
        group by 1, 2
    ) as x
    inner join cadence as c using (enterprise_id, meter_id)
    where upper(x.w) > c.grid_start and lower(x.w) < c.data_watermark
),

grid as (
    -- the meter's grid (grid_start + k × cadence) over the window and its context
    select
        w.enterprise_id, w.meter_id, w.window_start, w.window_end, g.interval_start,
        g.interval_start + w.cadence as interval_end, w.cadence
    from windows as w
    cross join lateral generate_series(
        w.grid_start + w.cadence * ceil(greatest(0, extract(epoch from (w.window_start - w.margin - w.grid_start)))
                                        / extract(epoch from w.cadence)),
        least(w.window_end + w.margin, w.data_watermark) - interval '1 microsecond',
        w.cadence
    ) as g(interval_start)
    -- intervals that end by the watermark, and the one reaching past it that the meter's last period
    -- (ending off the grid) books into
    where g.interval_start + w.cadence <= w.data_watermark or g.interval_start < w.last_period_end
),

observations as (
    -- the observations in each window and its context: one range scan of the (enterprise_id, meter_id,
    -- interval_start) index per window, instead of one lookup per grid interval (29 s for a pilot day's
    -- 2.6 M grid intervals). Observations lie on the grid (int_meter_observations books onto it).
    select
        w.enterprise_id, w.meter_id, w.window_start, x.interval_start,
        x.quality_code, x.vee_flag, x.observed_consumption, x.is_received
    from windows as w
    inner join {{ observations }} as x
        on x.enterprise_id = w.enterprise_id and x.meter_id = w.meter_id
        and x.interval_start >= w.window_start - w.margin and x.interval_start < w.window_end + w.margin
),

joined as (
    -- each grid interval with its observation (at most one: unique key), matched on the whole key so the
    -- planner hashes or merges the two sets; a join into the whole observations table was planned, on the
    -- grid's estimated few rows, as a merge by meter with interval_start as a filter (a per-meter cross product)
    select
        g.enterprise_id, g.meter_id, g.window_start, g.window_end, g.interval_start, g.interval_end, g.cadence,
        coalesce(o.quality_code, 'missing') as quality_code,
        o.vee_flag,
        o.observed_consumption,
        coalesce(o.is_received, false) as is_received
    from grid as g
    left join observations as o
        on o.enterprise_id = g.enterprise_id and o.meter_id = g.meter_id
        and o.window_start = g.window_start and o.interval_start = g.interval_start
),

islands as (
    select
        *,
        sum(case when quality_code in ('measured', 'estimated') then 1 else 0 end) over w as island,
        -- the next interval's measured value: for the last interval of a run, the measured neighbour after it
        lead(case when quality_code = 'measured' then observed_consumption end) over w as next_measured
    from joined
    window w as (partition by enterprise_id, meter_id, window_start order by interval_start rows unbounded preceding)
),

runs as (
    -- an island is one measured/estimated interval and the run of missing/rejected ones after it: the
    -- run's neighbours are the island's own measured value and the next measured value after its end
    select
        *,
        count(*) filter (where quality_code in ('missing', 'rejected'))
            over (partition by enterprise_id, meter_id, window_start, island) as run_length,
        max(case when quality_code = 'measured' then observed_consumption end)
            over (partition by enterprise_id, meter_id, window_start, island) as before_run,
        max(next_measured) over (partition by enterprise_id, meter_id, window_start, island) as after_run
    from islands
),

vee as (
    select
        r.enterprise_id,
        r.meter_id,
        r.window_start,
        r.window_end,
        r.interval_start,
        r.interval_end,
        case
            when r.quality_code in ('measured', 'estimated') then r.observed_consumption
            when r.run_length <= {{ max_gap }} and r.before_run is not null and r.after_run is not null
                then (r.before_run + r.after_run) / 2.0
        end as consumption,
        case
            when r.quality_code in ('measured', 'estimated') then r.quality_code
            when r.run_length <= {{ max_gap }} and r.before_run is not null and r.after_run is not null then 'estimated'
            else r.quality_code
        end as quality_code,
        case
            when r.quality_code in ('missing', 'rejected') and r.run_length <= {{ max_gap }}
                and r.before_run is not null and r.after_run is not null then coalesce(r.vee_flag || '; ', '') || 'gap_estimated'
            when r.quality_code = 'missing' then 'gap_not_estimated'
            else r.vee_flag
        end as vee_flag,
        r.quality_code as observed_quality_code,
        r.observed_consumption,
        r.is_received,
        -- capped: every run longer than the estimation limit is alike (never estimated)
        case when r.quality_code in ('missing', 'rejected') then least(r.run_length, {{ max_gap + 1 }}) end as run_length
    from runs as r
    where r.interval_start >= r.window_start and r.interval_start < r.window_end
)

select
    enterprise_id,
    meter_id,
    interval_start,
    interval_end,
    {{ local_date('interval_start') }} as local_date,
    {{ local_month('interval_start') }} as local_month,
    consumption,
    quality_code,
    vee_flag,
    observed_quality_code,
    observed_consumption,
    is_received,
    run_length,
    -- what the data-fault alerts look at (a partial index serves them)
    observed_quality_code in ('missing', 'rejected')
        or coalesce(vee_flag like 'rollover%' or vee_flag like '%overlapping_period%', false) as is_data_fault,
    {{ vee_current_batch() }} as built_through_batch
    {% if is_incremental() %}, window_start, window_end{% endif %}
from vee
{% endmacro %}

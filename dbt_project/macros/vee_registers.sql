{#
  What a register step is, from the reading before it (columns value, previous_value, previous_end,
  period_end, installed_at, register_max, rated_max, multiplier of the row): one rule, read by
  int_meter_observations (which books it) and the conservation test on registers (which checks it).
  - delta: the register went up (or stayed);
  - jitter: it went down by at most var('register_jitter_tolerance') of the previous value;
  - meter_replacement: the meter was replaced during the step;
  - rollover: it passed register_max (from the upper half to the lower), with a plausible consumption
    (within the rated maximum per 15 minutes over the step); a reset from high up would not be;
  - register_reset: any other drop (never booked: the value after it opens a new register).
#}
{% macro vee_register_step_kind() -%}
    case
        when value >= previous_value then 'delta'
        when previous_value - value <= {{ var('register_jitter_tolerance') }} * previous_value then 'jitter'
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
    end
{%- endmacro %}

{#
  What the conservation tests compare, per meter of `reading_type` that the latest build of
  int_meter_observations rebuilt: `since`, the first interval it rebuilt (every observation of the meter
  from there on is compared, also rows between two rebuilt windows), and `opening_end`, the end of the
  meter's last reading ending at or before `since` (null when none): readings from it on are all a check of
  the booking from `since` on needs (the opening reading gives the next one its previous end, a register
  its opening value). A check therefore costs about the rows the build rebuilt, not the meter's whole
  history; after a full refresh `since` is each meter's first interval and the check covers everything.
  `readings_where`: which readings count as the meter's readings (registers: the non-negative ones, as the
  model reads them).
#}
{% macro vee_rebuilt_meters(reading_type, observations, shard, readings_where='true') -%}
    select b.enterprise_id, b.meter_id, b.since, p.opening_end
    from (
        select o.enterprise_id, o.meter_id, min(o.interval_start) as since
        from {{ observations }} as o
        inner join {{ ref('stg_raw__meters') }} as m using (enterprise_id, meter_id)
        where o.built_through_batch = (select max(x.built_through_batch) from {{ observations }} as x)
          and m.reading_type = '{{ reading_type }}'
        group by o.enterprise_id, o.meter_id
    ) as b
    left join lateral (
        select max(r.period_end) as opening_end
        from {{ vee_staged_readings(shard) }} as r
        where r.enterprise_id = b.enterprise_id and r.meter_id = b.meter_id and r.period_end <= b.since
          and {{ readings_where }}
    ) as p on true
{%- endmacro %}

{# Per meter of `rebuilt` (a relation of vee_rebuilt_meters), Σ of its valid bookings in `observations` (a shard table of
   int_meter_observations) from its `since` on (null when nothing is booked): one range scan of the (enterprise_id,
   meter_id, interval_start) index per meter. Joined as a set, through the shards' view (macros/vee_shards.sql) the planner
   merged the whole table in key order: 7.1 M rows read for a 15-minute round's 17,826 rebuilt meters of a pilot
   region, 7.9 and 8.3 s of the conservation test, 2.0 and 2.1 s this way (EXPLAIN ANALYZE, alternating). #}
{% macro vee_booked_since(rebuilt, observations) -%}
    select b.enterprise_id, b.meter_id, o.total
    from {{ rebuilt }} as b
    cross join lateral (
        select sum(x.observed_consumption) as total
        from {{ observations }} as x
        where x.enterprise_id = b.enterprise_id and x.meter_id = b.meter_id and x.interval_start >= b.since
          and x.quality_code <> 'rejected'
    ) as o
{%- endmacro %}

{# Per reading (after step_kind): its position, the register unwrapped past its rollovers, and its
   register number, which a reset or a replacement moves on (each register's high-water mark and advance
   are its own). `partition_by`: the columns a register's readings share. #}
{% macro vee_register_positions(partition_by) -%}
    value + coalesce(register_max, 0)
        * sum(case when step_kind = 'rollover' then 1 else 0 end)
            over (partition by {{ partition_by }} order by period_end rows unbounded preceding) as position,
    sum(case when step_kind in ('register_reset', 'meter_replacement') then 1 else 0 end)
        over (partition by {{ partition_by }} order by period_end rows unbounded preceding) as register_no
{%- endmacro %}

{# The readings of the meters in `rebuilt` (a relation of vee_rebuilt_meters) from each one's opening reading on,
   with `since` and the meter's VEE attributes: what the conservation tests compare the bookings with. #}
{% macro vee_rebuilt_readings(rebuilt, shard, readings_where='true') -%}
    select
        b.since, r.enterprise_id, r.meter_id, r.period_start, r.period_end, r.value,
        m.multiplier, m.register_max, m.rated_max, m.installed_at
    from {{ rebuilt }} as b
    inner join {{ vee_staged_readings(shard) }} as r
        on
            r.enterprise_id = b.enterprise_id and r.meter_id = b.meter_id
            and r.period_end >= coalesce(b.opening_end, '-infinity')
    inner join {{ ref('stg_raw__meters') }} as m
        on m.enterprise_id = r.enterprise_id and m.meter_id = r.meter_id
    where {{ readings_where }}
{%- endmacro %}

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

{# The meters whose observations the latest build of int_meter_observations wrote (all after a full refresh). #}
{% macro vee_meters_of_latest_build() -%}
    select distinct o.enterprise_id, o.meter_id
    from {{ ref('int_meter_observations') }} as o
    where o.built_through_batch = (select max(x.built_through_batch) from {{ ref('int_meter_observations') }} as x)
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

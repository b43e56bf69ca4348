{# The intervals of `relation` matching `condition`, each with the number of the run of consecutive
   such intervals (per meter) it belongs to. #}
{% macro numbered_runs(relation, condition) %}
    select *, sum(starts_run) over (partition by enterprise_id, meter_id order by interval_start) as run
    from (
        select
            *,
            case when lag(interval_end) over (partition by enterprise_id, meter_id order by interval_start)
                      = interval_start then 0 else 1 end as starts_run
        from {{ relation }}
        where {{ condition }}
    ) as x
{% endmacro %}

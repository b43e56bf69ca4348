{{
    config(
        materialized='incremental',
        unique_key='alert_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
    )
}}
-- Alerts (预警): one row per rule, entity and period, updated rather than duplicated from build to
-- build (first_seen kept, last_seen advanced). An alert no longer found while its rule still runs is
-- resolved (a silent feed only once its meter sent something newer). first_seen/last_seen are as-of
-- times (the enterprise's data watermark in batch runs, the wall clock in the running platform;
-- macros/incremental_vee.sql), not the time of the build.
with as_of as (
    {{ vee_as_of_by_enterprise() }}
),

-- the as-of of an alert whose enterprise is unknown to the registry (a row rejected for its id)
platform as (
    select {{ vee_platform_as_of() }} as as_of
),

current_alerts as (
    select
        md5(concat_ws('|', c.rule_id, c.enterprise_id, coalesce(c.meter_id, ''), coalesce(c.period_start::text, ''),
                      coalesce(c.evidence ->> 'file', ''), coalesce(c.evidence ->> 'row', ''))) as alert_id,
        c.*
    from {{ ref('int_alert_candidates') }} as c
)

select
    c.alert_id,
    c.family,
    c.fault_kind,
    c.rule_id,
    c.rule_version,
    c.severity,
    c.enterprise_id,
    c.meter_id,
    c.period_start,
    c.period_end,
    c.status,
    {% if is_incremental() %}
    coalesce(t.first_seen, a.as_of, p.as_of) as first_seen,
    {% else %}
    coalesce(a.as_of, p.as_of) as first_seen,
    {% endif %}
    coalesce(a.as_of, p.as_of) as last_seen,
    c.evidence
from current_alerts as c
cross join platform as p
left join as_of as a on a.enterprise_id = c.enterprise_id
{% if is_incremental() %}
left join {{ this }} as t using (alert_id)
union all
-- alerts of earlier builds that no longer hold are kept, resolved; except a silent feed whose meter has
-- sent nothing since it fell silent: a run judging against an earlier as-of (a batch run at the data
-- watermark after the wall-clock schedule's run) does not see the silence, but nothing has ended it
select
    t.alert_id, t.family, t.fault_kind, t.rule_id, t.rule_version, t.severity, t.enterprise_id, t.meter_id,
    t.period_start, t.period_end,
    case
        when t.fault_kind = 'silent_feed' and coalesce(m.last_period_end <= t.period_start, true) then 'open'
        else 'resolved'
    end,
    t.first_seen, t.last_seen, t.evidence
from {{ this }} as t
left join {{ ref('int_meter_cadence') }} as m on m.enterprise_id = t.enterprise_id and m.meter_id = t.meter_id
where t.status = 'open' and t.alert_id not in (select alert_id from current_alerts)
{% endif %}

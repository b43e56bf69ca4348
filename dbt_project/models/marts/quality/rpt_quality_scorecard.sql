-- Data-quality scorecard per enterprise and month: completeness, timeliness (share of readings
-- sent within 1 h of their period end), validity (share of the enterprise's rows that passed
-- validation), estimated share, calibration status, and totals consistency (platform vs the
-- enterprise's own monthly totals, relative difference in tce), and the energy balance of its 205-1
-- statement (int_energy_balance_monthly): energy types whose stocks do not close, and energy types whose
-- metered consumption departs from its own reported monthly total.
with readings as (
    select
        enterprise_id,
        local_month as month,
        sum(readings_sent) as readings,
        sum(readings_on_time) as on_time
    from {{ ref('int_meter_daily') }}
    group by 1, 2
),

rejected as (
    -- a row rejected from an enterprise's own feed counts against that enterprise, whatever id the row
    -- claims (enterprise A's rows naming B must not lower B's validity)
    select coalesce(b.owner_enterprise_id, r.enterprise_id) as enterprise_id, count(*) as rejected_rows
    from {{ source('quarantine', 'rejected_rows') }} as r
    inner join {{ source('audit', 'ingest_batches') }} as b using (batch_id)
    group by 1
),

loaded as (
    select enterprise_id, sum(rows_loaded) as loaded_rows
    from {{ ref('int_raw_reading_counts') }}
    group by 1
),

calibration as (
    select enterprise_id, min(calibration_valid_until) as earliest_calibration_valid_until
    from {{ ref('stg_raw__meters') }}
    group by 1
),

reported_totals as (
    select
        t.enterprise_id,
        date_trunc('month', t.local_start_date)::date as month,
        sum(t.value * et.coefficient_kgce_per_unit) / 1000.0 as reported_tce
    from {{ ref('stg_raw__totals') }} as t
    inner join {{ ref('energy_types') }} as et using (energy_code)
    where t.grain = 'month' and et.counts_toward_comprehensive
    group by 1, 2
),

balance as (
    select
        enterprise_id,
        month,
        count(*) filter (where has_statement) as energy_balance_statements,
        count(*) filter (where not balance_closes) as energy_balance_breaches,
        string_agg(energy_code, ',' order by energy_code) filter (where not balance_closes) as energy_balance_breached,
        count(*) filter (where not consumption_matches_report) as consumption_report_mismatches
    from {{ ref('int_energy_balance_monthly') }}
    group by 1, 2
)

select
    f.enterprise_id,
    f.month,
    f.completeness,
    r.on_time::numeric / nullif(r.readings, 0) as timeliness,
    l.loaded_rows::numeric / nullif(l.loaded_rows + coalesce(x.rejected_rows, 0), 0) as validity,
    f.estimated_share,
    coalesce(c.earliest_calibration_valid_until >= (f.month + interval '1 month')::date, false) as calibration_ok,
    t.reported_tce,
    f.comprehensive_tce_equivalent / nullif(t.reported_tce, 0) - 1 as totals_consistency,
    f.completeness >= {{ var('completeness_threshold') }} as meets_completeness_rule,
    abs(f.comprehensive_tce_equivalent / nullif(t.reported_tce, 0) - 1) <= {{ var('totals_tolerance') }}
        as meets_totals_rule,
    coalesce(b.energy_balance_statements, 0) as energy_balance_statements,
    coalesce(b.energy_balance_breaches, 0) as energy_balance_breaches,
    b.energy_balance_breached,
    coalesce(b.consumption_report_mismatches, 0) as consumption_report_mismatches,
    -- null when the enterprise sent no 205-1 statement this month (nothing to judge)
    case when b.energy_balance_statements > 0 then b.energy_balance_breaches = 0 end as meets_energy_balance_rule
from {{ ref('fct_enterprise_monthly') }} as f
left join readings as r using (enterprise_id, month)
left join loaded as l using (enterprise_id)
left join rejected as x using (enterprise_id)
left join calibration as c using (enterprise_id)
left join reported_totals as t using (enterprise_id, month)
left join balance as b using (enterprise_id, month)

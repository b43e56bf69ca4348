-- Every alert condition found in the warehouse as it is, one row per rule, entity and period.
-- Families never mix: data_fault (what went wrong between meter and platform) and consumption
-- (what the enterprise really used). Time-relative rules use the as-of time: var('as_of') when given
-- (the running platform passes the wall clock), else the enterprise's data watermark
-- (macros/incremental_vee.sql: one enterprise's far-off reading never makes the others silent).
with as_of as (
    {{ vee_as_of_by_enterprise() }}
),

meters as (
    select * from {{ ref('stg_raw__meters') }}
),

-- only the intervals a data-fault rule looks at (missing, rejected, rollover): a partial index on
-- int_meter_intervals serves them, so the rules do not rescan the whole interval history
faults as (
    select * from {{ ref('int_meter_intervals') }} where is_data_fault
),

-- runs of intervals that never arrived (before estimation), per meter: consecutive missing intervals
missing_runs as (
    select
        enterprise_id, meter_id,
        min(interval_start) as period_start,
        max(interval_end) as period_end,
        count(*) as intervals
    from ({{ numbered_runs('faults', "observed_quality_code = 'missing'") }}) as x
    group by enterprise_id, meter_id, run
),

last_received as (
    select d.enterprise_id, d.meter_id, max(d.last_received_end) as last_end, max(c.cadence) as cadence
    from {{ ref('int_meter_daily') }} as d
    inner join {{ ref('int_meter_cadence') }} as c using (enterprise_id, meter_id)
    group by 1, 2
),

gaps as (
    select
        'data_fault' as family, 'gap' as fault_kind, 'DF-GAP' as rule_id, 1 as rule_version,
        case when r.intervals > {{ var('max_estimate_gap_intervals') }} then 'warning' else 'info' end as severity,
        r.enterprise_id, r.meter_id, r.period_start, r.period_end,
        'resolved' as status,
        jsonb_build_object('missing_intervals', r.intervals,
                           'estimated', r.intervals <= {{ var('max_estimate_gap_intervals') }}) as evidence
    from missing_runs as r
    inner join last_received as l using (enterprise_id, meter_id)
    where r.period_end < l.last_end  -- the feed resumed after the gap
),

silent as (
    select
        'data_fault', 'silent_feed', 'DF-SILENT', 1,
        'critical',
        l.enterprise_id, l.meter_id, l.last_end, a.as_of,
        'open',
        jsonb_build_object('last_received_end', l.last_end, 'as_of', a.as_of, 'cadence', l.cadence::text)
    from last_received as l
    inner join as_of as a on a.enterprise_id = l.enterprise_id
    where l.last_end < a.as_of - greatest(l.cadence * 4, interval '1 hour')
),

vee_events as (
    select
        'data_fault',
        case
            when vee_flag like 'register_reset%' then 'register_reset'
            when vee_flag like 'rollover%' then 'rollover'
            when vee_flag like 'meter_replacement%' then 'meter_replacement'
            when vee_flag like 'negative%' then 'negative'
            when vee_flag like '%overlapping_period%' then 'overlapping_period'
        end as fault_kind,
        case
            when vee_flag like 'register_reset%' then 'DF-REG-RESET'
            when vee_flag like 'rollover%' then 'DF-REG-ROLLOVER'
            when vee_flag like 'meter_replacement%' then 'DF-REG-REPLACED'
            when vee_flag like 'negative%' then 'DF-NEGATIVE'
            -- a period starting before the meter's previous one ended: rejected, never summed with it
            else 'DF-OVERLAP'
        end,
        1,
        case when vee_flag like 'rollover%' or vee_flag like 'meter_replacement%' then 'info' else 'warning' end,
        enterprise_id, meter_id, interval_start, interval_end,
        'resolved',
        jsonb_build_object('quality_code', quality_code, 'vee_flag', vee_flag, 'observed', observed_consumption)
    from faults
    where vee_flag like 'register_reset%' or vee_flag like 'rollover%' or vee_flag like 'meter_replacement%'
       or vee_flag like 'negative%' or vee_flag like '%overlapping_period%'
),

-- values beyond the rated maximum: a run of several is a unit error (1000× under the same label), a short one a spike
beyond as (
    select
        enterprise_id, meter_id, min(interval_start) as period_start, max(interval_end) as period_end, count(*) as n,
        max(observed_consumption) as largest
    from ({{ numbered_runs('faults', "vee_flag like 'beyond_rated_max%'") }}) as x
    group by enterprise_id, meter_id, run
),

beyond_alerts as (
    select
        'data_fault',
        case when b.n >= 4 then 'unit_error' else 'spike' end,
        case when b.n >= 4 then 'DF-UNIT' else 'DF-SPIKE' end,
        1, 'warning',
        b.enterprise_id, b.meter_id, b.period_start, b.period_end,
        'resolved',
        jsonb_build_object('intervals', b.n, 'largest', b.largest, 'rated_max', m.rated_max,
                           'ratio', round(b.largest / nullif(m.rated_max, 0), 1))
    from beyond as b
    inner join meters as m using (enterprise_id, meter_id)
),

duplicates as (
    select
        'data_fault', 'duplicate', 'DF-DUP', 1, 'info',
        d.enterprise_id,
        split_part(d.natural_key, '|', 2) as meter_id,
        (split_part(d.natural_key, '|', 3))::timestamptz - coalesce(l.cadence, interval '15 minutes') as period_start,
        (split_part(d.natural_key, '|', 3))::timestamptz as period_end,
        'resolved',
        jsonb_build_object('file', d.source_name, 'row', d.row_number, 'first_row', d.first_row_number)
    from (
        -- one alert per reading, file name and row (a file sent again under its name repeats them)
        select distinct on (enterprise_id, natural_key, source_name, row_number) *
        from {{ source('quarantine', 'duplicate_rows') }}
        where entity = 'readings'
        order by enterprise_id, natural_key, source_name, row_number, batch_id desc
    ) as d
    left join last_received as l
        on l.enterprise_id = d.enterprise_id and l.meter_id = split_part(d.natural_key, '|', 2)
),

rejected as (
    select
        'data_fault',
        case
            when r.reason like 'invalid 统一社会信用代码%' then 'invalid_enterprise_id'
            when r.reason like 'unknown meter%' then 'unknown_meter'
            else 'malformed_row'
        end,
        'DF-REJECTED', 1, 'warning',
        r.owner_id, null::text,
        null::timestamptz, null::timestamptz,
        'resolved',
        jsonb_build_object('file', r.source_name, 'row', r.row_number, 'field', r.field, 'value', r.value,
                           'reason', r.reason)
    from (
        -- one alert per owner, file name and row: a file sent again under its name with a bad row at the
        -- same row number updates that alert (the latest batch's value and reason) instead of a second
        -- alert with the same identity, which would fail the build for every enterprise
        select distinct on (owner_id, r.source_name, r.row_number)
            r.*, coalesce(b.owner_enterprise_id, r.enterprise_id) as owner_id
        from {{ source('quarantine', 'rejected_rows') }} as r
        inner join {{ source('audit', 'ingest_batches') }} as b using (batch_id)
        where r.entity = 'readings' and coalesce(b.owner_enterprise_id, r.enterprise_id) is not null
        order by owner_id, r.source_name, r.row_number, r.batch_id desc
    ) as r
),

calibration as (
    select
        'data_fault', 'calibration_expired', 'DF-CALIBRATION', 1, 'warning',
        m.enterprise_id, m.meter_id, m.calibration_valid_until::timestamptz, a.as_of,
        'open',
        jsonb_build_object('calibration_valid_until', m.calibration_valid_until)
    from meters as m
    inner join as_of as a on a.enterprise_id = m.enterprise_id
    where m.calibration_valid_until < a.as_of
),

totals as (
    select
        'data_fault', 'totals_inconsistent', 'DF-TOTALS', 1, 'warning',
        s.enterprise_id, null::text, s.month::timestamptz, (s.month + interval '1 month')::timestamptz,
        'open',
        jsonb_build_object('platform_vs_reported', round(s.totals_consistency, 4), 'reported_tce', round(s.reported_tce, 3))
    from {{ ref('rpt_quality_scorecard') }} as s
    where abs(s.totals_consistency) > {{ var('totals_tolerance') }}
),

-- the 205-1 statement does not balance: stocks that do not close against the meters (DF-BALANCE), per
-- enterprise and month with every energy type concerned in the evidence; a data fault of the enterprise's
-- reported figures, the same kind as totals that disagree with the meters
energy_balance as (
    select
        'data_fault', 'totals_inconsistent', 'DF-BALANCE', 1, 'warning',
        b.enterprise_id, null::text, b.month::timestamptz, (b.month + interval '1 month')::timestamptz,
        'open',
        jsonb_build_object(
            'tolerance', {{ var('energy_balance_tolerance') }},
            'energy_types', jsonb_agg(jsonb_build_object(
                'energy_code', b.energy_code, 'unit', b.unit,
                'opening_stock', b.opening_stock, 'purchased', b.purchased_quantity,
                'consumption', round(b.consumption_quantity, 3), 'supplied', round(b.supplied_quantity, 3),
                'closing_stock', b.closing_stock, 'residual', round(b.balance_residual, 3)
            ) order by b.energy_code)
        )
    from {{ ref('int_energy_balance_monthly') }} as b
    where not b.balance_closes
    group by b.enterprise_id, b.month
),

limit_breaches as (
    select
        'consumption', 'limit_breach', 'CF-LIMIT', 1,
        'critical',
        p.enterprise_id, null::text, p.month::timestamptz, (p.month + interval '1 month')::timestamptz,
        'open',
        jsonb_build_object('product_code', p.product_code, 'unit_product_energy', round(p.unit_product_energy, 2),
                           'limit_grade3', p.limit_value_grade3, 'standard', p.standard,
                           'note', 'possible breach: base limit values, correction terms not applied')
    from {{ ref('fct_unit_product_energy_monthly') }} as p
    where p.is_possible_breach
),

-- abnormal rise: in the last 7 days, at least 4 working days above 1.2 × the enterprise's own
-- baseline for that weekday (median of the 4 weeks before); public holidays (seed) are left out of
-- both, days below 90 % completeness too
daily as (
    select d.enterprise_id, d.date, sum(d.tce_equivalent) as tce
    from {{ ref('fct_enterprise_energy_daily') }} as d
    inner join {{ ref('energy_types') }} as et using (energy_code)
    where et.counts_toward_comprehensive
    group by 1, 2
    having min(d.completeness) >= {{ var('completeness_threshold') }}
),

working_days as (
    select d.*, extract(isodow from d.date) as weekday, m.last_day
    from daily as d
    inner join (select enterprise_id, max(date) as last_day from daily group by 1) as m using (enterprise_id)
    where not exists (select 1 from {{ ref('holidays') }} as h where d.date between h.start_date and h.end_date)
),

baselines as (
    select enterprise_id, weekday,
           percentile_cont(0.5) within group (order by tce) as baseline, count(*) as samples
    from working_days
    where date <= last_day - 7 and date > last_day - 35
    group by 1, 2
),

recent as (
    select w.enterprise_id, w.date, w.tce, b.baseline, w.last_day
    from working_days as w
    inner join baselines as b using (enterprise_id, weekday)
    where w.date > w.last_day - 7 and b.samples >= 2
),

rises as (
    select
        'consumption', 'abnormal_rise', 'CF-RISE', 2, 'warning',
        r.enterprise_id, null::text, (max(r.last_day) - 6)::timestamptz, (max(r.last_day) + 1)::timestamptz,
        'open',
        jsonb_build_object('days_above', count(*) filter (where r.tce > 1.2 * r.baseline), 'days_compared', count(*),
                           'rise', round((sum(r.tce) / nullif(sum(r.baseline), 0) - 1)::numeric, 3))
    from recent as r
    group by r.enterprise_id
    having count(*) filter (where r.tce > 1.2 * r.baseline) >= 4
),

target_risk as (
    select
        'consumption', 'annual_target_at_risk', 'CF-TARGET', 1, 'warning',
        f.enterprise_id, null::text, date_trunc('year', max(f.month))::timestamptz, max(f.month + interval '1 month')::timestamptz,
        'open',
        jsonb_build_object('year_to_date_tce', round(sum(f.comprehensive_tce_equivalent), 1),
                           'projected_tce', round(sum(f.comprehensive_tce_equivalent) * 12.0 / count(*), 1),
                           'annual_target_tce', max(e.annual_target_tce))
    from {{ ref('fct_enterprise_monthly') }} as f
    inner join {{ ref('dim_enterprise') }} as e using (enterprise_id)
    where e.annual_target_tce is not null
      and date_trunc('year', f.month) = (select date_trunc('year', max(month)) from {{ ref('fct_enterprise_monthly') }})
    group by f.enterprise_id
    having count(*) >= 3 and sum(f.comprehensive_tce_equivalent) * 12.0 / count(*) > max(e.annual_target_tce)
)

select * from gaps
union all select * from silent
union all select * from vee_events
union all select * from beyond_alerts
union all select * from duplicates
union all select * from rejected
union all select * from calibration
union all select * from totals
union all select * from energy_balance
union all select * from limit_breaches
union all select * from rises
union all select * from target_risk

-- The data-quality thresholds as this build applied them. Defined once, as dbt vars in dbt_project.yml
-- (sources and confidence there); every other reader (Great Expectations suites, dashboards, export)
-- takes them from this table, so changing a var changes every check that applies it.
select
    rule_id,
    threshold,
    comparison,
    source,
    confidence
from (
    values
    (
        'completeness', {{ var('completeness_threshold') }}::numeric, 'completeness >= threshold',
        'GB/T 38692-2020, public summaries: uploaded ÷ expected ≥ 90 %', 'S'
    ),
    (
        'totals_consistency', {{ var('totals_tolerance') }}::numeric, '|totals_consistency| <= threshold',
        'national rule: daily and monthly data agree within 5 % (applied to the enterprise''s own totals)', 'S'
    ),
    (
        'timeliness', {{ var('timeliness_threshold') }}::numeric, 'timeliness >= threshold',
        'house rule: readings sent within 1 h of their period end', 'U'
    ),
    (
        'max_estimate_gap', {{ var('max_estimate_gap_intervals') }}::numeric, 'gap intervals <= threshold',
        'house rule: gaps up to this many intervals are estimated', 'U'
    ),
    (
        'energy_balance', {{ var('energy_balance_tolerance') }}::numeric,
        '|opening + purchases + produced - consumption - supplied - closing| <= threshold × available',
        'platform choice: 205-1 stock balance per energy type and month closes within this share', 'U'
    )
) as rules (rule_id, threshold, comparison, source, confidence)

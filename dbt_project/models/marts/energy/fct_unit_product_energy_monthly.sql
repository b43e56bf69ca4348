-- 单位产品综合能耗 per enterprise, product and month on the product's boundary (fct_product_energy_monthly),
-- in the indicator's own unit (kgce/t; gce/kWh for 供电煤耗), with the limit grade reached under the edition
-- of the limit standard in force that month (effective_from ≤ month < effective_to, seed limit_standards).
-- Corrections the platform can compute from the data are applied to the limits (GB 16780-2021 cement:
-- limit + (clinker share − 75 %) × 1.10/1.15/1.20, clinker share = clinker ÷ cement output of the
-- month); the others are listed in corrections_missing. Above grade 3 is a possible breach, not a proven
-- one, whenever a correction is missing. limit_status says why a row has no grade: no standard in force,
-- the edition in force has no known values, the energy cannot be attributed, or the output unit is unknown.
with products as (
    select
        p.*,
        case
            when p.output_quantity is null or p.output_quantity = 0 or p.energy_tce is null then null
            when p.indicator_unit = 'gce/kWh' then p.energy_tce * 1000000.0 / p.output_quantity
            else p.energy_tce * 1000.0 / p.output_quantity
        end as unit_product_energy,
        -- GB 16780-2021 correction input; above 100 % the clinker was partly sold or stocked: unknown
        case
            when p.product_code = 'cement' then (
                select case when s.share <= 100 then s.share end
                from (
                    select 100.0 * sum(c.output_quantity) / nullif(p.output_quantity, 0) as share
                    from {{ ref('fct_product_energy_monthly') }} as c
                    where
                        c.enterprise_id = p.enterprise_id and c.month = p.month and c.product_code = 'clinker'
                        and c.output_unit_error is null
                ) as s
            )
        end as clinker_share_pct
    from {{ ref('fct_product_energy_monthly') }} as p
),

limits as (
    select
        product_code, standard, edition, unit,
        max(limit_value) filter (where grade = '1') as base_grade1,
        max(limit_value) filter (where grade = '2') as base_grade2,
        max(limit_value) filter (where grade = '3') as base_grade3,
        max(confidence) as limit_confidence
    from {{ ref('limit_standards') }}
    where indicator = 'unit_product_energy'
    group by 1, 2, 3, 4
),

corrections as (
    -- per product row and grade: the sum of the corrections whose input the platform computes
    select
        p.enterprise_id, p.month, p.product_code,
        coalesce(sum(c.coefficient * (p.clinker_share_pct - c.reference_value)) filter (
            where c.grade in ('1', '*') and c.input = 'clinker_share_pct'
        ), 0) as grade1_correction,
        coalesce(sum(c.coefficient * (p.clinker_share_pct - c.reference_value)) filter (
            where c.grade in ('2', '*') and c.input = 'clinker_share_pct'
        ), 0) as grade2_correction,
        coalesce(sum(c.coefficient * (p.clinker_share_pct - c.reference_value)) filter (
            where c.grade in ('3', '*') and c.input = 'clinker_share_pct'
        ), 0) as grade3_correction,
        string_agg(distinct c.correction, ', ') filter (
            where c.computed_by_platform and c.input = 'clinker_share_pct' and p.clinker_share_pct is not null
        ) as corrections_applied,
        string_agg(distinct c.correction, ', ') filter (
            where not c.computed_by_platform or (c.input = 'clinker_share_pct' and p.clinker_share_pct is null)
        ) as corrections_missing
    from products as p
    inner join {{ ref('limit_corrections') }} as c
        on c.standard = p.standard and c.edition = p.edition and c.product_code = p.product_code
    group by 1, 2, 3
),

judged as (
    select
        p.*,
        l.base_grade1, l.base_grade2, l.base_grade3, l.limit_confidence,
        l.base_grade1 + coalesce(c.grade1_correction, 0) as limit_value_grade1,
        l.base_grade2 + coalesce(c.grade2_correction, 0) as limit_value_grade2,
        l.base_grade3 + coalesce(c.grade3_correction, 0) as limit_value_grade3,
        c.corrections_applied,
        c.corrections_missing
    from products as p
    left join limits as l
        on
            l.product_code = p.product_code and l.standard = p.standard and l.edition = p.edition
            and l.unit = p.indicator_unit
    left join corrections as c
        on c.enterprise_id = p.enterprise_id and c.month = p.month and c.product_code = p.product_code
)

select
    enterprise_id,
    month,
    product_code,
    output_quantity,
    output_unit,
    energy_tce_equivalent,
    unit_product_energy,
    indicator_unit,
    case when standard is not null then standard || '-' || edition end as standard,
    edition,
    case
        when standard is null or not values_known or unit_product_energy is null then null
        when unit_product_energy <= limit_value_grade1 then '1'
        when unit_product_energy <= limit_value_grade2 then '2'
        when unit_product_energy <= limit_value_grade3 then '3'
        else 'above_limit'
    end as limit_grade_reached,
    limit_value_grade3,
    coalesce(values_known and unit_product_energy > limit_value_grade3, false) as is_possible_breach,
    case
        when output_unit_error is not null then 'output_unit_unknown'
        when energy_basis = 'not_attributable' then 'energy_not_attributable'
        when unit_product_energy is null then 'no_output'
        when standard is null then 'no_standard_in_force'
        when not values_known then 'edition_values_unknown'
        else 'graded'
    end as limit_status,
    case
        when output_unit_error is not null then 'production ' || output_unit_error || ': output not summed'
        when energy_basis = 'not_attributable'
            then
                case
                    when boundary = 'process'
                        then
                            'a process (工序) product is judged only on meters of its scope '
                            || coalesce(process_scope, '(none)') || '; none in this month'
                    else
                        'several products reported and no meters in scope ' || coalesce(process_scope, '(none)')
                        || ': the plant''s energy is not allocated between products (GB/T 2589-2020)'
                end
        when unit_product_energy is null then 'no output in the month'
        when standard is null then 'no limit standard in force for this product in this month'
        when not values_known
            then
                standard || '-' || edition || ' is in force this month but its limit values are '
                || 'not in the reference data (not found in public sources): no grade can be given'
        else 'graded by ' || standard || '-' || edition || case
            when corrections_missing is not null
                then ' (corrections not applied: ' || corrections_missing || '; above grade 3 = possible breach)'
            else ''
        end
    end as limit_status_note,
    energy_basis,
    boundary,
    process_scope,
    energy_scopes,
    energy_scope,
    energy_tce,
    electricity_basis,
    working_media_tce,
    working_media_coefficients_of,
    produced_or_recovered_tce,
    clinker_share_pct,
    base_grade1 as limit_base_grade1,
    base_grade2 as limit_base_grade2,
    base_grade3 as limit_base_grade3,
    limit_value_grade1,
    limit_value_grade2,
    limit_confidence,
    corrections_applied,
    corrections_missing
from judged

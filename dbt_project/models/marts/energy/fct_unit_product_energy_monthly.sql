-- 单位产品综合能耗 per enterprise, product and month, with the limit grade reached under the
-- standard in force that month. Products without a scope are judged on the whole plant's 综合能耗,
-- products with a process scope on that process's energy. Limits are base values (correction terms
-- not applied): above grade 3 is a possible breach, not a proven one.
with output as (
    select enterprise_id, month, product_code, scope, sum(quantity) as output_quantity, max(unit) as output_unit
    from {{ ref('stg_raw__production') }}
    group by 1, 2, 3, 4
),

energy as (
    select
        o.*,
        case
            when o.scope is null then m.comprehensive_tce_equivalent
            else (
                select sum(p.tce_equivalent) from {{ ref('fct_process_monthly') }} as p
                where p.enterprise_id = o.enterprise_id and p.month = o.month and p.process_code = o.scope
            )
        end as energy_tce_equivalent
    from output as o
    left join {{ ref('fct_enterprise_monthly') }} as m using (enterprise_id, month)
),

limits as (
    select
        product_code, standard, edition, effective_from, effective_to, unit,
        max(limit_value) filter (where grade = '1') as grade1,
        max(limit_value) filter (where grade = '2') as grade2,
        max(limit_value) filter (where grade = '3') as grade3
    from {{ ref('limit_standards') }}
    where indicator = 'unit_product_energy' and unit = 'kgce/t'
    group by 1, 2, 3, 4, 5, 6
),

judged as (
    select
        e.*,
        e.energy_tce_equivalent * 1000.0 / nullif(e.output_quantity, 0) as unit_product_energy,
        l.standard,
        l.edition,
        l.grade1, l.grade2, l.grade3
    from energy as e
    left join limits as l
        on
            l.product_code = e.product_code
            and e.month >= l.effective_from
            and (l.effective_to is null or e.month < l.effective_to)
)

select
    enterprise_id,
    month,
    product_code,
    output_quantity,
    output_unit,
    energy_tce_equivalent,
    unit_product_energy,
    'kgce/t' as indicator_unit,
    case when standard is not null then standard || '-' || edition end as standard,
    edition,
    case
        when standard is null or unit_product_energy is null then null
        when unit_product_energy <= grade1 then '1'
        when unit_product_energy <= grade2 then '2'
        when unit_product_energy <= grade3 then '3'
        else 'above_limit'
    end as limit_grade_reached,
    grade3 as limit_value_grade3,
    coalesce(standard is not null and unit_product_energy > grade3, false) as is_possible_breach
from judged

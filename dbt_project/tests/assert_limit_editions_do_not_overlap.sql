-- Reference data: two editions of a product's limit standard are never in force in the same month,
-- and an edition with values_known has a value for every grade (warehouse logic: error).
{{ config(severity='error') }}
select
    a.product_code,
    a.indicator,
    a.standard || '-' || a.edition as edition_a,
    b.standard || '-' || b.edition as edition_b
from {{ ref('limit_standards') }} as a
inner join {{ ref('limit_standards') }} as b
    on
        a.product_code = b.product_code and a.indicator = b.indicator and a.unit = b.unit and a.grade = b.grade
        and (a.standard, a.edition) < (b.standard, b.edition)
        and a.effective_from < coalesce(b.effective_to, 'infinity'::date)
        and b.effective_from < coalesce(a.effective_to, 'infinity'::date)
union all
select
    product_code,
    indicator,
    standard || '-' || edition as edition_a,
    'values_known without limit_value' as edition_b
from {{ ref('limit_standards') }}
where values_known and limit_value is null

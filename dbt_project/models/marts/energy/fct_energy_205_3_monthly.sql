-- The energy statistics form 205-3 (单位产品能耗) per enterprise, product and month: output and unit-product
-- energy in each limit standard's own indicator unit (seed products.indicator_unit: kgce/t, gce/kWh for
-- 供电煤耗), on the product's boundary (fct_unit_product_energy_monthly: process or product boundary,
-- the standard's electricity basis and working media). Rows without attributable energy keep their output
-- and say why (limit_status).
select
    u.enterprise_id::text as enterprise_id,
    u.month::date as month,
    u.product_code::text as product_code,
    p.name_zh::text as product_name_zh,
    u.output_quantity::numeric as output_quantity,
    u.output_unit::text as output_unit,
    u.energy_tce::numeric as energy_tce,
    u.unit_product_energy::numeric as unit_product_energy,
    u.indicator_unit::text as indicator_unit,
    u.electricity_basis::text as electricity_basis,
    u.standard::text as standard,
    u.limit_grade_reached::text as limit_grade_reached,
    u.limit_status::text as limit_status
from {{ ref('fct_unit_product_energy_monthly') }} as u
inner join {{ ref('products') }} as p using (product_code)

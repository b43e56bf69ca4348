-- The energy on each product's boundary per enterprise and month (单位产品综合能耗's numerator), by the rules
-- of GB/T 2589-2020 and of the standard that judges the product that month (seed limit_standards):
--
-- Boundary (seed products.boundary, production.scope overriding products.process_scope):
--   whole_plant    a `product`-boundary product that the enterprise reports alone, or only with products
--                  it embodies (cement with its clinker, crude steel with sinter, hot metal, converter
--                  steel): the plant's statistical 综合能耗 (all its auxiliary and ancillary systems serve
--                  that product), plus the working media received across the boundary.
--   process        the product's process scope has meters: their net energy (consumed − supplied −
--                  produced/recovered, fct_process_monthly) plus the working media consumed there.
--                  A `process`-boundary product (steel 工序, GB 21256) is only ever judged this way.
--   process_chain  the same, adding the process scopes of the reported products it embodies (cement =
--                  its clinker's kiln + its own grinding stage, all clinker of the month taken as used).
--   not_attributable  none of the above: several products share the plant and this one has no process
--                  meters; GB/T 2589-2020 (单位产品综合能耗, several products) needs per-product metering or
--                  an allocation basis, so no product is ever given the whole plant's energy.
-- Unmetered auxiliary energy is not allocated to process products: scope its meters to the process.
--
-- Energy basis: 当量值, or 等价值 where the standard says so (limit_standards.electricity_basis; every
-- seeded kgce/t standard uses 当量值). energy_scope `fuel` (供电煤耗, GB 21258): the fuels burned only.
-- Working media (耗能工质) count where the standard counts them (limit_standards.counts_working_media),
-- valued with the standard's own coefficient, else GB/T 2589-2020 Appendix B (seed working_media_coefficients).
with production as (
    select
        p.enterprise_id,
        p.month,
        p.product_code,
        sum(p.quantity) as output_quantity,
        max(pr.unit) as output_unit,
        string_agg(distinct p.unit_error, '; ') as output_unit_error,
        coalesce(max(p.scope), max(pr.process_scope)) as process_scope
    from {{ ref('stg_raw__production') }} as p
    inner join {{ ref('products') }} as pr using (product_code)
    group by 1, 2, 3
),

editions as (
    select
        product_code, standard, edition, effective_from, effective_to, unit,
        bool_and(values_known) as values_known,
        bool_or(counts_working_media) as counts_working_media,
        max(electricity_basis) as electricity_basis
    from {{ ref('limit_standards') }}
    where indicator = 'unit_product_energy'
    group by 1, 2, 3, 4, 5, 6
),

products_in_force as (
    select
        o.*,
        pr.boundary,
        pr.embodies,
        pr.indicator_unit,
        pr.energy_scope,
        e.standard,
        e.edition,
        e.values_known,
        -- a product without a limit standard (crude steel) follows GB/T 2589-2020 itself
        coalesce(e.counts_working_media, pr.energy_scope = 'comprehensive') as counts_working_media,
        coalesce(e.electricity_basis, 'equivalent') as electricity_basis,
        coalesce(e.standard, 'GB/T 2589') as media_standard,
        coalesce(e.edition, '2020') as media_edition,
        not exists (
            select 1 from production as other
            where
                other.enterprise_id = o.enterprise_id and other.month = o.month
                and other.product_code <> o.product_code
                and not (other.product_code = any(string_to_array(coalesce(pr.embodies, ''), ';')))
        ) as reported_alone,
        array(
            select coalesce(other.process_scope, '')
            from production as other
            where
                other.enterprise_id = o.enterprise_id and other.month = o.month
                and other.product_code = any(string_to_array(coalesce(pr.embodies, ''), ';'))
        ) as embodied_scopes
    from production as o
    inner join {{ ref('products') }} as pr using (product_code)
    left join editions as e
        on
            e.product_code = o.product_code and e.unit = pr.indicator_unit
            and o.month >= e.effective_from and (e.effective_to is null or o.month < e.effective_to)
),

media_coefficients as (
    select
        p.enterprise_id, p.month, p.product_code, et.energy_code,
        coalesce(own.coefficient_kgce_per_unit, dflt.coefficient_kgce_per_unit) as coefficient
    from products_in_force as p
    cross join {{ ref('energy_types') }} as et
    left join {{ ref('working_media_coefficients') }} as own
        on own.standard = p.media_standard and own.edition = p.media_edition and own.energy_code = et.energy_code
    left join {{ ref('working_media_coefficients') }} as dflt
        on dflt.standard = 'GB/T 2589' and dflt.edition = '2020' and dflt.energy_code = et.energy_code
    where et.is_working_medium and p.counts_working_media
),

bounded as (
    select
        p.*,
        case
            when p.output_unit_error is not null then 'output_unit_unknown'
            when p.boundary = 'product' and p.reported_alone then 'whole_plant'
            when exists (
                select 1 from {{ ref('fct_process_monthly') }} as f
                where f.enterprise_id = p.enterprise_id and f.month = p.month and f.process_code = p.process_scope
            ) then case when cardinality(p.embodied_scopes) > 0 then 'process_chain' else 'process' end
            else 'not_attributable'
        end as energy_basis,
        array_remove(coalesce(p.process_scope, '') || p.embodied_scopes, '') as scopes
    from products_in_force as p
),

valued as (
    select
        b.*,
        case b.energy_basis
            when 'whole_plant'
                then
                    case when b.energy_scope = 'fuel' then plant.fuel else m.comprehensive_tce_equivalent end
            when 'process' then proc.energy_equivalent
            when 'process_chain' then proc.energy_equivalent
        end as energy_equivalent_tce,
        case b.energy_basis
            when 'whole_plant'
                then
                    case when b.energy_scope = 'fuel' then plant.fuel else m.comprehensive_tce_equal_value end
            when 'process' then proc.energy_equal_value
            when 'process_chain' then proc.energy_equal_value
        end as energy_equal_value_tce,
        case
            when b.energy_scope = 'fuel' or not b.counts_working_media then 0
            when b.energy_basis = 'whole_plant' then plant.media
            when b.energy_basis in ('process', 'process_chain') then proc.media
        end as working_media_tce,
        case b.energy_basis
            when 'whole_plant' then coalesce(m.recovered_tce_equivalent, 0) + coalesce(m.produced_tce_equivalent, 0)
            when 'process' then proc.recovered
            when 'process_chain' then proc.recovered
        end as produced_or_recovered_tce
    from bounded as b
    left join {{ ref('fct_enterprise_monthly') }} as m using (enterprise_id, month)
    left join lateral (
        select
            coalesce(sum(f.tce_equivalent) filter (where et.is_fuel), 0) as fuel,
            coalesce(sum(f.quantity * c.coefficient) filter (where et.is_working_medium), 0) / 1000.0 as media
        from {{ ref('fct_enterprise_energy_monthly') }} as f
        inner join {{ ref('energy_types') }} as et using (energy_code)
        left join media_coefficients as c
            on
                c.enterprise_id = b.enterprise_id and c.month = b.month and c.product_code = b.product_code
                and c.energy_code = f.energy_code
        where f.enterprise_id = b.enterprise_id and f.month = b.month and b.energy_basis = 'whole_plant'
    ) as plant on true
    left join lateral (
        select
            case
                when b.energy_scope = 'fuel' then coalesce(sum(f.tce_equivalent_consumed) filter (where f.is_fuel), 0)
                else coalesce(sum(f.tce_equivalent) filter (where not f.is_working_medium), 0)
            end as energy_equivalent,
            case
                when b.energy_scope = 'fuel' then coalesce(sum(f.tce_equivalent_consumed) filter (where f.is_fuel), 0)
                else coalesce(sum(f.tce_equal_value) filter (where not f.is_working_medium), 0)
            end as energy_equal_value,
            coalesce(sum(f.quantity * c.coefficient) filter (where f.is_working_medium), 0) / 1000.0 as media,
            coalesce(sum(f.tce_equivalent_produced_or_recovered) filter (where not f.is_working_medium), 0)
                as recovered
        from {{ ref('fct_process_monthly') }} as f
        left join media_coefficients as c
            on
                c.enterprise_id = b.enterprise_id and c.month = b.month and c.product_code = b.product_code
                and c.energy_code = f.energy_code
        where
            f.enterprise_id = b.enterprise_id and f.month = b.month and f.process_code = any(b.scopes)
            and b.energy_basis in ('process', 'process_chain')
    ) as proc on true
)

select
    enterprise_id,
    month,
    product_code,
    output_quantity,
    output_unit,
    output_unit_error,
    process_scope,
    scopes as energy_scopes,
    boundary,
    energy_basis,
    energy_scope,
    indicator_unit,
    standard,
    edition,
    values_known,
    electricity_basis,
    counts_working_media,
    case
        when not counts_working_media or energy_scope = 'fuel' then null
        when exists (
            select 1 from {{ ref('working_media_coefficients') }} as w
            where w.standard = valued.media_standard and w.edition = valued.media_edition
        ) then media_standard || '-' || media_edition
        else 'GB/T 2589-2020'
    end as working_media_coefficients_of,
    working_media_tce,
    produced_or_recovered_tce,
    -- energy on the product's boundary at 当量值 (working media included where counted), and in the basis
    -- of the standard (当量值 or 等价值)
    energy_equivalent_tce + working_media_tce as energy_tce_equivalent,
    case when electricity_basis = 'equal_value' then energy_equal_value_tce else energy_equivalent_tce end
    + working_media_tce as energy_tce
from valued

-- Enterprises with their pilot region (longest match of the region seed's prefixes) and industry division.
with pilot as (
    select
        e.enterprise_id,
        r.pilot_region_code,
        row_number() over (partition by e.enterprise_id order by length(r.match_prefix) desc) as match_rank
    from {{ ref('stg_raw__enterprises') }} as e
    inner join {{ ref('regions') }} as r on e.registered_region_code like r.match_prefix || '%'
)

select
    e.enterprise_id,
    e.name,
    e.registered_region_code,
    p.pilot_region_code as region_code,
    e.industry_code,
    e.registered_industry_code,
    i.name_zh as industry_name_zh,
    coalesce(g.industry_code is not null, false) as is_energy_intensive,
    e.has_energy_centre,
    e.declared_tce,
    e.annual_target_tce,
    e.connected_since
from {{ ref('stg_raw__enterprises') }} as e
left join pilot as p on p.enterprise_id = e.enterprise_id and p.match_rank = 1
left join {{ ref('industries') }} as i on i.industry_code = e.industry_code
left join {{ ref('industry_groupings') }} as g on g.industry_code = e.industry_code and g.is_default

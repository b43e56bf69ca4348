select
    i.industry_code,
    i.name_zh,
    i.section,
    exists(
        select 1 from {{ ref('industry_groupings') }} as g
        where g.industry_code = i.industry_code and g.is_default
    ) as is_energy_intensive
from {{ ref('industries') }} as i

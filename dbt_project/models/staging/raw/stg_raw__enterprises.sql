-- Enterprise registry: latest row per enterprise (later batch wins), industry rolled up to the division.
with ranked as (
    select
        e.*,
        row_number() over (partition by e.enterprise_id order by e.batch_id desc, e.row_number desc) as version_rank
    from {{ source('raw', 'enterprises') }} as e
)

select
    enterprise_id,
    name,
    region_code as registered_region_code,
    industry_code as registered_industry_code,
    left(industry_code, 3) as industry_code,
    coalesce(has_energy_centre, false) as has_energy_centre,
    declared_tce,
    annual_target_tce,
    connected_since,
    batch_id
from ranked
where version_rank = 1

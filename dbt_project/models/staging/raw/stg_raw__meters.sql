-- Current metadata per meter (the latest version), plus when the current physical meter was installed.
select *
from {{ ref('stg_raw__meter_versions') }}
where is_current

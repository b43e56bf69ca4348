select region_code, name_zh, name_en, level
from {{ ref('regions') }}
where region_code = pilot_region_code

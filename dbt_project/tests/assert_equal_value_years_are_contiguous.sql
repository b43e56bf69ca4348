-- Reference data: the 等价值 parameter rows of an energy type follow each other without gap or overlap
-- (each valid_to is the next valid_from), so every day up to the last valid_to has exactly one value.
{{ config(severity='error') }}
select energy_code, valid_from, valid_to, next_from
from (
    select
        energy_code, valid_from, valid_to,
        lead(valid_from) over (partition by energy_code order by valid_from) as next_from
    from {{ ref('equal_value_parameters') }}
) as r
where valid_to <= valid_from or (next_from is not null and next_from <> valid_to)

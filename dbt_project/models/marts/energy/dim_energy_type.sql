select
    energy_code, name_zh, name_en, category, canonical_unit, coefficient_kgce_per_unit, printed_coefficient,
    printed_unit, is_working_medium, counts_toward_comprehensive, source, edition, confidence, note,
    is_fuel, clause, verified_in
from {{ ref('energy_types') }}

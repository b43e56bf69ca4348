{# The sum of a column over a group, or null when any row of the group has none: a total over enterprises
   of which one misses a figure (e.g. a CO2 emission factor) would understate, so it is missing, never a
   smaller number. #}
{% macro sum_when_complete(column) -%}
    case when bool_and({{ column }} is not null) then sum({{ column }}) end
{%- endmacro %}

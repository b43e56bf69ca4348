{# The dbt folder's schema is the warehouse schema: `marts`, not `<target>_marts`. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}

{# Day and month of a timestamptz in the platform's time zone (Asia/Shanghai), as SQL dates. #}
{% macro local_date(ts) -%}
    (({{ ts }}) at time zone '{{ var("timezone") }}')::date
{%- endmacro %}

{% macro local_month(ts) -%}
    date_trunc('month', ({{ ts }}) at time zone '{{ var("timezone") }}')::date
{%- endmacro %}

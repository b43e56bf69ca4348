{# None of the columns holds a null. One test per model instead of one `not_null` per column: the table is read
   once, and a failing row names the column and how many of its rows are null. (Each dbt node costs ~30-40 ms of
   Python in every build whatever its SQL; 95 `not_null` nodes were 95 of the project's 218 tests.) #}
{% test not_null_columns(model, columns) %}
with null_rows as (
    select
    {%- for column in columns %}
        count(*) filter (where {{ adapter.quote(column) }} is null) as null_rows_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)

select checked.null_column, checked.null_rows
from null_rows
cross join lateral (values
    {%- for column in columns %}
    ({{ dbt.string_literal(column) }}, null_rows.null_rows_{{ loop.index }}){{ "," if not loop.last }}
    {%- endfor %}
) as checked (null_column, null_rows)
where checked.null_rows > 0
{% endtest %}

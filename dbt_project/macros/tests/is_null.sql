{# Every value is null: the column names a problem that should not exist (e.g. a unit that did not convert). #}
{% test is_null(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
{% endtest %}

{#
  The VEE working tables in shards by enterprise, built side by side.

  int_meter_observations and int_meter_intervals are each the union (a view) of var('vee_shards') shard
  tables, models/intermediate/vee_shards/<model>__shard_<n>.sql, one per shard, each the model's whole SQL
  (macros/int_meter_observations.sql, macros/int_meter_intervals.sql) over the meters of its enterprises.
  A meter's readings, observations and intervals all lie in its enterprise's shard, and every rule of the
  two models is per meter (its windows, readings, grid and gaps), with the platform's data watermark read
  from int_meter_cadence over every enterprise: each shard builds exactly the rows the one model built for
  its meters, and the union is the same table (tests/integration/test_incremental_build.py compares).
  Why: the VEE chain runs one model at a time, and a model's SELECT and its insert into the indexed table
  use about one core; the shards of a model are independent dbt nodes, so dbt's two threads build them at
  the same time, and shard n's intervals start as soon as shard n's observations are built.
  The gate stays: int_meter_intervals (the view the meter-days and marts read) is built only after the
  observations' tests (its depends_on), so a failed conservation test still stops everything downstream.

  A shard is a function of the enterprise's 统一社会信用代码 alone, fixed for ever (the first byte of its
  MD5 modulo the number of shards), so an enterprise's rows never move between shards from one build to
  the next. Changing var('vee_shards') means adding or removing shard model files and a full refresh of
  the shard tables.
#}

{# true for the rows of enterprise `column` in shard `shard` (with one shard: every row in shard 0) #}
{% macro vee_in_shard(column, shard) -%}
    {{ vee_shard_of(column) }} = {{ shard }}
{%- endmacro %}

{# the shard of enterprise `column`: the first byte of the MD5 of its 统一社会信用代码, modulo the shards #}
{% macro vee_shard_of(column) -%}
    get_byte(decode(md5({{ column }}), 'hex'), 0) % {{ var('vee_shards') | int }}
{%- endmacro %}

{# The staged readings a VEE shard reads: the shard table of stg_raw__readings of the same enterprises #}
{% macro vee_staged_readings(shard) -%}
    {{ ref('stg_raw__readings__shard_' ~ shard) }}
{%- endmacro %}

{# the union of a model's shard tables: what the view `model` is #}
{% macro vee_shard_union(model) -%}
    {%- for shard in range(var('vee_shards') | int) %}
    {% if not loop.first %}union all
    {% endif %}select * from {{ ref(model ~ '__shard_' ~ shard) }}
    {%- endfor %}
{%- endmacro %}

{# The planner's statistics of the shard expression on int_meter_cadence (its post_hook), where every VEE
   shard filter applies: with them it knows a shard holds about 1/n of the meters. Without them it took a
   filter by an expression for 0.5 % of the rows, planned the demo's first build of the observations as
   nested loops over a few meters, and took 41 s where the whole table took seconds. #}
{% macro vee_shard_statistics(relation) -%}
    {%- if var('vee_shards') | int > 1 -%}
    -- once per table: a full refresh's new table gets its own (the name carries the table's oid, as the one
    -- being replaced still holds its own when the hook runs)
    do $$
    begin
        if not exists (
            select 1 from pg_statistic_ext
            where stxrelid = '{{ relation }}'::regclass and stxname like '%vee_shard_{{ var('vee_shards') | int }}'
        ) then
            execute format(
                'create statistics {{ relation.schema }}.%I on (%s) from {{ relation }}',
                '{{ relation.identifier }}_' || '{{ relation }}'::regclass::oid || '_vee_shard_{{ var('vee_shards') | int }}',
                $expr${{ vee_shard_of('enterprise_id') }}$expr$
            );
        end if;
    end
    $$
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{# The dbt config of a VEE shard table (both models): incremental by meter time window (macros/incremental_vee.sql:
   window_replace), UNLOGGED, its key's and its state's indexes, analysed after every build; `post_hook`: the
   model's own hooks after these. #}
{% macro vee_shard_config(post_hook=[]) %}
{{
    config(
        materialized='incremental',
        unlogged=True,
        incremental_strategy='window_replace',
        window_column='interval_start',
        indexes=[
            {'columns': ['enterprise_id', 'meter_id', 'interval_start']},
            {'columns': ['built_through_batch']},
        ],
        post_hook=["analyze {{ this }}", "{{ align_indexes(this) }}", "{{ align_table_storage(this) }}"] + post_hook,
    )
}}
{% endmacro %}

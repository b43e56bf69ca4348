{#
  Incremental VEE: a build recomputes only the meter time spans that new load batches can
  have changed, so a batch costs about its own size whatever periods it covers.

  State: every row of an incremental VEE model carries `built_through_batch`, the highest load batch
  staged when the row was built; the model's state is the highest value in it. A build that fails
  half-way leaves the state where it was, and the next build recomputes from there (the window
  replacement is idempotent), so nothing is ever skipped.
#}

{#
  Batch ids are given out when a load starts, so batch b can commit after batch b + 1. A model that
  reads raw by `batch_id > state` first waits for the loads in flight (they hold a shared advisory
  lock for their transaction: ingestion.schema.hold_batch_in_flight) and keeps new ones waiting until
  it commits, so no batch can commit behind its state and be skipped.
#}
{% macro wait_for_batches_in_flight() -%}
    select pg_advisory_xact_lock(hashtext('iem.batches_in_flight'))
{%- endmacro %}

{#
  The incremental VEE models analyse themselves after every build (post_hook): the next model is
  planned against fresh statistics. Without them, PostgreSQL 18 (the embedded server) planned the
  first interval build over a never-analysed observations table into a run of many minutes.
#}

{# The load batch this build goes through: the latest batch that reached staging, readings (the batch
   stg_raw__readings was last built through) or meter registry. A registry batch counts: a meters-only change (a corrected CT ratio) rebuilds its meters
   here, and the rows it rebuilt must carry a batch the downstream incremental models have not seen, or
   the meter-days and the marts would keep the old figures until some unrelated readings arrive. #}
{% macro vee_current_batch() -%}
    (select greatest(
        (select coalesce(max(built_through_batch), 0) from {{ ref('stg_raw__readings') }}),
        (select coalesce(max(batch_id), 0) from {{ ref('stg_raw__meter_versions') }})
    ))
{%- endmacro %}

{# The state of an incremental model: the batch it was last built through (0 when empty). Read when the
   model is compiled, just before it runs, and written into the SQL as a number, so the planner sees
   how selective `batch_id > state` is and uses the index. #}
{% macro vee_built_through(relation, column='built_through_batch') -%}
    {%- if execute -%}
        {%- set result = run_query('select coalesce(max(' ~ column ~ '), 0) from ' ~ relation) -%}
        {{- result.columns[0].values()[0] | int -}}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}

{#
  Data watermarks, per enterprise: how far a meter's interval grid reaches and what time-relative rules
  (silent feed, calibration) judge against in batch runs. An enterprise's watermark is the later of its
  own latest period_end and the platform's; the platform's is the upper median of the enterprises' own
  latest period_ends (the latest time at least half of them have reached), so one enterprise's far-off
  reading moves only its own grids and alerts, never the others' (with three enterprises or more; with
  two, the later one), while an enterprise that fell silent is still judged against the others' time.
  Read from int_meter_cadence (one row per meter), never from the readings themselves.
#}
{% macro vee_platform_watermark() -%}
    (select percentile_disc(0.5) within group (order by e.enterprise_latest desc)
     from (select enterprise_id, max(last_period_end) as enterprise_latest
           from {{ ref('int_meter_cadence') }} group by 1) as e)
{%- endmacro %}

{# (enterprise_id, data_watermark) for every enterprise with readings. #}
{% macro vee_enterprise_watermarks() -%}
    select enterprise_id, greatest(max(last_period_end), {{ vee_platform_watermark() }}) as data_watermark
    from {{ ref('int_meter_cadence') }}
    group by 1
{%- endmacro %}

{# The as-of time of what belongs to no enterprise with readings: var('as_of') when given (the running
   platform passes the wall clock), else the platform's data watermark. #}
{% macro vee_platform_as_of() -%}
    {%- set as_of = var('as_of', none) -%}
    {%- if as_of -%}'{{ as_of }}'::timestamptz{%- else -%}{{ vee_platform_watermark() }}{%- endif -%}
{%- endmacro %}

{# (enterprise_id, as_of) for every enterprise with meters: var('as_of') when given, else the
   enterprise's data watermark (the platform's for an enterprise without readings). #}
{% macro vee_as_of_by_enterprise() -%}
    select
        m.enterprise_id,
        {% if var('as_of', none) %}{{ vee_platform_as_of() }}{% else %}coalesce(w.data_watermark, {{ vee_platform_as_of() }}){% endif %} as as_of
    from (select distinct enterprise_id from {{ ref('stg_raw__meters') }}) as m
    left join ({{ vee_enterprise_watermarks() }}) as w using (enterprise_id)
{%- endmacro %}

{#
  Per meter, the spans [span_start, span_end) of interval_start whose observations the readings staged
  after `since_batch` can have changed (the staged rows built through a later batch: every key a new
  batch touched, also one whose earlier version still wins). Changed readings are grouped into islands (a new island where
  they are more than a day apart, so a batch of old history plus today's readings are two small spans,
  not years), widened to the previous reading's end (a register's step into the island starts there;
  an end-only interval reading's period may) and to the next reading's end (the step or period out of
  the island starts at a changed reading; an overlap with it is judged again). A meter whose
  metadata changed (reading type, multiplier, register or rated maximum, installation, unit) is
  rebuilt whole. The spans of one shard's meters (`shard`, macros/vee_shards.sql).
#}
{% macro vee_changed_spans(since_batch, shard) %}
    with changed as (
        -- per meter and day bucket (UTC days since the epoch): the readings of one bucket are less than a day
        -- apart, so they always fall in one island, and the gaps between buckets are the gaps between their
        -- readings; the islands are found over the buckets (tens of thousands on a pilot day) instead of the
        -- readings (1.4 M: two window passes and a sort of every changed reading, 4 s, twice per build)
        select
            enterprise_id, meter_id,
            min(coalesce(period_start, period_end)) as reading_start, min(period_end) as first_end, max(period_end) as last_end
        from {{ vee_staged_readings(shard) }}
        where built_through_batch > {{ since_batch }}
        group by enterprise_id, meter_id, floor(extract(epoch from period_end) / 86400)
    ),

    marked as (
        select
            *,
            case when first_end - lag(last_end) over w <= interval '1 day' then 0 else 1 end as starts_island
        from changed
        window w as (partition by enterprise_id, meter_id order by first_end)
    ),

    islands as (
        select
            enterprise_id, meter_id,
            min(reading_start) as first_start, min(first_end) as first_end, max(last_end) as last_end
        from (
            select *, sum(starts_island) over (partition by enterprise_id, meter_id order by first_end) as island
            from marked
        ) as x
        group by enterprise_id, meter_id, island
    )

    select
        i.enterprise_id, i.meter_id,
        case when m.reading_type = 'register' then coalesce(p.previous_end, i.first_end)
             else least(i.first_start, p.previous_end, i.first_end - c.cadence) end as span_start,
        coalesce(n.next_end, i.last_end) as span_end
    from islands as i
    inner join {{ ref('stg_raw__meters') }} as m using (enterprise_id, meter_id)
    -- the shard's meters; a meter with no cadence yet has no grid, and the VEE models drop its spans anyway
    inner join {{ ref('int_meter_cadence') }} as c
        on c.enterprise_id = i.enterprise_id and c.meter_id = i.meter_id and {{ vee_in_shard('c.enterprise_id', shard) }}
    left join lateral (
        select max(r.period_end) as previous_end
        from {{ vee_staged_readings(shard) }} as r
        where r.enterprise_id = i.enterprise_id and r.meter_id = i.meter_id and r.period_end < i.first_end
    ) as p on true
    left join lateral (
        -- a register's steps up to var('register_high_water_readings') readings on look back into the island
        select max(x.period_end) as next_end
        from (
            select r.period_end
            from {{ vee_staged_readings(shard) }} as r
            where r.enterprise_id = i.enterprise_id and r.meter_id = i.meter_id and r.period_end > i.last_end
            order by r.period_end
            limit case when m.reading_type = 'register' then {{ var('register_high_water_readings') }} else 1 end
        ) as x
    ) as n on true

    union all

    select enterprise_id, meter_id, '-infinity'::timestamptz, 'infinity'::timestamptz
    from ({{ vee_meters_with_changed_metadata(since_batch) }}) as changed_meters
{% endmacro %}

{# Meters whose VEE metadata (reading type, multiplier, register or rated maximum, installation, unit
   factor) differs in a version loaded after `since_batch` from the version before it (new meters too). #}
{% macro vee_meters_with_changed_metadata(since_batch) %}
    select distinct enterprise_id, meter_id
    from (
        select
            enterprise_id, meter_id, batch_id,
            row(reading_type, multiplier, register_max, rated_max, installed_at, unit_factor)::text as vee_attributes,
            lag(row(reading_type, multiplier, register_max, rated_max, installed_at, unit_factor)::text)
                over (partition by enterprise_id, meter_id order by batch_id, row_number) as previous_attributes
        from {{ ref('stg_raw__meter_versions') }}
    ) as versions
    where batch_id > {{ since_batch }} and previous_attributes is distinct from vee_attributes
{% endmacro %}

{#
  Custom incremental strategy: the model's incremental SQL returns, with every row, the window
  [window_start, window_end) of `window_column` it rebuilt for its meter. Every row of the target in
  those windows is replaced (also rows that no longer exist), in the build's transaction. Rows carry
  the window only in the temporary relation; the target keeps its own columns.
#}
{% macro get_incremental_window_replace_sql(arg_dict) %}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set column = config.require('window_column') -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    analyze {{ source }};

    delete from {{ target }} as t
    using (select distinct enterprise_id, meter_id, window_start, window_end from {{ source }}) as w
    where t.enterprise_id = w.enterprise_id and t.meter_id = w.meter_id
      and t.{{ column }} >= w.window_start and t.{{ column }} < w.window_end;

    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }} from {{ source }};
{% endmacro %}

{#
  Data tests on the large incremental models look at the rows of the latest build (a full refresh
  tests them all): a test config `where: "__latest_build__"` becomes that filter.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- if '__latest_build__' in where -%}
            {%- set where = where | replace('__latest_build__',
                'built_through_batch = (select max(built_through_batch) from ' ~ relation ~ ')') -%}
        {%- endif -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#
  A partial index, created once per table (a full refresh builds a new table, which gets its own).
  Postgres names it; the check looks for an index with this predicate on this very table.
#}
{% macro ensure_partial_index(relation, columns, predicate) -%}
do $$
begin
    if not exists (
        select 1 from pg_indexes
        where schemaname = '{{ relation.schema }}' and tablename = '{{ relation.identifier }}'
          and indexdef like '%WHERE {{ predicate }}%'
    ) then
        execute 'create index on {{ relation }} ({{ columns | join(", ") }}) where {{ predicate }}';
    end if;
end
$$
{%- endmacro %}

{#
  The grid a meter's consumption is booked on (int_meter_observations, int_meter_intervals): intervals
  grid_start + k × step. The step is the meter's cadence below 12 hours, else one day, and a daily grid
  starts at local midnight (var('timezone')): a period of a day or longer (a daily reading that drifts a
  few minutes, a 23- or 25-hour day elsewhere, a 27–35-day billing period) is split onto the calendar days
  it covers by time overlap, and a month's figure takes exactly the part of each period in it.
#}
{% macro vee_grid_step(cadence) -%}
    (case when {{ cadence }} >= interval '12 hours' then interval '1 day' else {{ cadence }} end)
{%- endmacro %}

{# Where a meter's grid starts, given its first booked period's start: a daily grid at that day's local midnight. #}
{% macro vee_grid_anchor(first_start, cadence) -%}
    (case when {{ cadence }} >= interval '12 hours'
        then date_trunc('day', {{ first_start }} at time zone '{{ var("timezone") }}') at time zone '{{ var("timezone") }}'
        else {{ first_start }} end)
{%- endmacro %}

{# The grid point at or before `ts` (floor) or at or after it (ceil); ±infinity stays. #}
{% macro vee_grid_floor(ts, grid_start, step) -%}
    case when isfinite({{ ts }}) then {{ grid_start }} + {{ step }}
        * floor(extract(epoch from ({{ ts }} - {{ grid_start }})) / extract(epoch from {{ step }})) else {{ ts }} end
{%- endmacro %}

{% macro vee_grid_ceil(ts, grid_start, step) -%}
    case when isfinite({{ ts }}) then {{ grid_start }} + {{ step }}
        * ceil(extract(epoch from ({{ ts }} - {{ grid_start }})) / extract(epoch from {{ step }})) else {{ ts }} end
{%- endmacro %}

{# Meters whose rows in `relation` no longer sit on their grid (old history moved the grid start off
   the lattice the rows were built on): rebuilt whole. #}
{% macro vee_meters_off_their_grid(relation, cadence_relation) %}
    select c.enterprise_id, c.meter_id, '-infinity'::timestamptz as span_start, 'infinity'::timestamptz as span_end
    from {{ cadence_relation }} as c
    cross join lateral (
        select min(t.interval_start) as first_start
        from {{ relation }} as t
        where t.enterprise_id = c.enterprise_id and t.meter_id = c.meter_id
    ) as t
    where c.cadence is not null and t.first_start is not null
      and mod(extract(epoch from (t.first_start - c.grid_start)), extract(epoch from {{ vee_grid_step('c.cadence') }})) <> 0
{% endmacro %}

{#
  Custom incremental strategy for models replaced by key (stg_raw__readings, int_meter_daily): like dbt's delete+insert,
  but the temporary rows are analysed first and the delete is bounded to the range of `range_column`
  they cover, where the target has an index. A model that knows which of its new rows can replace a row
  already there says so in `replaces_where` (a condition on the temporary rows): only those keys are
  deleted, each through the key's unique index. An INSERT … ON CONFLICT DO UPDATE in place of the delete
  was slower (9.1 s against 5.5 s for a pilot day's 1.4 M staged readings into 7 M). dbt's own delete (`where key in (select distinct key from
  the temporary rows)`), planned on an unanalysed temporary table, hashed the whole target: 25 s of the
  41 s of a pilot day's new readings (1.4 M keys, none of them there before) on 7 M held.
#}
{% macro get_incremental_key_replace_sql(arg_dict) %}
    {%- set target = arg_dict["target_relation"] -%}
    {%- set source = arg_dict["temp_relation"] -%}
    {%- set keys = arg_dict["unique_key"] -%}
    {%- set column = config.require('range_column') -%}
    {%- set dest_cols_csv = get_quoted_csv(arg_dict["dest_columns"] | map(attribute="name")) -%}
    {%- set replaces_where = config.get('replaces_where') -%}
    analyze {{ source }};

    {% if replaces_where -%}
    delete from {{ target }} as t
    using (select {{ keys | join(', ') }} from {{ source }} where {{ replaces_where }}) as s
    where {% for k in keys %}t.{{ k }} = s.{{ k }}{{ " and " if not loop.last }}{% endfor %};
    {%- else -%}
    delete from {{ target }} as t
    using {{ source }} as s
    where {% for k in keys %}t.{{ k }} = s.{{ k }} and {% endfor %}
        t.{{ column }} >= (select min({{ column }}) from {{ source }})
        and t.{{ column }} <= (select max({{ column }}) from {{ source }});
    {%- endif %}

    insert into {{ target }} ({{ dest_cols_csv }})
    select {{ dest_cols_csv }} from {{ source }};
{% endmacro %}

{#
  The model's B-tree indexes made to match its `indexes` config on a table built by an earlier release: dbt
  creates the configured indexes only when it creates the table, so an incremental model whose indexes
  changed (a key index made unique, an index no query uses any more) would keep the old ones until a full
  refresh. Run as a post_hook: every configured index that is missing is created (a unique one fails the
  build, naming the duplicated key, if the table holds a duplicate), and every B-tree index without a
  predicate that matches no configured index is dropped (partial indexes, ensure_partial_index, are left
  alone). On a table dbt has just created, it finds everything in place and changes nothing.
#}
{% macro align_indexes(relation) -%}
    {%- set wanted = [] -%}
    {%- for ix in config.get('indexes', []) -%}
        {%- do wanted.append(('unique' if ix.get('unique') else 'plain') ~ '|' ~ (ix['columns'] | join(', '))) -%}
    {%- endfor -%}
do $$
declare
    ix record;
begin
    for ix in
        select indexname, (case when indexdef like 'CREATE UNIQUE %' then 'unique' else 'plain' end)
                   || '|' || substring(indexdef from 'USING btree \((.*)\)$') as shape
        from pg_indexes
        where schemaname = '{{ relation.schema }}' and tablename = '{{ relation.identifier }}'
          and indexdef like '% USING btree (%' and indexdef not like '% WHERE %'
    loop
        if not ix.shape = any (array[{% for w in wanted %}'{{ w }}'{{ ", " if not loop.last }}{% endfor %}]::text[]) then
            execute format('drop index %I.%I', '{{ relation.schema }}', ix.indexname);
        end if;
    end loop;
    {%- for w in wanted %}
    if not exists (
        select 1 from pg_indexes
        where schemaname = '{{ relation.schema }}' and tablename = '{{ relation.identifier }}'
          and indexdef like '% USING btree (%' and indexdef not like '% WHERE %'
          and (case when indexdef like 'CREATE UNIQUE %' then 'unique' else 'plain' end)
              || '|' || substring(indexdef from 'USING btree \((.*)\)$') = '{{ w }}'
    ) then
        execute 'create {{ "unique " if w.startswith("unique|") }}index on {{ relation }} ({{ w.split("|")[1] }})';
    end if;
    {%- endfor %}
end
$$
{%- endmacro %}

{#
  The VEE working tables (stg_raw__readings, int_meter_observations, int_meter_intervals, int_meter_daily;
  config `unlogged=True` in each) hold nothing that raw.readings and the registries do not: they are
  UNLOGGED, so their writes skip the write-ahead log. A pilot day's build wrote 3.0 GB of WAL, almost all
  of it these four tables, and the checkpoints it forced every few seconds slowed every other write as well
  (benchmarks/pilot_region.py, one run each on a noisy machine: the day 92.7 s logged, 77.9 s unlogged; a
  15-minute round 17.3 s and 13.5 s; the WAL of the day, 3,057 MB and 28 MB).
  What that costs: after a server crash PostgreSQL empties an unlogged table, and the next build finds it
  empty, reads its state as batch 0 (vee_built_through) and rebuilds it from raw.readings, as a first
  build does (tests/integration/test_incremental_build.py: test_a_crash_empties_the_working_tables_and_the_next_build_restores_them);
  a streaming replica has no rows in them (the analysts' marts stay logged and replicated).
  Autovacuum (var('working_table_autovacuum')) neither analyses them (each build does, post_hook) nor vacuums
  them for inserts (work on the 2 cores the next build needs; the builds analyse them themselves). It still
  vacuums the rows a window or key replacement deletes. Before this, dbt's COMMENT after the insert took
  exactly 1.0 s three times in one pilot benchmark (twice in a round); after it, no round showed such a
  wait. 1 s is deadlock_timeout, so a lock wait ended by cancelling an autovacuum is the likely cause, but
  the server log showed no cancelled autovacuum: not confirmed.
  A table built by an earlier release (logged, no such settings) is aligned once by this post_hook.
#}
{% macro align_table_storage(relation) -%}
    {%- set parameters = var('working_table_autovacuum') -%}
    {%- set table = relation.schema ~ '.' ~ relation.identifier -%}
do $$
begin
    {%- if config.get('unlogged') %}
    if (select relpersistence from pg_class where oid = '{{ table }}'::regclass) = 'p' then
        execute 'alter table {{ relation }} set unlogged';
    end if;
    {%- endif %}
    if not coalesce((select reloptions from pg_class where oid = '{{ table }}'::regclass), '{}')
           @> array[{% for k, v in parameters.items() %}'{{ k }}={{ v }}'{{ ", " if not loop.last }}{% endfor %}]::text[] then
        execute 'alter table {{ relation }} set ({% for k, v in parameters.items() %}{{ k }} = {{ v }}{{ ", " if not loop.last }}{% endfor %})';
    end if;
end
$$
{%- endmacro %}

{{ config(materialized='incremental', pre_hook=["{{ wait_for_batches_in_flight() }}"]) }}
-- The last load batch of readings each build stages, one row per build: taken once under the lock that waits
-- for the loads in flight and keeps new ones waiting until this node commits (macros/incremental_vee.sql:
-- wait_for_batches_in_flight). Every batch up to it has then committed, and a load that starts later draws a
-- higher batch id (ingestion.schema.hold_batch_in_flight), so no batch can commit at or below it afterwards:
-- the shard tables of stg_raw__readings read raw up to the latest row, side by side, without the lock (each
-- would hold it until it commits and keep the other waiting).
-- The new batches are found from the previous bound on (raw.readings' BRIN index on batch_id); the first
-- build scans raw.readings once.
{% set previous = vee_built_through(this, 'through_batch') if is_incremental() else 0 %}
select
    coalesce(
        (
            select max(r.batch_id) from {{ source('raw', 'readings') }} as r
            where r.batch_id > {{ previous }}
        ),
        {{ previous }}
    )::bigint as through_batch,
    now() as taken_at

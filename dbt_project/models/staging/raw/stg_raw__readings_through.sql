{{ config(materialized='incremental', pre_hook=["{{ wait_for_batches_in_flight() }}"]) }}
-- The last load batch each build stages readings up to, one row per build. Taken once under the lock that
-- waits for the loads in flight and keeps new ones waiting until this node commits (macros/incremental_vee.sql:
-- wait_for_batches_in_flight): a load draws its batch id from the ledger inside the transaction that holds the
-- lock's shared side and loads its rows (ingestion.schema.hold_batch_in_flight), so every batch up to the
-- ledger's latest id has then committed or rolled back, and a load that starts later draws a higher id: no
-- batch can commit at or below it afterwards. The shard tables of stg_raw__readings read raw up to it, side by
-- side, without the lock (each would hold it until it commits and keep the other waiting).
-- Read from the ledger's primary key, not from raw.readings: its BRIN index on batch_id finds nothing until
-- the new block ranges are summarised (by vacuum), so a max over raw read the whole month's partition.
{% set previous = vee_built_through(this, 'through_batch') if is_incremental() else 0 %}
select
    coalesce(
        (
            select max(b.batch_id) from {{ source('audit', 'ingest_batches') }} as b
            where b.batch_id > {{ previous }}
        ),
        {{ previous }}
    )::bigint as through_batch,
    now() as taken_at

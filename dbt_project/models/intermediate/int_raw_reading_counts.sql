{{
    config(
        materialized='incremental',
        unique_key=['batch_id', 'enterprise_id'],
        incremental_strategy='delete+insert',
        pre_hook=["{{ wait_for_batches_in_flight() }}"],
    )
}}
-- Readings loaded per load batch and enterprise (every version, as landed in raw): the validity
-- figure of the quality scorecard counts them. Incremental on the batch (raw.readings has a BRIN
-- index on batch_id), so it never rescans what is already counted.
select batch_id, enterprise_id, count(*) as rows_loaded
from {{ source('raw', 'readings') }}
{% if is_incremental() %}
where batch_id > {{ vee_built_through(this, 'batch_id') }}
{% endif %}
group by 1, 2

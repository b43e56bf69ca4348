"""The access-end upload protocol of the national key-energy-user online monitoring system (GB/T 37947 as
public client implementations show it) as a push API: `iem serve`.

- `codes`: the protocol's codes and dictionaries, read from `protocol.yaml` and the dbt seeds (data, not code)
- `sm4`: the SM4-CBC PIN block the protocol encrypts passwords with (`cryptography`, no hand-written cipher)
- `mapping`: configuration messages and data uploads → rows of the feed contract (pure functions)
- `store`: accounts, tokens and configuration records in the warehouse (audit schema)
- `app`: the ASGI service (Starlette, served by uvicorn); every load goes through ingestion.loader
- `client`: a protocol client, and the simulator's push mode (`iem simulate --push URL`)

No Dagster import here: orchestration/cli.py wires `iem serve`."""

"""Feed contract v1, parsers, validators, COPY loader, ledger, HTTP pull client, onboarding checks
and the enterprise-feed simulator. No Dagster import here: orchestration/ wires this in."""

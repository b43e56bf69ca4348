"""Composition root of IEM: Dagster definitions, resources, the `iem` command line."""

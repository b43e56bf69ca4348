"""The monthly export to the national system (DESIGN §6). Plain Python: no Dagster import."""

from .exporter import MANIFEST_SCHEMA, REGION_SCHEMA, SCHEMA_VERSION, export_month, json_schema

__all__ = ["MANIFEST_SCHEMA", "REGION_SCHEMA", "SCHEMA_VERSION", "export_month", "json_schema"]

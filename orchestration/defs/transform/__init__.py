from .assets import dbt_warehouse_assets, ensure_manifest

__all__ = ["dbt_warehouse_assets", "ensure_manifest"]

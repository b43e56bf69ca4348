"""Scale-out: regions' platforms built in parallel by the Celery executor (docs/scale-out.md)."""

from .jobs import region_partitions, regional_assets, regional_platforms_job

__all__ = ["region_partitions", "regional_assets", "regional_platforms_job"]

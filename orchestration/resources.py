"""Dagster resources: where the warehouse and the platform's folders are."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from .database import database_url
from .settings import Paths


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse database. Unset `url` means IEM_DATABASE_URL, else the embedded default."""

    url: str | None = None

    def database_url(self) -> str:
        return self.url or database_url()


class PlatformPathsResource(dg.ConfigurableResource):
    """$IEM_HOME and the folders under it (landing, outbox, dashboards, quality)."""

    home: str | None = None

    def paths(self) -> Paths:
        return (Paths(Path(self.home).resolve()) if self.home else Paths.from_env()).ensure()

"""Where each region's platform lives: its warehouse database and its folders (DESIGN §8, scale-out).

A region's platform is a whole IEM platform of its own: its own warehouse database (raw → marts, the
export ledger) and its own folders (landing, outbox, quality). The regions are the pilot regions of the
`regions` seed (data, not code). Where a region lives follows a naming rule, overridable per region in
a YAML file (`$IEM_REGIONS_FILE`, else `$IEM_HOME/regions.yaml` when it exists):

    regions:
      "330000":
        database_url: postgresql://iem@pg-zhejiang.internal:5432/iem_330000   # no password: PGPASSFILE
        home: /srv/iem/regions/330000

Naming rule (no file, or a region the file does not name): database `<base>_<region code>` on the server
of the base warehouse URL (IEM_DATABASE_URL, else the embedded default), home `<root>/<region code>` with
root `$IEM_HOME/regions`. Every host that runs a region's steps must resolve the same URL and folders:
on several hosts the folders are a shared mount or the file names host-local paths that hold the
region's feed. Nothing here assumes one host."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from ...settings import Paths


def pilot_regions() -> list[str]:
    """The pilot regions of the regions seed that are still valid (a merged region's codes roll up to
    the region it joined)."""
    from ingestion.reference import read_seed

    rows = read_seed("regions")
    return [r["region_code"] for r in rows if r["region_code"] == r["pilot_region_code"] and not r["valid_to"]]


@dataclass(frozen=True)
class RegionPlatform:
    region: str
    database_url: str
    home: Path

    @property
    def paths(self) -> Paths:
        return Paths(self.home)

    @property
    def dbname(self) -> str:
        from urllib.parse import urlparse

        return urlparse(self.database_url).path.lstrip("/")


def regions_file(explicit: str | None = None) -> Path | None:
    if explicit:
        return Path(explicit)
    if os.environ.get("IEM_REGIONS_FILE"):
        return Path(os.environ["IEM_REGIONS_FILE"])
    default = Paths.from_env().home / "regions.yaml"
    return default if default.exists() else None


def resolve_platform(
    region: str,
    *,
    base_url: str | None = None,
    database_prefix: str | None = None,
    root: str | None = None,
    regions_yaml: str | None = None,
) -> RegionPlatform:
    """The platform of `region`: the YAML file's entry when it names one, else the naming rule."""
    from ...database import connection_parts, database_on_cluster, database_url

    if region not in pilot_regions():
        raise ValueError(f"{region!r} is not a pilot region of the regions seed: {pilot_regions()}")
    entry: dict = {}
    path = regions_file(regions_yaml)
    if path is not None:
        entry = ((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("regions") or {}).get(region) or {}
    base = base_url or database_url()
    prefix = database_prefix or connection_parts(base)["dbname"]
    url = entry.get("database_url") or database_on_cluster(base, f"{prefix}_{region}")
    home = Path(entry.get("home") or Path(root or Paths.from_env().home / "regions") / region)
    return RegionPlatform(region=region, database_url=url, home=home.expanduser().resolve())

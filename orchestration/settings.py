"""Where things live. Everything comes from the environment; nothing secret is committed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

# The demo feed `iem run` writes into an empty landing folder (DESIGN §7: keep these figures).
DEMO_FEED = {"enterprises": 20, "start": date(2026, 1, 1), "days": 59, "seed": 42, "faults": "default"}


@dataclass(frozen=True)
class Paths:
    home: Path

    @classmethod
    def from_env(cls) -> Paths:
        home = Path(os.environ.get("IEM_HOME", "./.iem")).expanduser().resolve()
        return cls(home=home)

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def dashboards(self) -> Path:
        return self.home / "dashboards"

    @property
    def quality(self) -> Path:
        return self.home / "quality"

    @property
    def errors(self) -> Path:
        return self.home / "errors"

    @property
    def endpoints_file(self) -> Path:
        return self.home / "endpoints.yaml"

    def ensure(self) -> Paths:
        for p in (self.home, self.landing, self.outbox, self.dashboards, self.quality):
            p.mkdir(parents=True, exist_ok=True)
        return self

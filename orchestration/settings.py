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
    def logs(self) -> Path:
        """The full log of each stage-running command (dbt, Great Expectations, Dagster)."""
        return self.home / "logs"

    @property
    def dagster_home(self) -> Path:
        """The Dagster instance the command line records its runs in (unless DAGSTER_HOME is set)."""
        return self.home / "dagster"

    @property
    def endpoints_file(self) -> Path:
        return self.home / "endpoints.yaml"

    @property
    def access_end_key_file(self) -> Path:
        return self.home / "access_end.key"

    def access_end_key(self) -> bytes:
        """The access-end service's key-encryption key (seals the enterprises' SM4 secretKeys in the
        database): IEM_ACCESS_END_KEY (64 hex characters) when set, else $IEM_HOME/access_end.key,
        created once with mode 0600. Never printed or logged."""
        import secrets

        explicit = os.environ.get("IEM_ACCESS_END_KEY")
        if explicit:
            try:
                key = bytes.fromhex(explicit.strip())
            except ValueError:
                key = b""
            if len(key) != 32:
                raise ValueError("IEM_ACCESS_END_KEY must be 64 hex characters (32 bytes)")
            return key
        path = self.access_end_key_file
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return bytes.fromhex(path.read_text().strip())

    def ensure(self) -> Paths:
        for p in (self.home, self.landing, self.outbox, self.dashboards, self.quality):
            p.mkdir(parents=True, exist_ok=True)
        return self

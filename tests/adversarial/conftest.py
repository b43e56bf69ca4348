"""Shared warehouses of the adversarial suite, one set per database pass:

- `baseline`: a clean simulated drop of six enterprises in three pilot regions (two each), January
  2026 complete, ingested, built by dbt, gated and exported; a pristine copy of it right after the
  build is the template for the cases that tamper with a warehouse (`copy_of_baseline`).
- `hostile`: the same drop plus every hostile file of one enterprise (the victim V, in region R1),
  V's misbehaving HTTP centre, and a later drop with the registry V's readings waited for; then one
  build, gate and export. Every case asserts on it: its batch recorded with its reason, the counts
  conserved, the run gone on, and every other enterprise's marts and every other region's export
  byte-identical to the baseline.
"""

from __future__ import annotations

import csv
import json
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from expectations import run_quality_gate
from ingestion.http_pull import Endpoint, pull_endpoint
from ingestion.loader import IngestSummary, ingest_path
from ingestion.simulator import simulate
from orchestration.database import database_on_cluster, drop_database
from orchestration.dbt_env import run_dbt
from orchestration.lib.export.exporter import export_month
from tests.adversarial import hostile

MONTH = date(2026, 1, 1)
REGIONS = ["310000", "330000", "320200"]
# columns that legitimately differ between two warehouses loaded in a different order
VOLATILE = ("batch", "first_seen", "last_seen", "built_at", "generated_at", "created_at", "loaded_at")


@dataclass
class Warehouse:
    url: str
    outbox: Path
    export: dict
    ingest: list[dict] = field(default_factory=list)
    pulls: list[dict] = field(default_factory=list)


@dataclass
class Cast:
    """Who is who in the simulated drop."""

    feed: Path
    victim: str  # V, in region R1
    victim_region: str
    neighbour: str  # the other enterprise of R1
    other: str  # an enterprise of another region
    enterprise_rows: dict[str, str]  # enterprise_id -> its CSV line in enterprises.csv
    region_of: dict[str, str]


def _pilot(region_code: str) -> str:
    from ingestion.reference import load_reference

    return load_reference().pilot_region(region_code)


@pytest.fixture(scope="session")
def cast(tmp_path_factory) -> Cast:
    feed = tmp_path_factory.mktemp("adversarial_feed")
    simulate(
        feed,
        enterprises=6,
        start=date(2026, 1, 1),
        days=32,
        seed=13,
        regions=REGIONS,
        faults="none",
    )
    lines = (feed / "enterprises.csv").read_text(encoding="utf-8").splitlines()
    rows = {r["enterprise_id"]: r for r in csv.DictReader(lines)}
    region_of = {e: _pilot(r["region_code"]) for e, r in rows.items()}
    victim = sorted(e for e, r in region_of.items() if r == REGIONS[0])[0]
    neighbour = next(e for e, r in sorted(region_of.items()) if r == REGIONS[0] and e != victim)
    other = next(e for e, r in sorted(region_of.items()) if r == REGIONS[1])
    return Cast(
        feed,
        victim,
        REGIONS[0],
        neighbour,
        other,
        {line.split(",")[0]: line for line in lines[1:]},
        region_of,
    )


def _gate_and_export(url: str, outbox: Path) -> dict:
    return export_month(url, MONTH, outbox, quality=run_quality_gate(url, month=MONTH))


def copy_database(cluster_url: str, template_url: str) -> str:
    """A new database with the content of `template_url` (CREATE DATABASE … TEMPLATE)."""
    template = template_url.split("?")[0].rsplit("/", 1)[1]
    name = f"iem_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cluster_url, autocommit=True) as conn:
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
            (template,),
        )
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return database_on_cluster(cluster_url, name)


@pytest.fixture(scope="session")
def scratch_databases(cluster_url):
    made: list[str] = []

    def make_copy(template_url: str) -> str:
        url = copy_database(cluster_url, template_url)
        made.append(url.split("?")[0].rsplit("/", 1)[1])
        return url

    yield make_copy
    for name in made:
        drop_database(cluster_url, name)


@pytest.fixture(scope="session")
def baseline_pristine(cast, fresh_database, scratch_databases) -> tuple[str, list[dict]]:
    """The clean drop ingested and built; a pristine copy is kept as the template of later copies."""
    url = fresh_database()
    summary = ingest_path(url, cast.feed).to_dict()
    run_dbt(["build"], url)
    return scratch_databases(url), summary["batches"], url


@pytest.fixture(scope="session")
def baseline(baseline_pristine, tmp_path_factory) -> Warehouse:
    _, batches, url = baseline_pristine
    outbox = tmp_path_factory.mktemp("baseline_outbox")
    return Warehouse(url, outbox, _gate_and_export(url, outbox), batches)


@pytest.fixture
def copy_of_baseline(baseline_pristine, scratch_databases):
    """A throw-away copy of the built baseline warehouse (before its gate and export ran)."""
    return lambda: scratch_databases(baseline_pristine[0])


def _reading_objects(cast: Cast) -> list[dict]:
    path = cast.feed / cast.victim / "readings_2026-01.csv"
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: (float(v) if k == "value" else v) for k, v in r.items() if v != ""} for r in rows[100:110]]


@pytest.fixture(scope="session")
def hostile_warehouse(cast, fresh_database, tmp_path_factory, baseline) -> Warehouse:
    drop = tmp_path_factory.mktemp("hostile_drop") / "landing"
    shutil.copytree(cast.feed, drop)
    cases = hostile.file_cases(cast.victim, cast.other, "")
    cases.append(hostile.gb18030_registry(cast.enterprise_rows[cast.victim]))
    hostile.write(drop, cases)
    later = tmp_path_factory.mktemp("hostile_later_drop")
    hostile.write(later, [hostile.late_meter_registry(cast.victim)])

    url = fresh_database()
    first = ingest_path(url, drop).to_dict()  # the run goes on past every bad file: no exception here

    objects = _reading_objects(cast)
    server, port = hostile.serve(cast.victim, lambda i: objects[i % len(objects)])
    pulls = IngestSummary()
    try:
        import os

        os.environ["IEM_TOKEN_ADVERSARIAL_VICTIM"] = hostile.TOKEN
        for case in hostile.HTTP_CASES:
            settings = {"max_attempts": 1, "timeout_seconds": 5.0, **case.settings}
            ep = Endpoint(
                name=f"victim-{case.name}",
                enterprise_id=cast.victim,
                base_url=f"http://127.0.0.1:{port}/{case.path}",
                token_env="IEM_TOKEN_ADVERSARIAL_VICTIM",
                **settings,
            )
            pull_endpoint(url, ep, pulls, max_pages=10)
    finally:
        server.shutdown()
    second = ingest_path(url, later).to_dict()  # the registry V's early readings waited for
    run_dbt(["build"], url)
    outbox = tmp_path_factory.mktemp("hostile_outbox")
    export = _gate_and_export(url, outbox)
    return Warehouse(url, outbox, export, first["batches"] + second["batches"], pulls.to_dict()["batches"])


# ---------------------------------------------------------------- comparing warehouses


def mart_rows(url: str, *, exclude_enterprise: str, exclude_region: str) -> dict[str, list[str]]:
    """Every marts table, rows of the other enterprises (or other regions), volatile columns left out,
    as sorted text lines."""
    out: dict[str, list[str]] = {}
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' order by 1"
            )
        ]
        for table in tables:
            cols = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = 'marts' "
                    "and table_name = %s order by ordinal_position",
                    (table,),
                )
            ]
            keep = [c for c in cols if not any(v in c for v in VOLATILE)]
            where = []
            if "enterprise_id" in cols:
                where.append(sql.SQL("enterprise_id is distinct from {}").format(sql.Literal(exclude_enterprise)))
            elif "region_code" in cols:  # region rows: the victim's region may change, the others not
                where.append(sql.SQL("region_code is distinct from {}").format(sql.Literal(exclude_region)))
            query = sql.SQL("select {} from marts.{} where {}").format(
                sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in keep),
                sql.Identifier(table),
                sql.SQL(" and ").join(where) if where else sql.SQL("true"),
            )
            out[table] = sorted(json.dumps(row, ensure_ascii=False) for row in conn.execute(query))
    return out


def region_files(outbox: Path, region: str) -> dict[str, bytes]:
    folder = outbox / f"{MONTH:%Y-%m}" / region
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def others_untouched(cast, baseline, hostile_warehouse):
    """Assert (once computed, then per case): other enterprises' marts and other regions' export files of
    the hostile warehouse are those of the baseline."""
    kw = {"exclude_enterprise": cast.victim, "exclude_region": cast.victim_region}
    base, host = mart_rows(baseline.url, **kw), mart_rows(hostile_warehouse.url, **kw)
    differing = {t: (len(base.get(t, [])), len(host.get(t, []))) for t in base if base.get(t) != host.get(t)}
    files = {r: region_files(baseline.outbox, r) == region_files(hostile_warehouse.outbox, r) for r in REGIONS[1:]}

    def check() -> None:
        assert differing == {}, f"marts of other enterprises differ (table: baseline rows, hostile rows): {differing}"
        assert all(files.values()), f"other regions' export files differ: {files}"
        assert all(region_files(baseline.outbox, r) for r in REGIONS[1:]), "other regions exported nothing"

    return check

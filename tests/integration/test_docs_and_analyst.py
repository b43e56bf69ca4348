"""Analyst access: `dbt docs generate` builds a documentation site in which every column of
every table in the marts schema is described (dbt models and the forecast tables written by Python,
declared as a documented source); the descriptions are also persisted as PostgreSQL comments, so BI
tools show them."""

from __future__ import annotations

import json
from datetime import date

import psycopg
import pytest

from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration.dbt_env import run_dbt
from orchestration.lib.forecasting import run_forecasts


@pytest.fixture(scope="module")
def documented(tmp_path_factory, fresh_database):
    feed = tmp_path_factory.mktemp("docs_feed")
    simulate(feed, enterprises=3, start=date(2026, 1, 1), days=3, seed=9, faults="none")
    url = fresh_database()
    ingest_path(url, feed)
    run_dbt(["build"], url)
    run_forecasts(url)
    target = tmp_path_factory.mktemp("docs_target")
    run_dbt(["docs", "generate", "--target-path", str(target)], url)
    return url, target


def test_docs_site_describes_every_mart_column(documented):
    url, target = documented
    assert (target / "index.html").exists() and (target / "catalog.json").exists()
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    described: dict[str, dict[str, str]] = {}
    for node in [*manifest["nodes"].values(), *manifest["sources"].values()]:
        if node.get("schema") == "marts" and node["resource_type"] in ("model", "source"):
            name = node.get("alias") or node.get("identifier") or node["name"]
            described[name] = {c.lower(): (v.get("description") or "").strip() for c, v in node["columns"].items()}
    with psycopg.connect(url) as conn:
        mart_tables = {
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
    assert {
        "fct_enterprise_monthly",
        "fct_region_industry_monthly",
        "fct_alerts",
        "fct_forecast_monthly",
    } <= mart_tables
    missing = []
    for table in sorted(mart_tables):
        entry = next(
            (
                v
                for k, v in {**catalog["nodes"], **catalog["sources"]}.items()
                if v["metadata"]["schema"] == "marts" and v["metadata"]["name"] == table
            ),
            None,
        )
        assert entry is not None, f"marts.{table} is not in the dbt docs catalog"
        for column in entry["columns"]:
            if not described.get(table, {}).get(column.lower()):
                missing.append(f"marts.{table}.{column}")
    assert missing == [], f"{len(missing)} mart column(s) without a description: {missing}"


def test_descriptions_reach_postgres_comments_for_bi_tools(documented):
    url, _ = documented
    with psycopg.connect(url) as conn:
        uncommented = conn.execute("""
            select c.table_name || '.' || c.column_name
            from information_schema.columns c
            join pg_class t on t.relname = c.table_name
            join pg_namespace n on n.oid = t.relnamespace and n.nspname = c.table_schema
            where c.table_schema = 'marts' and t.relkind in ('r', 'v', 'p')
              and col_description(t.oid, c.ordinal_position) is null""").fetchall()
    assert uncommented == []

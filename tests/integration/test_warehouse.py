"""The warehouse against ground truth: a clean simulation reproduces an independent pandas
computation from the feed files; the same seed with default faults stays within 0.5 % wherever the
data is complete; estimates are bounded; register faults never book negative or spike intervals;
calendar edges and old history."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from ingestion.loader import ingest_path
from ingestion.simulator import simulate
from orchestration import dbt_env
from orchestration.database import connection_parts
from orchestration.dbt_env import (
    PLATFORM_RUN_ENVIRONMENT,
    dbt_environment,
    run_dbt,
    seed_parse_state,
    warehouse_target_path,
)
from orchestration.defs.transform.assets import dbt_executable
from orchestration.settings import DBT_PROJECT_DIR

SEED, ENTERPRISES, START, DAYS = 7, 10, date(2026, 1, 20), 25


def build(url: str, feed: Path) -> None:
    ingest_path(url, feed)
    run_dbt(["build"], url)


def query(url: str, sql: str, params=()) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        cur = conn.execute(sql, params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


@pytest.fixture(scope="module")
def clean(tmp_path_factory, fresh_database):
    feed = tmp_path_factory.mktemp("clean_feed")
    simulate(feed, enterprises=ENTERPRISES, start=START, days=DAYS, seed=SEED, faults="none")
    url = fresh_database()
    build(url, feed)
    return url, feed


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, fresh_database):
    feed = tmp_path_factory.mktemp("faulty_feed")
    truth = feed.parent / "truth.jsonl"
    simulate(feed, enterprises=ENTERPRISES, start=START, days=DAYS, seed=SEED, faults="default", truth_path=truth)
    url = fresh_database()
    build(url, feed)
    return url, feed, [json.loads(line) for line in truth.read_text().splitlines()]


def independent_monthly(feed: Path) -> pd.DataFrame:
    """Boundary interval meters straight from the files: value × multiplier × unit factor, in − out,
    grouped by the Asia/Shanghai month in which each interval starts."""
    conv = pd.read_csv(Path("dbt_project/seeds/unit_conversions.csv"))
    energy = pd.read_csv(Path("dbt_project/seeds/energy_types.csv"))
    canonical = dict(zip(energy.energy_code, energy.canonical_unit))
    factor = {(f, t): x for f, t, x in zip(conv.from_unit, conv.to_unit, conv.factor)}
    meters = pd.read_csv(feed / "meters.csv", dtype=str)
    readings = []
    for path in sorted(feed.rglob("readings_*")):
        if path.suffix == ".csv":
            readings.append(pd.read_csv(path, dtype=str))
        else:
            readings.append(pd.read_json(path, lines=True, dtype=False).astype(str))
    r = pd.concat(readings).merge(meters, on=["enterprise_id", "meter_id"], suffixes=("", "_meter"))
    r = r[(r.scope == "boundary") & (r.reading_type == "interval")]
    r["factor"] = [factor[(u, canonical[e])] for u, e in zip(r.unit, r.energy_code)]
    r["consumption"] = r.value.astype(float) * r.multiplier.astype(float) * r.factor
    r.loc[r.direction == "out", "consumption"] *= -1
    r["month"] = pd.to_datetime(r.period_start.str.slice(0, 7) + "-01").dt.date
    return r.groupby(["enterprise_id", "month", "energy_code"], as_index=False).consumption.sum()


def test_clean_monthly_energy_equals_independent_computation(clean):
    url, feed = clean
    expected = independent_monthly(feed)
    got = query(
        url,
        "select enterprise_id, month, energy_code, quantity::float8 as quantity "
        "from marts.fct_enterprise_energy_monthly",
    )
    merged = expected.merge(got, on=["enterprise_id", "month", "energy_code"], how="outer", indicator=True)
    assert (merged._merge == "both").all(), merged[merged._merge != "both"].head()
    rel = (merged.quantity - merged.consumption).abs() / merged.consumption.abs()
    assert len(merged) >= ENTERPRISES * 2 * 2  # two months, at least two energy types each
    assert rel.max() < 1e-4, merged.assign(rel=rel).sort_values("rel").tail(3)


def test_one_parse_of_the_project_serves_every_warehouse_this_process_builds(clean, faulty):
    """run_dbt parses the project once per process (and project state and --vars) and hands each build a copy
    moved to its warehouse's database (orchestration/dbt_env.py, parsed_project): one parse is kept for the
    project, and the copy for each warehouse of this module names its own database on every node and
    relation, and no other. (The figures built from such copies are checked against the feeds by the other
    tests here.)"""
    project = str(DBT_PROJECT_DIR.resolve())
    assert len([key for key in dbt_env._parsed if key[0] == project and not key[2]]) == 1
    for url in (clean[0], faulty[0]):
        database = connection_parts(url)["dbname"]
        manifest = dbt_env.parsed_project(["build"], url, DBT_PROJECT_DIR, str(warehouse_target_path(url)))
        nodes = [*manifest.nodes.values(), *manifest.sources.values()]
        assert {node.database for node in nodes if node.database} == {database}
        relations = [node.relation_name for node in nodes if getattr(node, "relation_name", None)]
        assert len(relations) > 50 and all(name.startswith(f'"{database}".') for name in relations)


def test_a_warehouse_dbt_never_built_starts_from_another_ones_parse_state(clean, fresh_database):
    """The Dagster build step runs dbt in a process of its own, which cannot share run_dbt's parse: a warehouse
    dbt never built gets another warehouse's saved parse state moved to its database (seed_parse_state), and
    dbt, checking it as its own, re-parses nothing."""
    run_dbt(["parse"], clean[0])  # a saved state of this cluster, the newest
    url = fresh_database()
    assert seed_parse_state(url)
    assert not seed_parse_state(url)  # a warehouse with a state of its own keeps it
    env = {**os.environ, **dbt_environment(url), **PLATFORM_RUN_ENVIRONMENT}
    project = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    project += ["--target-path", str(warehouse_target_path(url))]
    listed = subprocess.run(
        [dbt_executable(), "ls", "--resource-type", "model", *project],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Unable to do partial parsing" not in listed.stdout and "stg_raw__readings" in listed.stdout
    manifest = json.loads((warehouse_target_path(url) / "manifest.json").read_text())
    assert {node["database"] for node in manifest["nodes"].values()} == {connection_parts(url)["dbname"]}


def test_clean_data_is_complete_and_unestimated(clean):
    url, _ = clean
    q = query(
        url, "select min(completeness)::float8 c, max(estimated_share)::float8 e from marts.fct_enterprise_monthly"
    )
    assert q.c[0] == 1.0 and q.e[0] == 0.0
    alerts = query(
        url,
        "select count(*) n from intermediate.int_meter_intervals where quality_code <> 'measured' "
        "and meter_id not in (select meter_id from staging.stg_raw__meters where reading_type = 'register')",
    )
    assert alerts.n[0] == 0


def test_faulty_daily_energy_within_half_percent_of_clean_wherever_complete(clean, faulty):
    """Compared per enterprise, day and energy type where the faulty day's completeness ≥ 90 %
    (a day losing a run longer than the estimation limit drops below it). Consumption findings
    (abnormal rise) are real changes, not faults, and are left out."""
    clean_url, _ = clean
    url, _, truth = faulty
    risen = {t["enterprise_id"] for t in truth if t["kind"] == "abnormal_rise"}
    sql = (
        "select enterprise_id, date, energy_code, quantity::float8 q, completeness::float8 c "
        "from marts.fct_enterprise_energy_daily"
    )
    a, b = query(clean_url, sql), query(url, sql)
    m = a.merge(b, on=["enterprise_id", "date", "energy_code"], suffixes=("_clean", "_faulty"))
    m = m[(m.c_faulty >= 0.9) & ~m.enterprise_id.isin(risen) & (m.q_clean.abs() > 0)]
    rel = (m.q_faulty - m.q_clean).abs() / m.q_clean.abs()
    assert len(m) > 0.8 * len(a[~a.enterprise_id.isin(risen)])
    assert rel.max() <= 0.005, m.assign(rel=rel).sort_values("rel").tail(5).to_string()
    # and the faults did cost completeness somewhere (the comparison is not vacuous)
    assert (b.c < 0.9).any()


def test_estimates_never_span_more_than_the_configured_gap(faulty):
    url, _, _ = faulty
    q = query(
        url,
        "select count(*) n, max(run_length) longest from intermediate.int_meter_intervals "
        "where quality_code = 'estimated' and observed_quality_code in ('missing', 'rejected')",
    )
    assert q.n[0] > 0 and q.longest[0] <= 8
    long_runs = query(
        url,
        "select count(*) n from intermediate.int_meter_intervals where run_length > 8 and quality_code = 'estimated'",
    )
    assert long_runs.n[0] == 0


def test_register_faults_never_book_negative_or_spike_intervals(faulty):
    url, _, truth = faulty
    cases = [t for t in truth if t["kind"] in ("register_reset", "rollover", "meter_replacement")]
    assert {t["kind"] for t in cases} == {"register_reset", "rollover", "meter_replacement"}
    for t in cases:
        q = query(
            url,
            "select min(i.consumption)::float8 lo, max(i.consumption / nullif(m.rated_max, 0))::float8 hi "
            "from intermediate.int_meter_intervals i join staging.stg_raw__meters m using (enterprise_id, meter_id) "
            "where enterprise_id = %s and meter_id = %s",
            (t["enterprise_id"], t["meter_id"]),
        )
        assert q.lo[0] >= 0, t
        assert q.hi[0] <= 1.0, t
    rollover = next(t for t in cases if t["kind"] == "rollover")
    q = query(
        url,
        "select quality_code, vee_flag from intermediate.int_meter_intervals "
        "where enterprise_id = %s and meter_id = %s and interval_end = %s::timestamptz",
        (rollover["enterprise_id"], rollover["meter_id"], rollover["period_end"]),
    )
    assert q.quality_code[0] == "measured" and q.vee_flag[0] == "rollover"  # booked, not lost


def test_unit_product_energy_sits_near_reference_figures(clean):
    url, _ = clean
    q = query(
        url,
        "select product_code, min(unit_product_energy)::float8 lo, max(unit_product_energy)::float8 hi, "
        "bool_or(is_possible_breach) breach from marts.fct_unit_product_energy_monthly group by 1",
    )
    ranges = {
        "crude_steel": (520, 580),
        "clinker": (95, 117),
        "caustic_soda": (290, 350),
        "aluminium_ingot": (1600, 1720),
        "coke": (100, 135),
    }
    assert not q.breach.any()  # the clean series stays within the limits in force
    seen = 0
    for row in q.itertuples():
        lo, hi = ranges[row.product_code]
        assert lo <= row.lo and row.hi <= hi, row
        seen += 1
    assert seen >= 1


# ---------------------------------------------------------------- calendar edges and old history


def _edge_feed(root: Path, readings: list[str], name="readings_edge.csv") -> Path:
    from tests.feeds import READINGS_HEADER, write_basic_feed

    feed = write_basic_feed(root)
    (feed / name).write_text(READINGS_HEADER + "".join(readings), encoding="utf-8")
    return feed


def test_calendar_edges_and_old_history_batch(warehouse_url, tmp_path):
    from tests.feeds import STEEL, reading

    rows = [
        # the interval 23:45–24:00 on the last day of January counts in January
        reading(STEEL, "EL-01", "2026-01-31T23:45:00+08:00", "2026-02-01T00:00:00+08:00", "100"),
        # sent in UTC: 2026-01-31T16:00Z = 2026-02-01 00:00 in Asia/Shanghai → February 1st
        reading(STEEL, "EL-01", "2026-01-31T16:00:00Z", "2026-01-31T16:15:00Z", "7"),
        # another offset: 2026-01-31T10:30-05:00 = 2026-01-31 23:30 +08 → January 31st
        reading(STEEL, "EL-01", "2026-01-31T10:30:00-05:00", "2026-01-31T10:45:00-05:00", "5"),
    ]
    build(warehouse_url, _edge_feed(tmp_path / "a", rows))
    daily = query(
        warehouse_url,
        "select date, quantity::float8 q from marts.fct_enterprise_energy_daily "
        "where enterprise_id = %s and energy_code = 'electricity' order by date",
        (STEEL,),
    )
    assert dict(zip(daily.date.astype(str), daily.q)) == {"2026-01-31": 105.0, "2026-02-01": 7.0}
    monthly = query(
        warehouse_url,
        "select month, quantity::float8 q from marts.fct_enterprise_energy_monthly "
        "where enterprise_id = %s order by month",
        (STEEL,),
    )
    assert dict(zip(monthly.month.astype(str), monthly.q)) == {"2026-01-01": 105.0, "2026-02-01": 7.0}
    before = query(warehouse_url, "select * from marts.fct_enterprise_energy_monthly order by 1, 2, 3")

    # a 2026 batch of 2019 history is built like any other batch (incremental staging picks it up)
    old = [
        reading(
            STEEL,
            "EL-01",
            f"2019-03-0{d}T00:00:00+08:00",
            f"2019-03-0{d}T00:15:00+08:00",
            "50",
            sent="2026-03-01T00:00:00+08:00",
        )
        for d in (1, 2)
    ]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "readings_history_2019.csv").write_text(
        "enterprise_id,meter_id,period_start,period_end,value,unit,quality,sent_at\n" + "".join(old), encoding="utf-8"
    )
    build(warehouse_url, tmp_path / "b")
    after = query(warehouse_url, "select * from marts.fct_enterprise_energy_monthly order by 1, 2, 3")
    assert "2019-03-01" in set(after.month.astype(str))
    kept = after[after.month.astype(str) >= "2026-01-01"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        kept[["enterprise_id", "month", "energy_code", "quantity"]],
        before[["enterprise_id", "month", "energy_code", "quantity"]],
    )
    with psycopg.connect(warehouse_url) as conn:
        parts = {
            r[0]
            for r in conn.execute(
                "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
                "join pg_class p on p.oid = i.inhparent where p.relname = 'readings'"
            )
        }
    assert "readings_201903" in parts


def test_a_correction_replaces_the_earlier_reading_in_the_next_incremental_build(warehouse_url, tmp_path):
    from tests.feeds import STEEL, reading

    first = [
        reading(STEEL, "EL-01", "2026-03-01T00:00:00+08:00", "2026-03-01T00:15:00+08:00", "10"),
        reading(STEEL, "EL-01", "2026-03-01T00:15:00+08:00", "2026-03-01T00:30:00+08:00", "20"),
    ]
    build(warehouse_url, _edge_feed(tmp_path / "a", first))
    late = [
        reading(
            STEEL,
            "EL-01",
            "2026-03-01T00:15:00+08:00",
            "2026-03-01T00:30:00+08:00",
            "25",
            sent="2026-03-05T00:00:00+08:00",
        ),
        # an older version arriving after the correction does not win
        reading(
            STEEL,
            "EL-01",
            "2026-03-01T00:00:00+08:00",
            "2026-03-01T00:15:00+08:00",
            "999",
            # older than the first version (sent at its period end, 00:15), and not sent more than the
            # door's tolerance (15 min) before its own period ended
            sent="2026-03-01T00:05:00+08:00",
        ),
    ]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "readings_corrections.csv").write_text(
        "enterprise_id,meter_id,period_start,period_end,value,unit,quality,sent_at\n" + "".join(late), encoding="utf-8"
    )
    build(warehouse_url, tmp_path / "b")
    q = query(
        warehouse_url,
        "select period_end, value::float8 v, versions from staging.stg_raw__readings "
        "where enterprise_id = %s order by period_end",
        (STEEL,),
    )
    assert list(q.v) == [10.0, 25.0] and list(q.versions) == [2, 2]
    m = query(
        warehouse_url,
        "select quantity::float8 q from marts.fct_enterprise_energy_monthly where enterprise_id = %s",
        (STEEL,),
    )
    assert m.q[0] == 35.0

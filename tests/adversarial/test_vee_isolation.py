"""One enterprise cannot harm the others, the parts in the VEE layer: a meters-only change
must reach the marts in an incremental build as in a full one, and one enterprise's far-off (but not
future) reading must not grow other enterprises' interval grids or open silent-feed alerts for them.
The VEE state counts registry batches; interval grids and time-relative rules follow each enterprise's
data watermark (macros/incremental_vee.sql)."""

from __future__ import annotations

from pathlib import Path

from ingestion.loader import ingest_path
from orchestration.dbt_env import run_dbt
from tests.adversarial.conftest import MONTH, REGIONS, _gate_and_export, mart_rows, region_files


def _meters_change(cast, folder):
    """V's meter EL-02 with its multiplier doubled (a CT ratio corrected), nothing else sent."""
    lines = (cast.feed / "meters.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    row = next(r for r in rows if r["enterprise_id"] == cast.victim and r["meter_id"] == "EL-02")
    row["multiplier"] = str(float(row["multiplier"]) * 2)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meters_ct_ratio.csv").write_text(
        ",".join(header) + "\n" + ",".join(row[c] for c in header) + "\n", encoding="utf-8"
    )
    return folder


def test_a_meters_only_change_gives_the_full_builds_marts_and_export(cast, copy_of_baseline, tmp_path):
    drop = _meters_change(cast, tmp_path / "drop")
    incremental, full = copy_of_baseline(), copy_of_baseline()
    for url in (incremental, full):
        assert ingest_path(url, drop).to_dict()["rows_loaded"] == 1
    run_dbt(["build"], incremental)
    run_dbt(["build", "--full-refresh"], full)
    everything = {"exclude_enterprise": "-", "exclude_region": "-"}
    inc_marts, full_marts = mart_rows(incremental, **everything), mart_rows(full, **everything)
    assert inc_marts == full_marts
    exports = [_gate_and_export(u, tmp_path / name) for u, name in ((incremental, "inc"), (full, "full"))]
    # the same regions, statuses, revisions, checks and file names, of contract v1 and v2 (each side writes
    # into its own outbox)
    for region in (r for e in exports for r in e["regions"]):
        for result in (region, region["v2"]):
            result["files"] = sorted(Path(f).name for f in result["files"])
    assert exports[0]["regions"] == exports[1]["regions"]
    for contract in ("", "v2"):  # v1 in the outbox, v2 under outbox/v2
        inc, full = (region_files(tmp_path / side / contract, cast.victim_region) for side in ("inc", "full"))
        assert inc == full and inc, contract


def test_one_enterprises_far_off_reading_leaves_the_others_marts_alone(cast, baseline, copy_of_baseline, tmp_path):
    # dated two months after everyone's data and sent then: not in the future, so the door takes it
    folder = tmp_path / "drop" / cast.victim
    folder.mkdir(parents=True)
    (folder / "readings_far.csv").write_text(
        "enterprise_id,meter_id,period_start,period_end,value,unit,quality,sent_at\n"
        f"{cast.victim},EL-02,2026-03-20T00:00:00+08:00,2026-03-20T00:15:00+08:00,5,kWh,measured,"
        "2026-03-20T00:20:00+08:00\n",
        encoding="utf-8",
    )
    url = copy_of_baseline()
    assert ingest_path(url, tmp_path / "drop").to_dict()["rows_loaded"] == 1
    run_dbt(["build"], url)
    kw = {"exclude_enterprise": cast.victim, "exclude_region": cast.victim_region}
    assert mart_rows(url, **kw) == mart_rows(baseline.url, **kw)
    assert MONTH and REGIONS

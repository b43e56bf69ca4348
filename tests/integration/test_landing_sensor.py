"""The landing sensor asks the ledger, which the command line shares: files `iem run` (or `iem ingest`)
already loaded launch nothing when the Dagster daemon starts; a file whose content is new launches one
ingest-and-transform run."""

from __future__ import annotations

import gzip

import dagster as dg

from ingestion.loader import files_not_yet_loaded, ingest_path
from orchestration.database import stage_url
from orchestration.defs.ingestion.sensors import landing_sensor
from orchestration.resources import WarehouseResource
from tests.feeds import READINGS_HEADER, STEEL, reading, write_basic_feed


def _evaluate(url: str, cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor, resources={"warehouse": WarehouseResource(url=url)})
    return landing_sensor(context), context.cursor


def test_files_the_command_line_loaded_launch_no_run_and_a_new_file_launches_one(warehouse_url, tmp_path, monkeypatch):
    # before: the sensor compared only its own cursor (names, sizes, times), so on the daemon's first tick
    # after `make run` it launched a full ingest-and-transform run for the 52 demo files already loaded
    home = tmp_path / "home"
    landing = write_basic_feed(home / "landing")
    (landing / "readings_2026-02-01.csv").write_text(
        READINGS_HEADER + reading(STEEL, "EL-01", "2026-02-01T00:00:00+08:00", "2026-02-01T00:15:00+08:00", "10"),
        encoding="utf-8",
    )
    monkeypatch.setenv("IEM_HOME", str(home))
    ingest_path(stage_url(warehouse_url, "loader"), landing)  # what `iem run` / `iem ingest` did
    assert files_not_yet_loaded(warehouse_url, landing) == []

    result, cursor = _evaluate(warehouse_url, None)
    assert isinstance(result, dg.SkipReason), result
    assert "all 3 feed files in landing are already loaded" in result.skip_message

    # a new day's file, sent compressed: its content is new
    with gzip.open(landing / "readings_2026-02-02.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write(
            READINGS_HEADER + reading(STEEL, "EL-01", "2026-02-02T00:00:00+08:00", "2026-02-02T00:15:00+08:00", "11")
        )
    assert files_not_yet_loaded(warehouse_url, landing) == ["readings_2026-02-02.csv.gz"]
    result, cursor_after = _evaluate(warehouse_url, cursor)
    assert isinstance(result, dg.RunRequest), result
    assert result.job_name == "ingest_and_transform_job"  # never built: the whole build, not a round
    assert cursor_after != cursor

    # the same folder looked at again launches nothing more (the cursor), and nothing is lost: once loaded,
    # the ledger holds every file
    result, _ = _evaluate(warehouse_url, cursor_after)
    assert isinstance(result, dg.SkipReason)
    ingest_path(stage_url(warehouse_url, "loader"), landing)
    assert files_not_yet_loaded(warehouse_url, landing) == []

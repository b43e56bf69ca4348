"""A reading dated after the clock (or after its own sent_at) neither crashes `iem run`
nor moves the month it runs for: the landing scan that picks the month counts only the readings the
door will accept as to time (the door rejects the rest with a reason, see the hostile drop)."""

from __future__ import annotations

from datetime import UTC, datetime

from orchestration.pipeline import _landing_watermark, last_complete_month

HEADER = "enterprise_id,meter_id,period_start,period_end,value,unit,quality,sent_at\n"
V = "91310115TKP1TFNE95"


def test_future_and_early_sent_readings_do_not_move_the_watermark(tmp_path):
    folder = tmp_path / "landing" / V
    folder.mkdir(parents=True)
    (folder / "readings_ok.csv").write_text(
        HEADER
        + f"{V},EL-01,2026-02-28T23:45:00+08:00,2026-03-01T00:00:00+08:00,1,kWh,measured,2026-03-01T00:05:00+08:00\n",
        encoding="utf-8",
    )
    (folder / "readings_bad.csv").write_text(
        HEADER
        # after the clock (a year typo) and dated after it was sent: both ignored for the month
        + f"{V},EL-01,2062-03-01T00:00:00+08:00,2062-03-01T00:15:00+08:00,1,kWh,measured,2062-03-01T00:20:00+08:00\n"
        + f"{V},EL-01,2026-05-01T00:00:00+08:00,2026-05-01T00:15:00+08:00,1,kWh,measured,2026-03-01T00:20:00+08:00\n",
        encoding="utf-8",
    )
    now = datetime(2026, 3, 2, tzinfo=UTC)
    mark = _landing_watermark(tmp_path / "landing", now=now)
    assert mark == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 2026-03-01T00:00+08:00
    assert last_complete_month(mark).isoformat() == "2026-02-01"

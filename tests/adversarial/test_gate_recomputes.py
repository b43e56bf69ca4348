"""The gate recomputes. Marts that are wrong consistently across marts (quantities ×10
with their tce, or tce ×2 everywhere) pass every identity check (monthly = Σ daily, enterprise = Σ energy
types, region = Σ enterprises); only a recomputation from the VEE layer and quantity × coefficient
catches them. The region of the wrong enterprise is blocked; the others are not."""

from __future__ import annotations

import psycopg

from expectations import run_quality_gate
from tests.adversarial.conftest import MONTH, REGIONS

ENERGY = ("fct_enterprise_energy_daily", "fct_enterprise_energy_monthly")


def _scale(conn, enterprise: str, columns: list[str], factor: float) -> None:
    for table in ENERGY:
        sets = ", ".join(f"{c} = {c} * {factor}" for c in columns)
        conn.execute(f"update marts.{table} set {sets} where enterprise_id = %s", (enterprise,))
    tce = [c for c in columns if c.startswith("tce")]
    sets = ", ".join(f"comprehensive_{c} = comprehensive_{c} * {factor}" for c in tce)
    conn.execute(f"update marts.fct_enterprise_monthly set {sets} where enterprise_id = %s", (enterprise,))


def _rebuild_region_totals(conn) -> None:
    """Region and region × industry totals re-derived from the (tampered) enterprise rows, so every
    identity the gate already had still holds."""
    for table, keys in (
        ("fct_region_monthly", "region_code, month"),
        ("fct_region_industry_monthly", "region_code, industry_code, month"),
    ):
        on = " and ".join(f"r.{k.strip()} = e.{k.strip()}" for k in keys.split(","))
        conn.execute(
            f"update marts.{table} r set comprehensive_tce_equivalent = e.eq, comprehensive_tce_equal_value = e.ev "
            f"from (select {keys}, sum(comprehensive_tce_equivalent) eq, sum(comprehensive_tce_equal_value) ev "
            f"from marts.fct_enterprise_monthly group by {keys}) e where {on}"
        )


def test_consistently_wrong_marts_block_only_their_region(cast, copy_of_baseline):
    url = copy_of_baseline()
    clean = run_quality_gate(url, month=MONTH)
    assert clean.blocking_failures() == []

    tce_twice = next(e for e, r in sorted(cast.region_of.items()) if r == REGIONS[1])
    beyond_bound = next(e for e, r in sorted(cast.region_of.items()) if r == REGIONS[2])
    with psycopg.connect(url) as conn:
        # R1: the victim's quantities ×10 with their tce, in the daily, monthly and enterprise marts
        _scale(conn, cast.victim, ["quantity", "quantity_in", "tce_equivalent", "tce_equal_value"], 10)
        # R2: tce ×2 in every mart, quantities left as they are
        _scale(conn, tce_twice, ["tce_equivalent", "tce_equal_value"], 2)
        _rebuild_region_totals(conn)
        # R3: one month's electricity beyond any enterprise's plausible month (1e11 kWh, seed)
        conn.execute(
            "update marts.fct_enterprise_energy_monthly set quantity = 2e11 where enterprise_id = %s "
            "and energy_code = 'electricity'",
            (beyond_bound,),
        )
    report = run_quality_gate(url, month=MONTH)
    failed = {r: {f.name for f in report.blocking_failures(r)} for r in REGIONS}
    # the identities the gate had before all still hold for R1 and R2: only the recomputation sees it
    assert failed[REGIONS[0]] == {"energy_marts_reconcile_with_vee", "tce_is_quantity_times_coefficient"}
    assert failed[REGIONS[1]] == {"tce_is_quantity_times_coefficient"}
    assert "energy_within_plausibility_bounds" in failed[REGIONS[2]]
    failure = next(f for f in report.blocking_failures(REGIONS[1]) if f.name == "tce_is_quantity_times_coefficient")
    assert {x["row"]["enterprise_id"] for x in failure.details["failures"]} == {tce_twice}

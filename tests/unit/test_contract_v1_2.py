"""Feed contract v1.2 at the door, without a database: the new `inventories` entity (the 205-1 stocks and
purchases per energy type and month) rejects each bad row with its row number, the field and a reason
the enterprise can act on; good rows load converted to nothing but their normalised text; every v1.1
schema is carried into v1.2 unchanged apart from its version."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from ingestion import contract
from ingestion.parse import parse_csv
from ingestion.reference import load_reference
from ingestion.validate import Context, validate
from tests.feeds import STEEL

INVENTORIES = contract.entity("inventories")
HEADER = (
    "enterprise_id,energy_code,month,unit,opening_stock,purchased_quantity,purchased_value_1k_yuan,"
    "closing_stock,transport_quantity,sent_at\n"
)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _check(lines: list[str]):
    parsed = parse_csv((HEADER + "".join(lines)).encode(), INVENTORIES.field_names)
    meters = pl.DataFrame(schema=dict.fromkeys(("enterprise_id", "meter_id", "energy_code", "reading_type"), pl.String))
    return validate(parsed.frame, INVENTORIES, Context(load_reference(), {STEEL}, meters, now=NOW))


def test_v1_2_adds_inventories_and_keeps_every_v1_1_entity_as_it_was():
    assert contract.CONTRACT_VERSION == "1.2" and "inventories" in contract.ENTITIES
    assert contract.entity_of_file(contract.PurePath("inventories_2026-03.csv")) == "inventories"
    for name in contract.VERSION_ENTITIES["1.1"]:
        v11, v12 = contract.schema_document(name, "1.1"), contract.schema_document(name, "1.2")
        assert v11["properties"] == v12["properties"], name
        assert v11["required"] == v12["required"] and v11["x-key"] == v12["x-key"], name
    assert INVENTORIES.key == ("enterprise_id", "energy_code", "month")


def test_bad_inventories_rows_are_rejected_with_row_field_and_reason():
    sent = "2026-04-03T09:00:00+08:00"
    checked = _check(
        [
            # row 2: good (coal in 万吨, converted later; purchases' value optional)
            f"{STEEL},raw_coal,2026-03,万吨,0.8,1.5,12000,0.9,,{sent}\n",
            # row 3: good, electricity has no stock
            f"{STEEL},electricity,2026-03,kWh,0,1000000,,0,,{sent}\n",
            f"{STEEL},raw_coal,2026-13,t,1,2,,1,,{sent}\n",  # row 4: no month 13
            f"{STEEL},raw_coal,2026-03,t,-5,2,,1,,{sent}\n",  # row 5: negative stock
            f"{STEEL},unobtainium,2026-03,t,1,2,,1,,{sent}\n",  # row 6: unknown energy type
            f"{STEEL},raw_coal,2026-03,kWh,1,2,,1,,{sent}\n",  # row 7: a coal stock in kWh
            f"{STEEL},raw_coal,2026-03,t,1,,,1,,{sent}\n",  # row 8: purchases missing
            f"{STEEL},raw_coal,2026-07,t,1,2,,1,,{sent}\n",  # row 9: a month after the platform's clock
            f"{STEEL},diesel,2026-03,t,1,two,,1,,{sent}\n",  # row 10: not a number
        ]
    )
    assert checked.valid["row_number"].to_list() == [2, 3]
    got = {r["row_number"]: (r["field"], r["value"], r["reason"]) for r in checked.rejects.iter_rows(named=True)}
    assert got == {
        4: ("month", "2026-13", "does not match the contract pattern"),
        5: ("opening_stock", "-5", "below minimum 0"),
        6: ("energy_code", "unobtainium", "unknown energy_code: not in the energy type reference"),
        7: ("unit", "kWh", "unit is unknown or not convertible to the energy type's canonical unit"),
        8: ("purchased_quantity", None, "missing required field"),
        9: (
            "month",
            "2026-07",
            "month is after the platform's clock (2026-06): a monthly statement cannot be sent in advance",
        ),
        10: ("purchased_quantity", "two", "not a number"),
    }
    # the rejected row is kept as sent, for the enterprise's error report
    assert checked.rejects.filter(pl.col("row_number") == 5)["raw_row"][0].startswith(f"{STEEL},raw_coal,2026-03,t,-5")

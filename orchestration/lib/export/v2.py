"""Export contract v2 (`iem-national-export/2`): the statistics-form shape, written beside v1.

Per pilot region and month, read from the marts: the 205-1 rows of every enterprise (NBS row codes,
statistical units, the coefficient used and the reference coefficient, row 40 能源合计 in tce), 205-3
unit-product energy in each standard's own unit, energy-related CO2 per enterprise and energy type, the
dual-control indicators, and the region roll-ups (205-1 and CO2, by industry). Same rules as v1: a pure
function of the warehouse, fixed decimal places, nulls explicit (a missing CO2 factor is null with its
flag, never 0), validated against its JSON Schema before anything is written. v1 is not touched: v2 has
its own folder, schemas, revisions and ledger tables (docs/export-contract.md, contract v2).
"""

from __future__ import annotations

import json
from datetime import date

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .exporter import _csv, _int, _num, _text, manifest_bytes

SCHEMA_VERSION_V2 = "iem-national-export/2"
REGION_SCHEMA_V2 = "region-month.v2.schema.json"
MANIFEST_SCHEMA_V2 = "manifest.v2.schema.json"

# (field, number kind of exporter.PLACES; "int", "list" (comma-separated in the mart), or None as is)
Fields = list[tuple[str, str | None]]
ENERGY_205_1_FIELDS: Fields = [
    ("nbs_code", None),
    ("energy_name_zh", None),
    ("statistical_unit", None),
    ("opening_stock", "quantity"),
    ("purchased_quantity", "quantity"),
    ("purchased_value_1k_yuan", "money"),
    ("consumption_total", "quantity"),
    ("consumption_industrial", "quantity"),
    ("consumption_raw_material", "quantity"),
    ("consumption_non_industrial", "quantity"),
    ("consumption_transport", "quantity"),
    ("closing_stock", "quantity"),
    ("supplied_to_others", "quantity"),
    ("produced_inside", "quantity"),
    ("coefficient_used", "coefficient_205_1"),
    ("reference_coefficient", "coefficient_205_1"),
    ("tce_equivalent", "tce"),
]
ENTERPRISE_205_1_EXTRA: Fields = [("energy_codes", "list"), ("has_statement", None), ("balance_closes", None)]
REGION_205_1_EXTRA: Fields = [("enterprises", "int"), ("enterprises_with_statement", "int")]
UNIT_PRODUCT_205_3_FIELDS: Fields = [
    ("product_code", None),
    ("product_name_zh", None),
    ("output_quantity", "quantity"),
    ("output_unit", None),
    ("energy_tce", "tce"),
    ("unit_product_energy", "upe"),
    ("indicator_unit", None),
    ("electricity_basis", None),
    ("standard", None),
    ("limit_grade_reached", None),
    ("limit_status", None),
]
ENERGY_CO2_FIELDS: Fields = [
    ("energy_code", None),
    ("emission_scope", None),
    ("unit", None),
    ("quantity", "quantity"),
    ("quantity_raw_material", "quantity"),
    ("quantity_emitting", "quantity"),
    ("activity", "quantity"),
    ("activity_unit", None),
    ("co2_factor", "co2_factor"),
    ("co2_factor_unit", None),
    ("factor_series", None),
    ("factor_data_year", "int"),
    ("factor_confidence", None),
    ("factor_beyond_data_year", None),
    ("factor_missing", None),
    ("co2_t", "co2"),
]
# CO2 and the dual-control indicators, shared by enterprise, region and region × industry
CARBON_FIELDS: Fields = [
    ("direct_co2_t", "co2"),
    ("indirect_electricity_co2_t", "co2"),
    ("indirect_heat_co2_t", "co2"),
    ("total_co2_t", "co2"),
    ("value_added_10k_yuan", "money"),
    ("co2_t_per_10k_yuan_value_added", "intensity"),
    ("comprehensive_tce_equivalent", "tce"),
    ("raw_material_tce_equivalent", "tce"),
    ("tce_net_of_raw_material", "tce"),
    ("non_fossil_tce_equivalent", "tce"),
    ("tce_net_of_non_fossil", "tce"),
    ("tce_net_of_raw_material_per_10k_yuan_value_added", "intensity"),
    ("tce_net_of_non_fossil_per_10k_yuan_value_added", "intensity"),
]
ENTERPRISE_CARBON_EXTRA: Fields = [
    ("factor_missing", None),
    ("factor_missing_energy_codes", "list"),
    ("grid_factor_t_per_mwh", "grid_factor"),
    ("grid_factor_series", None),
    ("grid_factor_data_year", "int"),
    ("grid_factor_confidence", None),
]
REGION_CARBON_EXTRA: Fields = [("enterprises_reporting", "int"), ("enterprises_factor_missing", "int")]


def _value(row: dict, field: str, kind: str | None):
    value = row.get(field)
    if kind == "list":
        return [] if value is None else sorted(x.strip() for x in str(value).split(",") if x.strip())
    if kind == "int":
        return _int(value)
    if kind is None:
        return value
    return _num(value, kind)


def _pick(row: dict, fields: list[tuple[str, str | None]]) -> dict:
    return {f: _value(row, f, k) for f, k in fields}


def build_region_v2(conn: psycopg.Connection, region_code: str, month: date, v1: dict) -> dict:
    """The v2 document of one region and month. The region, the enterprises (identity, order) and their
    quality warnings are the v1 document's, so both contracts name the same enterprises."""
    cur = conn.cursor(row_factory=dict_row)

    def in_region(table: str, order: str) -> sql.Composed:
        """The rows of a per-enterprise mart for the region's enterprises that month."""
        return sql.SQL(
            "select x.* from {} x join marts.fct_enterprise_monthly f using (enterprise_id, month) "
            "where f.region_code = %s and x.month = %s order by {}"
        ).format(sql.Identifier("marts", table), sql.SQL(order))

    forms = cur.execute(
        in_region("fct_energy_205_1_monthly", "x.enterprise_id, x.sort_order, x.nbs_code"),
        (region_code, month),
    ).fetchall()
    products = cur.execute(
        in_region("fct_energy_205_3_monthly", "x.enterprise_id, x.product_code"),
        (region_code, month),
    ).fetchall()
    co2 = cur.execute(
        in_region("fct_enterprise_energy_co2_monthly", "x.enterprise_id, x.energy_code, x.emission_scope"),
        (region_code, month),
    ).fetchall()
    carbon = {
        r["enterprise_id"]: r
        for r in cur.execute(
            in_region("fct_enterprise_carbon_monthly", "x.enterprise_id"), (region_code, month)
        ).fetchall()
    }
    region_forms = cur.execute(
        "select * from marts.fct_region_205_1_monthly where region_code = %s and month = %s "
        "order by sort_order, nbs_code",
        (region_code, month),
    ).fetchall()
    region_carbon = cur.execute(
        "select * from marts.fct_region_carbon_monthly where region_code = %s and month = %s", (region_code, month)
    ).fetchone()
    industry_carbon = cur.execute(
        "select * from marts.fct_region_industry_carbon_monthly where region_code = %s and month = %s "
        "order by industry_code",
        (region_code, month),
    ).fetchall()

    def by_enterprise(rows, fields):
        out: dict[str, list[dict]] = {}
        for r in rows:
            out.setdefault(r["enterprise_id"], []).append(_pick(r, fields))
        return out

    forms_by = by_enterprise(forms, ENERGY_205_1_FIELDS + ENTERPRISE_205_1_EXTRA)
    products_by = by_enterprise(products, UNIT_PRODUCT_205_3_FIELDS)
    co2_by = by_enterprise(co2, ENERGY_CO2_FIELDS)
    enterprises = []
    for e in v1["enterprises"]:
        ent = e["enterprise_id"]
        enterprises.append(
            {
                **{k: e[k] for k in ("enterprise_id", "name", "registered_region_code", "industry_code")},
                "registered_industry_code": e["registered_industry_code"],
                "quality_warnings": e["quality_warnings"],
                "energy_205_1": forms_by.get(ent, []),
                "unit_product_205_3": products_by.get(ent, []),
                "carbon": None if ent not in carbon else _pick(carbon[ent], CARBON_FIELDS + ENTERPRISE_CARBON_EXTRA),
                "energy_co2": co2_by.get(ent, []),
            }
        )
    return {
        "schema_version": SCHEMA_VERSION_V2,
        "region": v1["region"],
        "month": v1["month"],
        "summary": {
            "energy_205_1": [_pick(r, ENERGY_205_1_FIELDS + REGION_205_1_EXTRA) for r in region_forms],
            "carbon": None
            if region_carbon is None
            else {
                **_pick(region_carbon, REGION_CARBON_EXTRA + CARBON_FIELDS),
                "by_industry": [
                    {"industry_code": i["industry_code"], **_pick(i, REGION_CARBON_EXTRA + CARBON_FIELDS)}
                    for i in industry_carbon
                ],
            },
        },
        "enterprises": enterprises,
    }


def _cell(value, kind: str | None) -> str:
    if kind == "list":
        return ";".join(_text(v) for v in value)
    return _text(value, None if kind == "int" else kind)


def _rows(prefix: list[str], rows: list[dict], fields) -> list[list[str]]:
    return [[*prefix, *(_cell(r[f], k) for f, k in fields)] for r in rows]


def render_files_v2(doc: dict) -> dict[str, bytes]:
    """The v2 data files of one region and month: the JSON document and its CSV views."""
    m, region, ents = doc["month"], doc["region"]["region_code"], doc["enterprises"]
    f205 = ENERGY_205_1_FIELDS + ENTERPRISE_205_1_EXTRA
    carbon_fields = CARBON_FIELDS + ENTERPRISE_CARBON_EXTRA
    region_carbon_fields = REGION_CARBON_EXTRA + CARBON_FIELDS
    summary_carbon = doc["summary"]["carbon"]
    region_carbon_rows = []
    if summary_carbon is not None:
        region_carbon_rows = [
            [m, region, "region", "", *(_cell(summary_carbon[f], k) for f, k in region_carbon_fields)],
            *(
                [m, region, "industry", _text(i["industry_code"]), *(_cell(i[f], k) for f, k in region_carbon_fields)]
                for i in summary_carbon["by_industry"]
            ),
        ]
    return {
        "enterprises.json": (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8"),
        "energy_205_1.csv": _csv(
            ["month", "enterprise_id", *(f for f, _ in f205)],
            [row for e in ents for row in _rows([m, e["enterprise_id"]], e["energy_205_1"], f205)],
        ),
        "unit_product_205_3.csv": _csv(
            ["month", "enterprise_id", *(f for f, _ in UNIT_PRODUCT_205_3_FIELDS)],
            [
                row
                for e in ents
                for row in _rows([m, e["enterprise_id"]], e["unit_product_205_3"], UNIT_PRODUCT_205_3_FIELDS)
            ],
        ),
        "carbon.csv": _csv(
            ["month", "enterprise_id", *(f for f, _ in carbon_fields)],
            [
                row
                for e in ents
                if e["carbon"] is not None
                for row in _rows([m, e["enterprise_id"]], [e["carbon"]], carbon_fields)
            ],
        ),
        "energy_co2.csv": _csv(
            ["month", "enterprise_id", *(f for f, _ in ENERGY_CO2_FIELDS)],
            [row for e in ents for row in _rows([m, e["enterprise_id"]], e["energy_co2"], ENERGY_CO2_FIELDS)],
        ),
        "region_205_1.csv": _csv(
            ["month", "region_code", *(f for f, _ in ENERGY_205_1_FIELDS + REGION_205_1_EXTRA)],
            _rows([m, region], doc["summary"]["energy_205_1"], ENERGY_205_1_FIELDS + REGION_205_1_EXTRA),
        ),
        "region_carbon.csv": _csv(
            ["month", "region_code", "level", "industry_code", *(f for f, _ in region_carbon_fields)],
            region_carbon_rows,
        ),
    }


def counts_v2(doc: dict) -> dict[str, int]:
    ents = doc["enterprises"]
    carbon = doc["summary"]["carbon"]
    return {
        "enterprises": len(ents),
        "energy_205_1_rows": sum(len(e["energy_205_1"]) for e in ents),
        "unit_product_205_3_rows": sum(len(e["unit_product_205_3"]) for e in ents),
        "energy_co2_rows": sum(len(e["energy_co2"]) for e in ents),
        "region_205_1_rows": len(doc["summary"]["energy_205_1"]),
        "region_industry_carbon_rows": 0 if carbon is None else len(carbon["by_industry"]),
    }


def manifest_v2(
    region_code: str, month: date, revision: int, files: dict[str, bytes], doc: dict, watermark, quality: dict
) -> bytes:
    """manifest.json of a v2 revision: as v1's, with the v2 schema version and row counts."""
    return manifest_bytes(
        SCHEMA_VERSION_V2,
        MANIFEST_SCHEMA_V2,
        "v2 manifest",
        region_code,
        month,
        revision,
        files,
        counts_v2(doc),
        watermark,
        quality,
    )

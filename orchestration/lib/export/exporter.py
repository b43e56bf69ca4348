"""Monthly export per pilot region: content, ledger, files and delivery.

The content is a pure function of the marts for that region and month: no wall-clock time, stable
ordering, fixed decimal places. So an unchanged month gives identical bytes and no new revision;
changed data gives revision n+1 with a diff naming the changed rows. Every revision is kept in the
ledger byte for byte. A region whose blocking checks fail is not written and not delivered.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from importlib import resources
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import jsonschema
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .delivery import deliver

SCHEMA_VERSION = "iem-national-export/1"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
STATUS_ORDER = {"unchanged": 0, "exported": 1, "blocked": 2}

PLACES = {"quantity": 3, "tce": 3, "coefficient": 4, "share": 4, "money": 1, "intensity": 4, "upe": 2}
# contract v2 only: 205-1 coefficients (tce per statistical unit), CO2 (t), CO2 factors, the grid factor
PLACES |= {"coefficient_205_1": 6, "co2": 3, "co2_factor": 6, "grid_factor": 4}


REGION_SCHEMA = "region-month.v1.schema.json"
MANIFEST_SCHEMA = "manifest.v1.schema.json"


@functools.cache
def json_schema(name: str) -> dict:
    """One of the export's JSON Schemas (orchestration/lib/export/schema/), by file name."""
    return json.loads(resources.files("orchestration.lib.export").joinpath("schema", name).read_text(encoding="utf-8"))


def validate_against_contract(document: dict, schema_name: str, what: str) -> None:
    """Raise ValueError naming the document, the path in it and the reason when it breaks its schema."""
    validator = jsonschema.Draft202012Validator(json_schema(schema_name))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{what}: {'/'.join(map(str, e.absolute_path)) or '(document)'}: {e.message}" for e in errors[:20]]
        raise ValueError(f"export breaks its contract {schema_name}:\n" + "\n".join(lines))


def ensure_ledger(conn: psycopg.Connection) -> None:
    """The ledger tables of every contract (ledger.sql is v1's; each later contract gets the same tables
    under its own prefix, see `Contract`)."""
    ddl = resources.files("orchestration.lib.export").joinpath("ledger.sql").read_text(encoding="utf-8")
    for contract in CONTRACTS:
        conn.execute(ddl.replace(f"audit.{V1.tables}", f"audit.{contract.tables}"))


def _num(value, kind: str):
    """Fixed decimal places, as a JSON number (None stays None)."""
    if value is None:
        return None
    with localcontext(prec=80):  # a huge value (the gate blocks its region) must not crash the others
        q = Decimal(value).quantize(Decimal(1).scaleb(-PLACES[kind]), rounding=ROUND_HALF_UP)
    return float(q) if PLACES[kind] else int(q)


def _int(value):
    return None if value is None else int(value)


def _text(value, kind: str | None = None) -> str:
    """A CSV cell: empty for None, true/false for booleans, numbers with the fixed decimal places of `kind`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return json.dumps(value)
    if kind is not None:
        return f"{value:.{PLACES[kind]}f}"
    text = str(value)
    if text[:1] in _FORMULA_START and not isinstance(value, (int, float, Decimal)):
        # a text cell a spreadsheet would run as a formula (CSV injection): kept readable, never evaluated;
        # the JSON file carries the text exactly as received
        return "'" + text
    return text


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def build_region(conn: psycopg.Connection, region_code: str, month: date, warnings: list[dict]) -> dict:
    """The export document of one region and month, read from the marts."""
    cur = conn.cursor(row_factory=dict_row)
    region = cur.execute(
        "select region_code, name_zh, name_en from marts.dim_region where region_code = %s", (region_code,)
    ).fetchone() or {"region_code": region_code, "name_zh": None, "name_en": None}
    summary = cur.execute(
        "select * from marts.fct_region_monthly where region_code = %s and month = %s", (region_code, month)
    ).fetchone()
    industries = cur.execute(
        "select industry_code, comprehensive_tce_equivalent, comprehensive_tce_equal_value, enterprises_expected, "
        "enterprises_reporting, share_of_region from marts.fct_region_industry_monthly "
        "where region_code = %s and month = %s order by industry_code",
        (region_code, month),
    ).fetchall()
    enterprises = cur.execute(
        "select f.*, d.name, d.registered_region_code, d.industry_code as division, d.registered_industry_code "
        "from marts.fct_enterprise_monthly f join marts.dim_enterprise d using (enterprise_id) "
        "where f.region_code = %s and f.month = %s order by f.enterprise_id",
        (region_code, month),
    ).fetchall()
    energy = cur.execute(
        # the coefficient actually used (205-1 采用折标系数: meter overrides included), so that coefficient ×
        # quantity = tce on every row; the energy type's default only where the quantity is 0
        "select e.enterprise_id, e.energy_code, t.name_zh, e.unit, e.quantity_in, e.quantity, e.tce_equivalent, "
        "e.tce_equal_value, coalesce(e.coefficient_kgce_per_unit, t.coefficient_kgce_per_unit) "
        "as coefficient_kgce_per_unit, e.completeness, e.estimated_share "
        "from marts.fct_enterprise_energy_monthly e join marts.dim_energy_type t using (energy_code) "
        "join marts.fct_enterprise_monthly f using (enterprise_id, month) "
        "where f.region_code = %s and e.month = %s order by e.enterprise_id, e.energy_code",
        (region_code, month),
    ).fetchall()
    products = cur.execute(
        "select p.* from marts.fct_unit_product_energy_monthly p join marts.fct_enterprise_monthly f "
        "using (enterprise_id, month) where f.region_code = %s and p.month = %s "
        "order by p.enterprise_id, p.product_code",
        (region_code, month),
    ).fetchall()
    energy_by: dict[str, list[dict]] = {}
    for e in energy:
        energy_by.setdefault(e["enterprise_id"], []).append(
            {
                "energy_code": e["energy_code"],
                "name_zh": e["name_zh"],
                "unit": e["unit"],
                "quantity_purchased": _num(e["quantity_in"], "quantity"),
                "quantity_consumed": _num(e["quantity"], "quantity"),
                "coefficient_kgce_per_unit": _num(e["coefficient_kgce_per_unit"], "coefficient"),
                "tce_equivalent": _num(e["tce_equivalent"], "tce"),
                "tce_equal_value": _num(e["tce_equal_value"], "tce"),
                "completeness": _num(e["completeness"], "share"),
                "estimated_share": _num(e["estimated_share"], "share"),
            }
        )
    products_by: dict[str, list[dict]] = {}
    for p in products:
        products_by.setdefault(p["enterprise_id"], []).append(
            {
                "product_code": p["product_code"],
                "output_quantity": _num(p["output_quantity"], "quantity"),
                "output_unit": p["output_unit"],
                "energy_tce_equivalent": _num(p["energy_tce_equivalent"], "tce"),
                "unit_product_energy": _num(p["unit_product_energy"], "upe"),
                "indicator_unit": p["indicator_unit"],
                "standard": p["standard"],
                "edition": p["edition"],
                "limit_value_grade3": _num(p["limit_value_grade3"], "upe"),
                "limit_grade_reached": p["limit_grade_reached"],
                "is_possible_breach": p["is_possible_breach"],
                "limit_status": p.get("limit_status"),
            }
        )
    warned: dict[str, list[str]] = {}
    for w in warnings:
        for f in w.get("failures", []):
            row = f.get("row") or {}
            ent = row.get("enterprise_id")
            if ent and str(row.get("month", month))[:7] == f"{month:%Y-%m}":
                warned.setdefault(ent, []).append(w["name"])
    doc_enterprises = []
    for e in enterprises:
        doc_enterprises.append(
            {
                "enterprise_id": e["enterprise_id"],
                "name": e["name"],
                "registered_region_code": e["registered_region_code"],
                "industry_code": e["division"],
                "registered_industry_code": e["registered_industry_code"],
                "comprehensive_tce_equivalent": _num(e["comprehensive_tce_equivalent"], "tce"),
                "comprehensive_tce_equal_value": _num(e["comprehensive_tce_equal_value"], "tce"),
                "gross_output_10k_yuan": _num(e["gross_output_10k_yuan"], "money"),
                "value_added_10k_yuan": _num(e["value_added_10k_yuan"], "money"),
                "tce_per_10k_yuan_value_added": _num(e["tce_per_10k_yuan_value_added"], "intensity"),
                "tce_per_10k_yuan_gross_output": _num(e["tce_per_10k_yuan_gross_output"], "intensity"),
                "completeness": _num(e["completeness"], "share"),
                "estimated_share": _num(e["estimated_share"], "share"),
                "quality_warnings": sorted(set(warned.get(e["enterprise_id"], []))),
                "energy": energy_by.get(e["enterprise_id"], []),
                "products": products_by.get(e["enterprise_id"], []),
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "region": dict(region),
        "month": f"{month:%Y-%m}",
        "summary": None
        if summary is None
        else {
            "comprehensive_tce_equivalent": _num(summary["comprehensive_tce_equivalent"], "tce"),
            "comprehensive_tce_equal_value": _num(summary["comprehensive_tce_equal_value"], "tce"),
            "enterprises_expected": _int(summary["enterprises_expected"]),
            "enterprises_reporting": _int(summary["enterprises_reporting"]),
            "value_added_10k_yuan": _num(summary["value_added_10k_yuan"], "money"),
            "tce_per_10k_yuan_value_added": _num(summary["tce_per_10k_yuan_value_added"], "intensity"),
            "by_industry": [
                {
                    "industry_code": i["industry_code"],
                    "comprehensive_tce_equivalent": _num(i["comprehensive_tce_equivalent"], "tce"),
                    "comprehensive_tce_equal_value": _num(i["comprehensive_tce_equal_value"], "tce"),
                    "enterprises_expected": _int(i["enterprises_expected"]),
                    "enterprises_reporting": _int(i["enterprises_reporting"]),
                    "share_of_region": _num(i["share_of_region"], "share"),
                }
                for i in industries
            ],
        },
        "enterprises": doc_enterprises,
    }


# CSV columns: (field, number kind for fixed decimal places or None for text)
ENTERPRISE_COLUMNS = [
    ("enterprise_id", None),
    ("name", None),
    ("registered_region_code", None),
    ("industry_code", None),
    ("registered_industry_code", None),
    ("comprehensive_tce_equivalent", "tce"),
    ("comprehensive_tce_equal_value", "tce"),
    ("gross_output_10k_yuan", "money"),
    ("value_added_10k_yuan", "money"),
    ("tce_per_10k_yuan_value_added", "intensity"),
    ("tce_per_10k_yuan_gross_output", "intensity"),
    ("completeness", "share"),
    ("estimated_share", "share"),
]
ENERGY_COLUMNS = [
    ("energy_code", None),
    ("name_zh", None),
    ("unit", None),
    ("quantity_purchased", "quantity"),
    ("quantity_consumed", "quantity"),
    ("coefficient_kgce_per_unit", "coefficient"),
    ("tce_equivalent", "tce"),
    ("tce_equal_value", "tce"),
    ("completeness", "share"),
    ("estimated_share", "share"),
]
PRODUCT_COLUMNS = [
    ("product_code", None),
    ("output_quantity", "quantity"),
    ("output_unit", None),
    ("energy_tce_equivalent", "tce"),
    ("unit_product_energy", "upe"),
    ("indicator_unit", None),
    ("standard", None),
    ("edition", None),
    ("limit_value_grade3", "upe"),
    ("limit_grade_reached", None),
    ("is_possible_breach", None),
    ("limit_status", None),
]


def _csv(header: list[str], rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def render_files(doc: dict) -> dict[str, bytes]:
    """The data files of one region and month: the JSON document and its CSV views (one row per
    enterprise; per enterprise × energy type; per enterprise × product)."""
    m, ents = doc["month"], doc["enterprises"]
    return {
        "enterprises.json": (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8"),
        "enterprises.csv": _csv(
            ["month", *(c for c, _ in ENTERPRISE_COLUMNS), "quality_warnings"],
            ([m, *(_text(e[c], k) for c, k in ENTERPRISE_COLUMNS), ";".join(e["quality_warnings"])] for e in ents),
        ),
        "enterprise_energy.csv": _csv(
            ["month", "enterprise_id", *(c for c, _ in ENERGY_COLUMNS)],
            ([m, e["enterprise_id"], *(_text(x[c], k) for c, k in ENERGY_COLUMNS)] for e in ents for x in e["energy"]),
        ),
        "enterprise_products.csv": _csv(
            ["month", "enterprise_id", *(c for c, _ in PRODUCT_COLUMNS)],
            (
                [m, e["enterprise_id"], *(_text(x[c], k) for c, k in PRODUCT_COLUMNS)]
                for e in ents
                for x in e["products"]
            ),
        ),
    }


def content_hash(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).hexdigest().encode() + b"\n")
    return h.hexdigest()


NESTED_KEYS = {"energy": "energy_code", "products": "product_code"}


def _keyed_diff(old: list[dict], new: list[dict], key: str) -> dict:
    """Nested rows (an enterprise's energy types or products) added, removed or changed, by their key."""
    before, after = {r[key]: r for r in old}, {r[key]: r for r in new}
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": [
            {key: k, "fields": sorted(f for f in after[k] if before[k].get(f) != after[k].get(f))}
            for k in sorted(set(before) & set(after))
            if before[k] != after[k]
        ],
    }


def diff_documents(old: dict | None, new: dict, nested: dict[str, str] = NESTED_KEYS) -> dict:
    """Rows (enterprises) added, removed or changed between two revisions: the changed fields with
    their values before and after, and for energy types and products the changed nested rows."""
    if old is None:
        return {
            "added": [e["enterprise_id"] for e in new["enterprises"]],
            "removed": [],
            "changed": [],
            "summary_changed": True,
        }
    before = {e["enterprise_id"]: e for e in old["enterprises"]}
    after = {e["enterprise_id"]: e for e in new["enterprises"]}
    changed = []
    for ent in sorted(set(before) & set(after)):
        fields = sorted(k for k in after[ent] if before[ent].get(k) != after[ent].get(k))
        if fields:
            flat = [k for k in fields if k not in nested]
            changed.append(
                {
                    "enterprise_id": ent,
                    "fields": fields,
                    "before": {k: before[ent].get(k) for k in flat},
                    "after": {k: after[ent].get(k) for k in flat},
                    **{k: _keyed_diff(before[ent].get(k, []), after[ent][k], nested[k]) for k in fields if k in nested},
                }
            )
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": changed,
        "summary_changed": old.get("summary") != new.get("summary"),
    }


def _manifest(
    region_code: str, month: date, revision: int, files: dict[str, bytes], doc: dict, watermark, quality: dict
) -> bytes:
    counts = {
        "enterprises": len(doc["enterprises"]),
        "energy_rows": sum(len(e["energy"]) for e in doc["enterprises"]),
        "product_rows": sum(len(e["products"]) for e in doc["enterprises"]),
    }
    return manifest_bytes(
        SCHEMA_VERSION, MANIFEST_SCHEMA, "manifest", region_code, month, revision, files, counts, watermark, quality
    )


def manifest_bytes(
    schema_version: str,
    schema_name: str,
    what: str,
    region_code: str,
    month: date,
    revision: int,
    files: dict[str, bytes],
    counts: dict,
    watermark,
    quality: dict,
) -> bytes:
    """manifest.json of a revision of any contract (its schema version, counts and schema), validated."""
    manifest = {
        "schema_version": schema_version,
        "region_code": region_code,
        "month": f"{month:%Y-%m}",
        "revision": revision,
        "counts": counts,
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in sorted(files.items())
        },
        "content_sha256": content_hash(files),
        "data_watermark": watermark.astimezone(LOCAL_TZ).isoformat() if watermark else None,
        "quality": quality,
    }
    validate_against_contract(manifest, schema_name, f"{what} of region {region_code}, month {month:%Y-%m}")
    return (json.dumps(manifest, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _write_files(folder: Path, files: dict[str, bytes]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in sorted(files.items()):
        path = folder / name
        if not path.exists() or path.read_bytes() != data:
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        written.append(str(path))
    return written


def export_month(
    url: str, month: date, outbox: Path, *, quality, deliver_to: str | None = None, deliver_v2_to: str | None = None
) -> dict:
    """Export every pilot region with data for `month`; see the module doc. Returns DESIGN §7's --json.
    Contract v1 goes to `deliver_to`; contract v2 only to its own destination `deliver_v2_to` (a receiver of
    v1 sees exactly what it saw before v2 existed)."""
    month = month.replace(day=1)
    outbox = Path(outbox)
    regions_out = []
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('audit.export_v2_runs') is null").fetchone() == (True,):
            ensure_ledger(conn)  # bootstrap made it already where the exporter runs as its role
        conn.commit()
        regions = [
            r[0]
            for r in conn.execute(
                "select distinct region_code from marts.fct_region_monthly where month = %s order by 1", (month,)
            )
        ]
        # data watermark: the latest reading period_end loaded into raw (from the ingest ledger, which
        # records each batch's max period_end, so no scan of raw.readings is needed)
        watermark = cast(
            "tuple",
            conn.execute(
                "select max(max_period_end) from audit.ingest_batches where entity = 'readings' and status = 'loaded'"
            ).fetchone(),
        )[0]
        for region in regions:
            # one exporter at a time per region and month (revision numbers); released at commit
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"iem export {region} {month:%Y-%m}",))
            failed = quality.blocking_failures(region)
            if failed:
                names = sorted({f.name for f in failed})
                conn.execute(
                    "insert into audit.export_runs (region_code, month, status, failed_checks) "
                    "values (%s, %s, 'blocked', %s)",
                    (region, month, json.dumps(names)),
                )
                conn.commit()
                _record_run(conn, V2, region, month, "blocked", failed=names)
                regions_out.append(
                    {
                        "region_code": region,
                        "status": "blocked",
                        "revision": None,
                        "files": [],
                        "failed_checks": names,
                        "v2": {"status": "blocked", "revision": None, "files": [], "failed_checks": names},
                    }
                )
                continue
            warnings = [{"name": w.name, "failures": w.details.get("failures", [])} for w in quality.warnings(region)]
            try:
                doc = build_region(conn, region, month, warnings)
                validate_against_contract(doc, REGION_SCHEMA, f"region {region}, month {month:%Y-%m}")
                files = render_files(doc)
            except (ValueError, ArithmeticError, TypeError) as exc:
                # a region whose document cannot be built (its contract broken, a value that does not
                # format) is blocked with the reason; it never stops the regions after it
                conn.rollback()
                reason = f"export_document: {type(exc).__name__}: {str(exc)[:500]}"
                conn.execute(
                    "insert into audit.export_runs (region_code, month, status, failed_checks) "
                    "values (%s, %s, 'blocked', %s)",
                    (region, month, json.dumps([reason])),
                )
                conn.commit()
                _record_run(conn, V2, region, month, "blocked", failed=[reason])
                regions_out.append(
                    {
                        "region_code": region,
                        "status": "blocked",
                        "revision": None,
                        "files": [],
                        "failed_checks": [reason],
                        "v2": {"status": "blocked", "revision": None, "files": [], "failed_checks": [reason]},
                    }
                )
                continue
            v1 = _keep_revision(conn, V1, region, month, doc, files, watermark, warnings)
            written = _write_files(outbox / f"{month:%Y-%m}" / region, v1["files_all"])
            delivery = None
            if deliver_to:
                delivery = deliver(conn, deliver_to, region, month, v1["revision"], v1["files_all"])
            regions_out.append(
                {
                    "region_code": region,
                    "status": v1["status"],
                    "revision": v1["revision"],
                    "files": written,
                    "failed_checks": [],
                    **({"delivery": delivery} if delivery else {}),
                    "v2": _export_v2(conn, region, month, doc, outbox, watermark, warnings, deliver_v2_to),
                }
            )
    statuses = [s for r in regions_out for s in (r["status"], r["v2"]["status"])]
    worst = max(statuses, key=STATUS_ORDER.__getitem__, default="unchanged")
    return {"month": f"{month:%Y-%m}", "status": worst, "regions": regions_out}


@dataclass(frozen=True)
class Contract:
    """A contract's own revisions and ledger tables (audit.export_* for v1, audit.export_v2_* for v2)."""

    name: str
    tables: str  # prefix of its ledger tables in schema audit
    nested: dict[str, str]

    def table(self, name: str) -> sql.Identifier:
        return sql.Identifier("audit", self.tables + name)


V1 = Contract("v1", "export_", NESTED_KEYS)
V2 = Contract(
    "v2",
    "export_v2_",
    {"energy_205_1": "nbs_code", "unit_product_205_3": "product_code", "energy_co2": "energy_code"},
)
CONTRACTS = (V1, V2)


def _record_run(conn, c: Contract, region: str, month: date, status: str, revision=None, failed=()) -> None:
    conn.execute(
        sql.SQL(
            "insert into {} (region_code, month, status, revision, failed_checks) values (%s, %s, %s, %s, %s)"
        ).format(c.table("runs")),
        (region, month, status, revision, json.dumps(list(failed))),
    )
    conn.commit()


def _keep_revision(
    conn, c: Contract, region: str, month: date, doc: dict, files: dict[str, bytes], watermark, warnings: list[dict]
) -> dict:
    """Same content hash as the latest revision: the kept bytes, no new revision; otherwise revision n+1
    with its diff and its files, byte for byte. Records the run and commits."""
    digest = content_hash(files)
    last = conn.execute(
        sql.SQL(
            "select revision, content_sha256 from {} "
            "where region_code = %s and month = %s order by revision desc limit 1"
        ).format(c.table("revisions")),
        (region, month),
    ).fetchone()
    quality_summary = {
        "blocking_checks_passed": True,
        "warnings": sorted({w["name"] for w in warnings}),
        "enterprises_with_warnings": sorted({e["enterprise_id"] for e in doc["enterprises"] if e["quality_warnings"]}),
    }
    if last and last[1] == digest:
        revision, status = last[0], "unchanged"
        stored: dict[str, bytes] = dict(
            conn.execute(
                sql.SQL(
                    "select file_name, content from {} where region_code = %s and month = %s and revision = %s"
                ).format(c.table("files")),
                (region, month, revision),
            ).fetchall()
        )
        files_all = {k: bytes(v) for k, v in stored.items()}
    else:
        revision = (last[0] + 1) if last else 1
        previous = None
        if last:
            old = conn.execute(
                sql.SQL(
                    "select content from {} where region_code = %s and month = %s "
                    "and revision = %s and file_name = 'enterprises.json'"
                ).format(c.table("files")),
                (region, month, last[0]),
            ).fetchone()
            previous = json.loads(bytes(old[0])) if old else None
        diff = diff_documents(previous, doc, c.nested)
        if c is V1:
            manifest = _manifest(region, month, revision, files, doc, watermark, quality_summary)
        else:
            from .v2 import manifest_v2

            manifest = manifest_v2(region, month, revision, files, doc, watermark, quality_summary)
        files_all = {**files, "manifest.json": manifest}
        conn.execute(
            sql.SQL(
                "insert into {} (region_code, month, revision, content_sha256, "
                "data_watermark, diff) values (%s, %s, %s, %s, %s, %s)"
            ).format(c.table("revisions")),
            (region, month, revision, digest, watermark, json.dumps(diff, ensure_ascii=False)),
        )
        for name, data in files_all.items():
            conn.execute(
                sql.SQL(
                    "insert into {} (region_code, month, revision, file_name, sha256, content) "
                    "values (%s, %s, %s, %s, %s, %s)"
                ).format(c.table("files")),
                (region, month, revision, name, hashlib.sha256(data).hexdigest(), data),
            )
        status = "exported"
    conn.execute(
        sql.SQL("insert into {} (region_code, month, status, revision) values (%s, %s, %s, %s)").format(
            c.table("runs")
        ),
        (region, month, status, revision),
    )
    conn.commit()
    return {"revision": revision, "status": status, "files_all": files_all}


def _export_v2(
    conn, region: str, month: date, v1_doc: dict, outbox: Path, watermark, warnings, deliver_to: str | None
) -> dict:
    """Contract v2 of a region that v1 exported, beside it: its own folder (outbox/v2/<YYYY-MM>/<region>/),
    revisions and ledger. A v2 document that breaks its schema blocks v2 only, with the reason."""
    from .v2 import REGION_SCHEMA_V2, build_region_v2, render_files_v2

    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"iem export v2 {region} {month:%Y-%m}",))
    try:
        doc = build_region_v2(conn, region, month, v1_doc)
        validate_against_contract(doc, REGION_SCHEMA_V2, f"v2 region {region}, month {month:%Y-%m}")
        files = render_files_v2(doc)
    except (ValueError, ArithmeticError, TypeError, psycopg.Error) as exc:  # e.g. a v2 mart not built
        conn.rollback()
        reason = f"export_document_v2: {type(exc).__name__}: {str(exc)[:500]}"
        _record_run(conn, V2, region, month, "blocked", failed=[reason])
        return {"status": "blocked", "revision": None, "files": [], "failed_checks": [reason]}
    kept = _keep_revision(conn, V2, region, month, doc, files, watermark, warnings)
    written = _write_files(outbox / "v2" / f"{month:%Y-%m}" / region, kept["files_all"])
    out = {"status": kept["status"], "revision": kept["revision"], "files": written, "failed_checks": []}
    if deliver_to:
        out["delivery"] = deliver(conn, deliver_to, region, month, kept["revision"], kept["files_all"], contract="v2")
    return out

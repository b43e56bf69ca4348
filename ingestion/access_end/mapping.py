"""Protocol messages → rows of the feed contract (pure functions: no database, no HTTP).

- `enterprise_row`: a registration (enterpriseInfo/apply) → one `enterprises` row.
- `configure_item` / `meter_row`: a data-collection item (dataCollectConfigure) and its metering instrument
  (meteringConfigure) → one `meters` row; the 16-character data code is the meter's identity (meter_id).
  Items at the whole plant with device part 0000 are the enterprise's own totals; data class 04 items
  are products, 09 business indicators: they become `totals`, `production` and `economics` rows.
- `map_upload`: the records of one data upload → contract rows per entity, plus the records that cannot
  be mapped (each with field and reason, kept by the loader in quarantine like any rejected row).

Times: statDate and uploadDate are Beijing time without offset (REVIEW-2026-12 §9.1, S); they become ISO
8601 timestamps with +08:00 here. statType gives the period: 0 real-time = the collection interval
ending at statDate (15 minutes unless the item configures collectInterval), 1 = the local day statDate
falls in, 2 = the calendar month, 3 = the calendar year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .codes import DataCode, energy_codes, process_codes, product_codes, protocol, unit_of

RECORD_FIELDS = (
    "dataCode",
    "dataValue",
    "statType",
    "statDate",
    "inputType",
    "scope",
    "uploadDate",
    "valid",
    "unit",
    "enterpriseCode",
    # carried by public implementations, kept in the raw record but not needed for the contract
    "dataName",
    "deviceId",
    "itemId",
)
_LOCAL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
BEIJING = timezone(timedelta(hours=8))  # China has had no daylight saving time since 1991


class ConfigError(ValueError):
    """A configuration message that cannot be taken: field and reason."""

    def __init__(self, field_name: str | None, reason: str):
        super().__init__(f"{field_name}: {reason}" if field_name else reason)
        self.field = field_name
        self.reason = reason


# ---------------------------------------------------------------- times


def parse_local(text) -> datetime:
    """A Beijing-time string without offset ('2026-01-15 00:15:00') → that moment (+08:00)."""
    if not isinstance(text, str):
        raise ValueError("not a date-time string")
    for fmt in _LOCAL_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=BEIJING)
        except ValueError:
            continue
    raise ValueError("not a Beijing-time date-time (yyyy-MM-dd HH:mm:ss, no offset)")


def iso_local(moment: datetime) -> str:
    """A Beijing-time moment → ISO 8601 with its offset, as the feed contract writes it."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M:%S") + protocol()["protocol"]["local_offset"]


def to_iso(text) -> str:
    return iso_local(parse_local(text))


def period_of(stat_type: str, stat_date: datetime, interval_minutes: int | None = None) -> tuple[datetime, datetime]:
    """(start, end) of the period a value with this statType and statDate covers (Beijing time)."""
    spec = protocol()["stat_types"].get(str(stat_type))
    if spec is None:
        raise ValueError(f"statType must be one of {', '.join(protocol()['stat_types'])}")
    kind = spec["period"]
    if kind == "interval_ending":
        minutes = interval_minutes or spec["default_minutes"]
        return stat_date - timedelta(minutes=minutes), stat_date
    day = datetime(stat_date.year, stat_date.month, stat_date.day, tzinfo=BEIJING)
    if kind == "day":
        return day, day + timedelta(days=1)
    if kind == "month":
        first = day.replace(day=1)
        return first, datetime(first.year + (first.month == 12), first.month % 12 + 1, 1, tzinfo=BEIJING)
    first = datetime(stat_date.year, 1, 1, tzinfo=BEIJING)
    return first, datetime(stat_date.year + 1, 1, 1, tzinfo=BEIJING)


# ---------------------------------------------------------------- registration


def _flag(value) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if text in ("1", "true", "是", "y", "yes"):
        return "true"
    if text in ("0", "false", "否", "n", "no"):
        return "false"
    return text  # the loader rejects it, naming the field


def enterprise_row(body: dict) -> dict:
    """enterpriseInfo/apply → the contract's `enterprises` row. declaredTce, annualTargetTce and
    connectedSince are IEM extensions (the public implementations carry no figure for them)."""
    row = {
        "enterprise_id": body.get("enterpriseCode"),
        "name": body.get("cmpName"),
        "region_code": body.get("regionCode"),
        "industry_code": body.get("industryCode"),
        "has_energy_centre": _flag(body.get("center")),
        "declared_tce": body.get("declaredTce"),
        "annual_target_tce": body.get("annualTargetTce"),
        "connected_since": body.get("connectedSince"),
    }
    return {k: v for k, v in row.items() if v not in (None, "")}


# ---------------------------------------------------------------- data-collection items


@dataclass(frozen=True)
class Item:
    """A configured data-collection item as the service maps its values."""

    data_code: str
    kind: str  # meter | totals | production | economics
    target: str  # energy_code, product_code or economics field
    unit: str | None
    scope: str  # the contract's scope (boundary, a process code, or check)
    direction: str
    stat_type: str
    input_type: str | None
    collect_interval: int | None
    rated_max: str | None
    name: str | None = None
    reading_type: str = "interval"  # from the item's metering instrument (meteringCalculateType)


def _expect(body: dict, name: str, value: str | None, part: str) -> None:
    given = body.get(name)
    if given not in (None, "") and str(given) != value:
        raise ConfigError(name, f"{given!r} disagrees with the data code's {part} {value!r}")


def configure_item(body: dict, configured_processes: set[str] | None = None) -> Item:
    """dataCollectConfigure/add|update → Item, or ConfigError naming the field."""
    try:
        code = DataCode.parse(str(body.get("dataCode") or ""))
    except ValueError as exc:
        raise ConfigError("dataCode", str(exc)) from None
    _expect(body, "processCode", code.process, "process (positions 1-2)")
    _expect(body, "processUnitCode", code.process_unit, "process unit (positions 3-4)")
    _expect(body, "equipmentCode", code.device_type, "device type (positions 5-6)")
    _expect(body, "equipmentUnitCode", code.device, "device (positions 5-8)")
    _expect(body, "energyClassCode", code.data_class, "data class (positions 9-10)")
    _expect(body, "energyTypeCode", code.item, "energy/product code (positions 11-14)")
    _expect(body, "dataUsageCode", code.usage, "data usage (positions 15-16)")
    p = protocol()
    cls = p["data_classes"].get(code.data_class)
    if cls is None:
        raise ConfigError("dataCode", f"data class {code.data_class} is not one of {', '.join(p['data_classes'])}")
    if cls["maps_to"] is None:
        raise ConfigError("dataCode", f"data class {code.data_class} ({cls['name']}): {cls['reason']}")
    usage = p["usages"].get(code.usage)
    if usage is None:
        raise ConfigError("dataUsageCode", f"data usage {code.usage} is not one of {', '.join(p['usages'])}")
    if usage["direction"] is None:
        raise ConfigError("dataUsageCode", usage["reason"])
    stat_type = str(body.get("statType", "0"))
    if stat_type not in p["stat_types"]:
        raise ConfigError("statType", f"statType must be one of {', '.join(p['stat_types'])}")
    input_type = body.get("inputType")
    if input_type not in (None, "") and str(input_type) not in p["input_types"]:
        raise ConfigError("inputType", f"inputType must be one of {', '.join(p['input_types'])}")
    scope_code = str(body.get("scope") or ("1" if code.process == p["whole_plant_process_code"] else "2"))
    scope_spec = p["scopes"].get(scope_code)
    if scope_spec is None:
        raise ConfigError("scope", f"scope must be one of {', '.join(p['scopes'])}")
    if (
        code.process != p["whole_plant_process_code"]
        and configured_processes is not None
        and code.process not in configured_processes
    ):
        raise ConfigError("processCode", f"process {code.process} is not configured (processConfigure/add first)")
    scope = _iem_scope(scope_spec["iem_scope"], code)
    interval = body.get("collectInterval")
    if interval not in (None, ""):
        try:
            interval = int(str(interval))
        except (TypeError, ValueError):
            raise ConfigError("collectInterval", "collectInterval is a whole number of minutes") from None
        if not 1 <= interval <= 1440:
            raise ConfigError("collectInterval", "collectInterval is between 1 and 1440 minutes")
    else:
        interval = None
    unit = unit_of(body.get("unit"))
    kind = cls["maps_to"]
    if kind == "energy":
        ec = energy_codes().get((cls["code_list"], code.item))
        if ec is None:
            raise ConfigError(
                "energyTypeCode",
                f"{cls['code_list'].replace('_', ' ')} code {code.item} is not in the dictionary "
                "(seed access_end_energy_codes)",
            )
        aggregate = code.device == p["aggregate_device_code"] and code.process == p["whole_plant_process_code"]
        return Item(
            code.code,
            "totals" if aggregate else "meter",
            ec.energy_code,
            unit or unit_of(ec.collect_unit),
            scope,
            usage["direction"],
            stat_type,
            None if input_type in (None, "") else str(input_type),
            interval,
            None if body.get("dataValueMax") in (None, "") else str(body.get("dataValueMax")),
            body.get("collectItemName"),
        )
    if kind == "production":
        prod = product_codes().get(code.item)
        if prod is None:
            raise ConfigError(
                "energyTypeCode", f"product code {code.item} is not in the dictionary (seed access_end_product_codes)"
            )
        return Item(
            code.code,
            "production",
            prod["product_code"],
            unit or prod["unit"],
            scope,
            "in",
            stat_type,
            None,
            None,
            None,
            body.get("collectItemName"),
        )
    target = p["business_targets"].get(code.item)
    if target is None:
        raise ConfigError(
            "energyTypeCode", f"business indicator code {code.item} is not one of {', '.join(p['business_targets'])}"
        )
    return Item(
        code.code,
        "economics",
        target["field"],
        None,
        scope,
        "in",
        stat_type,
        None,
        None,
        None,
        body.get("collectItemName"),
    )


def _iem_scope(kind: str, code: DataCode) -> str:
    p = protocol()
    if kind == "check":
        return "check"
    if code.process == p["whole_plant_process_code"]:
        if kind == "process":
            raise ConfigError("scope", "scope 2 (生产工序) needs a process code other than 00")
        return "boundary"
    if kind == "whole_plant":
        raise ConfigError("scope", f"scope 1 (全厂) needs process code 00, not {code.process}")
    proc = process_codes().get(code.process)
    if proc is None:
        raise ConfigError(
            "processCode", f"process code {code.process} is not in the dictionary (seed access_end_process_codes)"
        )
    return proc["scope"]


def _number_text(value) -> str | None:
    return None if value in (None, "") else str(value)


def meter_row(enterprise_code: str, item: Item, metering: dict | None) -> dict:
    """The contract's `meters` row of a meter item with its metering instrument (if configured)."""
    m = metering or {}
    p = protocol()
    calc = str(m.get("meteringCalculateType", "1"))
    calc_spec = p["metering_calculate_types"].get(calc)
    if calc_spec is None:
        raise ConfigError(
            "meteringCalculateType", f"meteringCalculateType must be one of {', '.join(p['metering_calculate_types'])}"
        )
    multiplier = _number_text(m.get("magnification"))
    if multiplier is None and m.get("ct") not in (None, "") and m.get("pt") not in (None, ""):
        try:
            multiplier = f"{float(m['ct']) * float(m['pt']):g}"
        except (TypeError, ValueError):
            raise ConfigError("ct", "ct and pt are numbers (their product is the multiplier)") from None
    reading_type = calc_spec["reading_type"]
    row = {
        "enterprise_id": enterprise_code,
        "meter_id": item.data_code,
        "energy_code": item.target,
        "unit": item.unit,
        "reading_type": reading_type,
        "multiplier": multiplier or "1",
        "register_max": _number_text(m.get("registerMax")) if reading_type == "register" else None,
        "direction": item.direction,
        "scope": item.scope,
        "rated_max": item.rated_max,
        "calibration_valid_until": _date_text(m.get("nextCalibration"), "nextCalibration"),
        "calibrated_on": _date_text(m.get("latelyCalibration"), "latelyCalibration"),
        "metering_level": _number_text(m.get("meteringLevel")),
        "accuracy_class": _number_text(m.get("accuracyLevel")),
        "ct_ratio": _number_text(m.get("ct")),
        "pt_ratio": _number_text(m.get("pt")),
        "installed_at": _iso_or_none(m.get("installDate"), "installDate"),
        "replaced_at": _iso_or_none(m.get("measureStateDate"), "measureStateDate")
        if str(m.get("measureState")) == "3"
        else None,
    }
    return {k: v for k, v in row.items() if v is not None}


def _date_text(value, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return parse_local(value).date().isoformat()
    except ValueError as exc:
        raise ConfigError(name, str(exc)) from None


def _iso_or_none(value, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return to_iso(value)
    except ValueError as exc:
        raise ConfigError(name, str(exc)) from None


# ---------------------------------------------------------------- data uploads


@dataclass
class Mapped:
    """One upload mapped: rows per entity as (record index, row), and rejects per entity."""

    rows: dict[str, list[tuple[int, dict]]] = field(default_factory=dict)
    rejects: dict[str, list[dict]] = field(default_factory=dict)
    merged: dict[int, int] = field(default_factory=dict)  # record index → the index of the row it was merged into
    unknown_fields: set[str] = field(default_factory=set)

    def reject(self, entity: str, index: int, field_name: str | None, value, reason: str, raw: str) -> None:
        self.rejects.setdefault(entity, []).append(
            {
                "row_number": index,
                "field": field_name,
                "value": None if value is None else str(value)[:2000],
                "reason": reason,
                "raw_row": raw,
            }
        )


ENTITY_OF_KIND = {"meter": "readings", "totals": "totals", "production": "production", "economics": "economics"}


def map_upload(
    enterprise_code: str,
    envelope: dict,
    records: list,
    items: dict[str, Item],
    *,
    raw_of=str,
    previous_economics=None,
) -> Mapped:
    """The records of one dataUpload → contract rows. Record index = position in `data` (1-based), the
    row number the loader, the answer and `iem errors` report. `previous_economics(month)` gives the
    latest stored (gross_output, value_added) of a month, so a message with one indicator keeps the other."""
    out = Mapped()
    p = protocol()
    upload_default = envelope.get("uploadDate")
    economics: dict[tuple, tuple[int, dict]] = {}
    for index, rec in enumerate(records, start=1):
        raw = raw_of(rec)
        if not isinstance(rec, dict):
            out.reject("readings", index, None, None, "record is not a JSON object", raw)
            continue
        out.unknown_fields |= set(rec) - set(RECORD_FIELDS)
        code = rec.get("dataCode")
        if not isinstance(code, str) or not code.strip():
            out.reject("readings", index, "dataCode", code, "missing required field", raw)
            continue
        code = code.strip()
        item = items.get(code)
        if item is None:
            try:
                DataCode.parse(code)
            except ValueError as exc:
                out.reject("readings", index, "dataCode", code, f"not a data code: {exc}", raw)
                continue
            out.reject(
                "readings",
                index,
                "dataCode",
                code,
                f"unknown meter: data code {code} is not a configured data-collection item of this enterprise "
                "(dataCollectConfigure/add first)",
                raw,
            )
            continue
        entity = ENTITY_OF_KIND[item.kind]
        if rec.get("valid") in (False, "false", "0", 0):
            out.reject(
                entity,
                index,
                "valid",
                rec.get("valid"),
                "the enterprise marked this value invalid (valid = false)",
                raw,
            )
            continue
        stat_type = str(rec.get("statType", item.stat_type))
        if stat_type not in p["stat_types"]:
            out.reject(
                entity,
                index,
                "statType",
                rec.get("statType"),
                f"statType must be one of {', '.join(p['stat_types'])}",
                raw,
            )
            continue
        try:
            stat_date = parse_local(rec.get("statDate"))
        except ValueError as exc:
            reason = "missing required field" if rec.get("statDate") in (None, "") else str(exc)
            out.reject(entity, index, "statDate", rec.get("statDate"), reason, raw)
            continue
        upload = rec.get("uploadDate", upload_default)
        try:
            sent_at = to_iso(upload)
        except ValueError as exc:
            reason = (
                "missing required field (uploadDate, in the record or the message)"
                if upload in (None, "")
                else str(exc)
            )
            out.reject(entity, index, "uploadDate", upload, reason, raw)
            continue
        start, end = period_of(stat_type, stat_date, item.collect_interval)
        value = rec.get("dataValue")
        value = None if value is None else str(value)
        ent_id = rec.get("enterpriseCode") or enterprise_code
        unit = unit_of(rec.get("unit")) or item.unit
        if item.kind == "meter":
            register = item.reading_type == "register"
            input_type = str(rec.get("inputType") or item.input_type or "4")
            quality = p["input_types"].get(input_type, {}).get("quality")
            if quality is None:
                out.reject(
                    entity,
                    index,
                    "inputType",
                    rec.get("inputType"),
                    f"inputType must be one of {', '.join(p['input_types'])}",
                    raw,
                )
                continue
            row = {
                "enterprise_id": ent_id,
                "meter_id": code,
                "period_start": None if register else iso_local(start),
                "period_end": iso_local(end),
                "value": value,
                "unit": unit,
                "quality": quality,
                "sent_at": sent_at,
            }
        elif item.kind == "totals":
            if stat_type == "0":
                out.reject(
                    entity,
                    index,
                    "statType",
                    stat_type,
                    "a reported total is a day, month or year figure (statType 1, 2, 3)",
                    raw,
                )
                continue
            row = {
                "enterprise_id": ent_id,
                "energy_code": item.target,
                "period_start": iso_local(start),
                "period_end": iso_local(end),
                "value": value,
                "unit": unit,
                "sent_at": sent_at,
            }
        elif item.kind == "production":
            if stat_type == "0":
                out.reject(
                    entity,
                    index,
                    "statType",
                    stat_type,
                    "product output is a day, month or year figure (statType 1, 2, 3)",
                    raw,
                )
                continue
            row = {
                "enterprise_id": ent_id,
                "product_code": item.target,
                "period_start": iso_local(start),
                "period_end": iso_local(end),
                "quantity": value,
                "unit": unit,
                "scope": None if item.scope in ("boundary", "check") else item.scope,
                "sent_at": sent_at,
            }
        else:
            if stat_type != "2":
                out.reject(
                    entity,
                    index,
                    "statType",
                    stat_type,
                    "gross output and value added are monthly figures (statType 2)",
                    raw,
                )
                continue
            month = f"{start:%Y-%m}"
            key = (ent_id, month, sent_at)
            if key in economics:
                first, row = economics[key]
                row[item.target] = value
                out.merged[index] = first
                continue
            row = {"enterprise_id": ent_id, "month": month, "sent_at": sent_at, item.target: value}
            economics[key] = (index, row)
        out.rows.setdefault(entity, []).append((index, row))
    for entity_rows in out.rows.values():  # absent fields are left out (the contract's defaults apply)
        for _, row in entity_rows:
            for k in [k for k, v in row.items() if v is None]:
                del row[k]
    if previous_economics is not None:
        fields = [t["field"] for t in p["business_targets"].values()]
        for _, row in out.rows.get("economics", []):
            missing = [f for f in fields if f not in row]
            if missing:
                before = previous_economics(row["month"]) or {}
                for f in missing:
                    if before.get(f) is not None:
                        row[f] = str(before[f])
    return out

"""The protocol's codes and base dictionaries, read once from `protocol.yaml` and the dbt seeds.

The 16-character data code (采集数据项编码, REVIEW-2026-12 §9.1, S):
positions 1-2 process (00 = whole plant), 3-4 process unit, 5-6 key device type, 7-8 device number,
9-10 data class, 11-14 energy / working medium / product / indicator code, 15-16 data usage.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from ..reference import SEEDS_DIR, read_seed

DATA_CODE = re.compile(r"^\d{16}$")


@dataclass(frozen=True)
class DataCode:
    """A 16-character data code split into its parts."""

    code: str
    process: str
    process_unit: str
    device_type: str
    device_number: str
    data_class: str
    item: str  # 4-digit energy / working medium / product / indicator code
    usage: str

    @property
    def device(self) -> str:
        return self.device_type + self.device_number

    @classmethod
    def parse(cls, code: str) -> DataCode:
        if not isinstance(code, str) or not DATA_CODE.match(code):
            raise ValueError(
                "a data code has 16 digits (process 2, unit 2, device type 2, number 2, class 2, code 4, usage 2)"
            )
        return cls(code, code[0:2], code[2:4], code[4:6], code[6:8], code[8:10], code[10:14], code[14:16])

    @staticmethod
    def compose(process: str, process_unit: str, device: str, data_class: str, item: str, usage: str) -> str:
        return f"{process}{process_unit}{device}{data_class}{item}{usage}"


@cache
def protocol() -> dict:
    text = resources.files("ingestion.access_end").joinpath("protocol.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _env_number(name: str, default, kind=float):
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


@dataclass(frozen=True)
class ServiceSettings:
    reg_version: str
    accepted_reg_versions: tuple[str, ...]
    token_ttl_seconds: int
    max_body_bytes: int
    max_records_per_message: int
    rate_per_second: float
    rate_burst: int
    anonymous_rate_per_second: float
    anonymous_burst: int
    enterprise_upload_time: str
    open_enrolment: bool = False

    @classmethod
    def from_env(cls, open_enrolment: bool | None = None) -> ServiceSettings:
        p, s = protocol()["protocol"], protocol()["service"]
        reg = os.environ.get("IEM_ACCESS_END_REG_VERSION") or p["reg_version"]
        accepted = tuple(dict.fromkeys([*p["accepted_reg_versions"], reg]))
        if open_enrolment is None:
            open_enrolment = os.environ.get("IEM_ACCESS_END_OPEN_ENROLMENT", "") in ("1", "true", "yes")
        return cls(
            reg_version=reg,
            accepted_reg_versions=accepted,
            token_ttl_seconds=_env_number("IEM_ACCESS_END_TOKEN_TTL", s["token_ttl_seconds"], int),
            max_body_bytes=_env_number("IEM_ACCESS_END_MAX_BODY", s["max_body_bytes"], int),
            max_records_per_message=_env_number("IEM_ACCESS_END_MAX_RECORDS", s["max_records_per_message"], int),
            rate_per_second=_env_number("IEM_ACCESS_END_RATE", s["rate_per_second"]),
            rate_burst=_env_number("IEM_ACCESS_END_BURST", s["rate_burst"], int),
            anonymous_rate_per_second=_env_number("IEM_ACCESS_END_ANON_RATE", s["anonymous_rate_per_second"]),
            anonymous_burst=_env_number("IEM_ACCESS_END_ANON_BURST", s["anonymous_burst"], int),
            enterprise_upload_time=s["enterprise_upload_time"],
            open_enrolment=open_enrolment,
        )


@dataclass(frozen=True)
class EnergyCode:
    code_list: str  # energy | working_medium
    code: str
    name_zh: str
    energy_code: str
    collect_unit: str
    confidence: str


@cache
def energy_codes() -> dict[tuple[str, str], EnergyCode]:
    """(code_list, 4-digit code) → the contract's energy type."""
    return {
        (r["code_list"], r["code"]): EnergyCode(
            r["code_list"], r["code"], r["name_zh"], r["energy_code"], r["collect_unit"], r["confidence"]
        )
        for r in read_seed("access_end_energy_codes")
    }


@cache
def energy_code_of(energy_code: str) -> EnergyCode:
    """The protocol code of a contract energy type (the simulator's client needs the way back)."""
    for ec in energy_codes().values():
        if ec.energy_code == energy_code:
            return ec
    raise KeyError(f"no access-end code for energy type {energy_code!r} (seed access_end_energy_codes)")


@cache
def process_codes() -> dict[str, dict]:
    return {r["code"]: r for r in read_seed("access_end_process_codes")}


@cache
def product_codes() -> dict[str, dict]:
    return {r["code"]: r for r in read_seed("access_end_product_codes")}


def unit_of(label: str | None) -> str | None:
    """A unit label as platforms write it (万千瓦时, m³) → the contract's unit code; unknown labels pass."""
    if label is None:
        return None
    label = str(label).strip()
    return protocol()["unit_aliases"].get(label, label)


# ---------------------------------------------------------------- base dictionaries


def _code_list(name: str) -> list[dict]:
    return [
        {"code": code, **{k: v for k, v in body.items() if k in ("name", "unit")}}
        for code, body in protocol()[name].items()
    ]


def _energy_dictionary(code_list: str) -> list[dict]:
    coef = {r["energy_code"]: r for r in read_seed("energy_types")}
    out = []
    for (cl, code), ec in sorted(energy_codes().items()):
        if cl != code_list:
            continue
        et = coef[ec.energy_code]
        out.append(
            {
                "code": code,
                "name": ec.name_zh,
                "collectRatio": et["printed_coefficient"],  # 折标系数 (GB/T 2589, the energy_types seed)
                "collectUnit": et["printed_unit"],  # unit of the coefficient
                "qualityUnit": ec.collect_unit,  # unit the energy is collected in
                "qualityPrecision": "4",
                "confidence": ec.confidence,
            }
        )
    if code_list == "energy":
        out.append({"code": "0000", "name": "综合能源消费量", "complexUnit": "tce", "complexPrecision": "4"})
    return out


def dictionary(item_index: int) -> dict:
    """The answer body of downloadBaseData(itemIndex): {<Name>: [rows]} (+ a note when IEM holds no table)."""
    spec = protocol()["dictionaries"].get(item_index)
    if spec is None:
        raise KeyError(item_index)
    source = spec["source"]
    note = None
    if source == "none":
        rows, note = [], "IEM holds no table for this dictionary yet (docs/access-end-protocol.md)"
    elif "seed" in source:
        rows = [{out: r[col] for out, col in source["columns"].items()} for r in read_seed(source["seed"])]
    elif "codes" in source:
        rows = _code_list(source["codes"])
    else:
        rows = _energy_dictionary(source["energy_codes"])
    body: dict[str, object] = {spec["name"]: rows}
    if note:
        body["note"] = note
    return body


def is_public_dictionary(item_index: int) -> bool:
    spec = protocol()["dictionaries"].get(item_index) or {}
    return bool(spec.get("public"))


@cache
def dictionary_version() -> str:
    """dicVersion: the configured string, or a digest of everything the dictionaries are served from."""
    configured = str(protocol()["protocol"]["dic_version"])
    if configured != "auto":
        return configured
    digest = hashlib.sha256(json.dumps(protocol(), sort_keys=True, ensure_ascii=False, default=str).encode())
    seeds = {
        s["source"]["seed"]
        for s in protocol()["dictionaries"].values()
        if isinstance(s["source"], dict) and "seed" in s["source"]
    }
    for name in sorted(seeds | {"access_end_energy_codes", "energy_types"}):
        digest.update((SEEDS_DIR / f"{name}.csv").read_bytes())
    return "D" + digest.hexdigest()[:12]

"""Feed contract (v1.2, backward compatible with v1 and v1.1): the JSON Schema files are the single source of
every field rule. Every published version stays in `contract/<version>/`; the loader validates with the
latest. v1.2 adds one entity, `inventories` (the 205-1 stocks and purchases per energy type and month);
every v1 and v1.1 file loads unchanged.

The vectorised validator (ingestion.validate) compiles these schemas into column expressions;
`jsonschema` validates single objects (onboarding, tests, HTTP samples) against the same files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import PurePath

CONTRACT_VERSION = "1.2"
PUBLISHED_VERSIONS = ("1", "1.1", "1.2")
ENTITIES = ("enterprises", "meters", "readings", "totals", "production", "economics", "inventories")
# the entities each published version defines (a later version only adds)
VERSION_ENTITIES = {"1": ENTITIES[:6], "1.1": ENTITIES[:6], "1.2": ENTITIES}
REGISTRIES = ("enterprises", "meters")
# Registries load before the facts that refer to them, whatever the file names.
LOAD_ORDER = {name: i for i, name in enumerate(ENTITIES)}
SUFFIXES = (".csv", ".jsonl")
COMPRESSED_SUFFIX = ".gz"  # v1.1: `.csv.gz` and `.jsonl.gz` are read like their uncompressed forms


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # string | number | boolean
    required: bool
    format: str | None = None  # date | date-time
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    exclusive_minimum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    default: object | None = None
    check: str | None = None  # x-check, e.g. "uscc"


@dataclass(frozen=True)
class Entity:
    name: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    schema: dict

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


@cache
def schema_document(entity: str, version: str = CONTRACT_VERSION) -> dict:
    text = (
        resources.files("ingestion").joinpath(f"contract/v{version}/{entity}.schema.json").read_text(encoding="utf-8")
    )
    return json.loads(text)


@cache
def entity(name: str) -> Entity:
    doc = schema_document(name)
    required = set(doc.get("required", []))
    fields = []
    for fname, prop in doc["properties"].items():
        fields.append(
            Field(
                name=fname,
                type=prop.get("type", "string"),
                required=fname in required,
                format=prop.get("format") or prop.get("x-format"),  # v1.1: x-format (local times allowed)
                pattern=prop.get("pattern"),
                enum=tuple(prop["enum"]) if "enum" in prop else None,
                minimum=prop.get("minimum"),
                exclusive_minimum=prop.get("exclusiveMinimum"),
                min_length=prop.get("minLength"),
                max_length=prop.get("maxLength"),
                default=prop.get("default"),
                check=prop.get("x-check"),
            )
        )
    return Entity(name=name, key=tuple(doc["x-key"]), fields=tuple(fields), schema=doc)


_KIND = re.compile(r"^([a-z]+)")


def feed_suffix(path: PurePath) -> str | None:
    """The feed format of a file name: `.csv` or `.jsonl`, also under a `.gz` compression suffix."""
    suffixes = [x.lower() for x in path.suffixes]
    if suffixes and suffixes[-1] == COMPRESSED_SUFFIX:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes and suffixes[-1] in SUFFIXES else None


def is_compressed(path: PurePath) -> bool:
    return path.suffix.lower() == COMPRESSED_SUFFIX


def entity_of_file(path: PurePath) -> str | None:
    """A file's kind is the first word of its name (`readings_2026-01.csv` → readings)."""
    if feed_suffix(path) is None:
        return None
    m = _KIND.match(path.name.lower())
    if m and m.group(1) in ENTITIES:
        return m.group(1)
    return None


def validator(entity_name: str):
    """A jsonschema validator for one object of the entity (with date/date-time format checks)."""
    import jsonschema

    return jsonschema.Draft202012Validator(
        schema_document(entity_name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )

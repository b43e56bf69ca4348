"""Compare what two warehouses hold in a schema, table by table and row for row: row count and the md5 of
the rows' text in a fixed order (the same rows give the same digest, whichever database and host built
them). Used to show a region built on Celery workers equals the same region built serially."""

from __future__ import annotations

import psycopg
from psycopg import sql

_RELATIONS = """
select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm') and not c.relispartition
 order by 1
"""


def table_digests(url: str, schema: str = "marts") -> dict[str, tuple[int, str]]:
    """relation → (rows, md5 of its rows as text, ordered by that text)."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(url) as conn:
        for (name,) in conn.execute(_RELATIONS, (schema,)).fetchall():
            query = sql.SQL(
                "select count(*), coalesce(md5(string_agg(t::text, E'\\n' order by t::text)), '') from {} t"
            ).format(sql.Identifier(schema, name))
            rows, digest = conn.execute(query).fetchone()
            out[name] = (rows, digest)
    return out


def differences(a: dict[str, tuple[int, str]], b: dict[str, tuple[int, str]]) -> list[str]:
    """What differs between two digests of one schema (empty: the same relations with the same rows)."""
    diff = [f"{name}: only in the first" for name in sorted(a.keys() - b.keys())]
    diff += [f"{name}: only in the second" for name in sorted(b.keys() - a.keys())]
    diff += [
        f"{name}: {a[name][0]} rows {a[name][1][:8]} ≠ {b[name][0]} rows {b[name][1][:8]}"
        for name in sorted(a.keys() & b.keys())
        if a[name] != b[name]
    ]
    return diff

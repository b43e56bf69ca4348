"""Accounts, tokens and configuration records of the access-end service, in the warehouse (`audit`).

Secrets: an enterprise's SM4 secretKey is sealed with AES-GCM under the service's key-encryption key
(`Sealer`, a key that never enters the database); passwords are kept as scrypt hashes; bearer tokens
as SHA-256 digests. Nothing here logs a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import cast

import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg_pool import ConnectionPool

KEY_ALPHABET = string.ascii_letters + string.digits
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def ensure_access_end_schema(conn: psycopg.Connection) -> None:
    conn.execute(resources.files("ingestion").joinpath("sql/access_end.sql").read_text(encoding="utf-8"))


class Sealer:
    """AES-GCM with the service's 32-byte key-encryption key; the credit code is the associated data,
    so a sealed key cannot be moved to another account."""

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the access-end key-encryption key has 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, secret: str, enterprise_code: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._aead.encrypt(nonce, secret.encode("ascii"), enterprise_code.encode("ascii"))

    def open(self, sealed: bytes, enterprise_code: str) -> str:
        sealed = bytes(sealed)
        return self._aead.decrypt(sealed[:12], sealed[12:], enterprise_code.encode("ascii")).decode("ascii")


def new_secret_key(length: int = 16) -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(length))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        return False
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), **SCRYPT)
    return hmac.compare_digest(candidate.hex(), digest)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Account:
    enterprise_code: str
    secret_key: str
    status: str
    password_hash: str | None
    registration_index: str | None


class Store:
    """The service's own tables. Connections come from a pool (a connection per request cost 9 ms of a
    116 ms upload); `with store.connect() as conn:` commits at the end of the block, or rolls back."""

    def __init__(self, url: str, sealer: Sealer, pool_size: int = 8):
        self.url = url
        self.sealer = sealer
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=True, name="iem-access-end")

    def connect(self):
        return self.pool.connection()

    def close(self) -> None:
        self.pool.close()

    # ------------------------------------------------------------ accounts

    def account(self, enterprise_code: str) -> Account | None:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT secret_key_sealed, status, password_hash, registration_index "
                "FROM audit.access_end_accounts WHERE enterprise_code = %s",
                (enterprise_code,),
            ).fetchone()
        if row is None:
            return None
        return Account(enterprise_code, self.sealer.open(row[0], enterprise_code), row[1], row[2], row[3])

    def enrol(self, enterprise_code: str, enrolled_by: str, key_length: int = 16) -> str | None:
        """Create an account with a fresh secretKey; None when the enterprise already has one."""
        key = new_secret_key(key_length)
        with self.connect() as conn:
            inserted = conn.execute(
                "INSERT INTO audit.access_end_accounts (enterprise_code, secret_key_sealed, enrolled_by) "
                "VALUES (%s, %s, %s) ON CONFLICT (enterprise_code) DO NOTHING RETURNING enterprise_code",
                (enterprise_code, self.sealer.seal(key, enterprise_code), enrolled_by),
            ).fetchone()
        return key if inserted else None

    def rotate_key(self, enterprise_code: str, key_length: int = 16) -> str:
        key = new_secret_key(key_length)
        with self.connect() as conn:
            conn.execute(
                "UPDATE audit.access_end_accounts SET secret_key_sealed = %s, key_issued_at = now() "
                "WHERE enterprise_code = %s",
                (self.sealer.seal(key, enterprise_code), enterprise_code),
            )
        return key

    def set_registered(self, conn: psycopg.Connection, enterprise_code: str, password: str, data_index: str) -> None:
        conn.execute(
            "UPDATE audit.access_end_accounts SET password_hash = %s, registered_at = now(), "
            "registration_index = %s, status = 'registered' WHERE enterprise_code = %s",
            (hash_password(password), data_index, enterprise_code),
        )

    # ------------------------------------------------------------ tokens

    def issue_token(self, enterprise_code: str, ttl_seconds: int) -> tuple[str, datetime, datetime]:
        token = secrets.token_urlsafe(32)
        valid_at = datetime.now(UTC).replace(microsecond=0)
        expires_at = valid_at + timedelta(seconds=ttl_seconds)
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO audit.access_end_tokens (token_sha256, enterprise_code, valid_at, expires_at) "
                "VALUES (%s, %s, %s, %s)",
                (token_digest(token), enterprise_code, valid_at, expires_at),
            )
        return token, valid_at, expires_at

    def token_owner(self, token: str) -> tuple[str | None, str | None]:
        """(enterprise_code, None) for a live token, else (None, why)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT t.enterprise_code, t.expires_at <= now(), t.revoked, a.status "
                "FROM audit.access_end_tokens t JOIN audit.access_end_accounts a USING (enterprise_code) "
                "WHERE t.token_sha256 = %s",
                (token_digest(token),),
            ).fetchone()
        if row is None:
            return None, "unknown token: request one with requestAK"
        code, expired, revoked, status = row
        if revoked or status == "disabled":
            return None, "token revoked"
        if expired:
            return None, "token expired: request a new one with requestAK"
        return code, None

    # ------------------------------------------------------------ configuration records

    def record(self, conn: psycopg.Connection, enterprise_code: str, kind: str, natural_key: str) -> dict | None:
        row = conn.execute(
            "SELECT data_index, body, revision, status, batch_id FROM audit.access_end_records "
            "WHERE enterprise_code = %s AND kind = %s AND natural_key = %s AND status <> 'deleted'",
            (enterprise_code, kind, natural_key),
        ).fetchone()
        if row is None:
            return None
        return {"data_index": row[0], "body": row[1], "revision": row[2], "status": row[3], "batch_id": row[4]}

    def record_by_index(self, conn: psycopg.Connection, data_index: str) -> dict | None:
        row = conn.execute(
            "SELECT data_index, enterprise_code, kind, natural_key, body, revision, status, batch_id "
            "FROM audit.access_end_records WHERE data_index = %s",
            (data_index,),
        ).fetchone()
        if row is None:
            return None
        keys = ("data_index", "enterprise_code", "kind", "natural_key", "body", "revision", "status", "batch_id")
        return dict(zip(keys, row, strict=True))

    def records(self, conn: psycopg.Connection, enterprise_code: str, kinds: tuple[str, ...]) -> list[dict]:
        rows = conn.execute(
            "SELECT data_index, kind, natural_key, body, revision, status FROM audit.access_end_records "
            "WHERE enterprise_code = %s AND kind = ANY(%s) AND status <> 'deleted'",
            (enterprise_code, list(kinds)),
        ).fetchall()
        keys = ("data_index", "kind", "natural_key", "body", "revision", "status")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def put_record(
        self,
        conn: psycopg.Connection,
        *,
        data_index: str | None,
        enterprise_code: str,
        kind: str,
        natural_key: str,
        body: dict,
        status: str = "active",
        reason: str | None = None,
        batch_id: int | None = None,
    ) -> tuple[str, int]:
        """Insert (data_index None) or update a record; returns (data_index, revision)."""
        doc = json.dumps(body, ensure_ascii=False, sort_keys=True)
        if data_index is None:
            data_index = uuid.uuid4().hex[:20]
            conn.execute(
                "INSERT INTO audit.access_end_records (data_index, enterprise_code, kind, natural_key, body, status, "
                "reason, batch_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (data_index, enterprise_code, kind, natural_key, doc, status, reason, batch_id),
            )
            return data_index, 1
        revision = cast(
            "tuple",
            conn.execute(
                "UPDATE audit.access_end_records SET body = %s, natural_key = %s, status = %s, reason = %s, "
                "batch_id = coalesce(%s, batch_id), revision = revision + 1, updated_at = now() "
                "WHERE data_index = %s RETURNING revision",
                (doc, natural_key, status, reason, batch_id, data_index),
            ).fetchone(),
        )[0]
        return data_index, revision

    def delete_record(self, conn: psycopg.Connection, data_index: str) -> None:
        conn.execute(
            "UPDATE audit.access_end_records SET status = 'deleted', updated_at = now() WHERE data_index = %s",
            (data_index,),
        )

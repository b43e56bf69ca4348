-- Access-end protocol service (iem serve): accounts, tokens and configuration records.
-- Idempotent: run at every start of the service. In `audit`, which the analyst role cannot read.

-- One account per enterprise (统一社会信用代码). The SM4 secretKey is needed in clear to read the
-- passwords clients send, so it is kept sealed (AES-GCM) under the service's key-encryption key, which
-- lives outside the database (IEM_ACCESS_END_KEY or a 0600 key file). Passwords: scrypt hashes only.
CREATE TABLE IF NOT EXISTS audit.access_end_accounts (
    enterprise_code     text PRIMARY KEY,
    secret_key_sealed   bytea       NOT NULL,
    key_issued_at       timestamptz NOT NULL DEFAULT now(),
    enrolled_by         text        NOT NULL,            -- operator | open (open enrolment)
    password_hash       text,                            -- set by the registration (enterpriseInfo/apply)
    registered_at       timestamptz,
    registration_index  text,                            -- dataIndex of the registration record
    status              text        NOT NULL DEFAULT 'enrolled'  -- enrolled | registered | disabled
);

-- Bearer tokens (requestAK): only their SHA-256 is stored.
CREATE TABLE IF NOT EXISTS audit.access_end_tokens (
    token_sha256        text PRIMARY KEY,
    enterprise_code     text        NOT NULL REFERENCES audit.access_end_accounts (enterprise_code),
    valid_at            timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL,
    revoked             boolean     NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS access_end_tokens_enterprise ON audit.access_end_tokens (enterprise_code);

-- Configuration records (enterprise registration, processes, units, devices, metering instruments,
-- data-collection items), each with the dataIndex the platform answered and later updates quote.
-- The contract rows they produce are loaded as batches like any feed (batch_id of the latest one).
CREATE TABLE IF NOT EXISTS audit.access_end_records (
    data_index          text PRIMARY KEY,
    enterprise_code     text        NOT NULL,
    kind                text        NOT NULL,   -- registration | energy_management | process | process_unit | device | metering | collect_item
    natural_key         text        NOT NULL,   -- credit code, processCode, unitCode, deviceNo, meterCode, dataCode
    body                jsonb       NOT NULL,   -- the message as received (the encrypted password removed)
    revision            integer     NOT NULL DEFAULT 1,
    status              text        NOT NULL DEFAULT 'active',   -- active | rejected | deleted
    reason              text,
    batch_id            bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS access_end_records_live
    ON audit.access_end_records (enterprise_code, kind, natural_key) WHERE status <> 'deleted';

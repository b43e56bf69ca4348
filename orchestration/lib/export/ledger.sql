-- Export ledger (schema audit): every export kept as sent, byte for byte, with revisions, diffs,
-- delivery attempts and acknowledgements. Idempotent DDL, written for contract v1 (audit.export_*);
-- exporter.ensure_ledger applies it once more for each later contract with its own table prefix
-- (v2: audit.export_v2_*), so a contract's revisions, files, runs and deliveries are its own.
CREATE TABLE IF NOT EXISTS audit.export_revisions (
    region_code     text        NOT NULL,
    month           date        NOT NULL,
    revision        integer     NOT NULL,
    content_sha256  text        NOT NULL,
    data_watermark  timestamptz,
    diff            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region_code, month, revision)
);

CREATE TABLE IF NOT EXISTS audit.export_files (
    region_code     text    NOT NULL,
    month           date    NOT NULL,
    revision        integer NOT NULL,
    file_name       text    NOT NULL,
    sha256          text    NOT NULL,
    content         bytea   NOT NULL,
    PRIMARY KEY (region_code, month, revision, file_name),
    FOREIGN KEY (region_code, month, revision) REFERENCES audit.export_revisions
);

CREATE TABLE IF NOT EXISTS audit.export_runs (
    run_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_code     text        NOT NULL,
    month           date        NOT NULL,
    status          text        NOT NULL,   -- exported | unchanged | blocked
    revision        integer,
    failed_checks   jsonb       NOT NULL DEFAULT '[]'::jsonb,
    ran_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS audit.export_deliveries (
    region_code     text        NOT NULL,
    month           date        NOT NULL,
    revision        integer     NOT NULL,
    attempt         integer     NOT NULL,
    destination     text        NOT NULL,
    idempotency_key text        NOT NULL,
    status          text        NOT NULL,   -- delivered | failed
    http_status     integer,
    error           text,
    acknowledgement text,
    attempted_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (region_code, month, revision, attempt)
);

-- Raw landing tables, ingestion ledger and quarantine (feed contract v1).
-- Idempotent: safe to run on every start. Raw tables are append-only; every row carries the
-- batch and file it came from and its row number in that file (header = row 1 for CSV).
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS audit;
CREATE SCHEMA IF NOT EXISTS quarantine;

-- One batch = one file drop or one HTTP page, loaded in one transaction.
CREATE TABLE IF NOT EXISTS audit.ingest_batches (
    batch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text        NOT NULL,          -- 'file', 'http' or 'push' (access-end protocol)
    source_name     text        NOT NULL,          -- relative file path or endpoint name
    entity          text        NOT NULL,          -- enterprises | meters | readings | totals | production | economics | inventories
    content_sha256  text        NOT NULL,
    size_bytes      bigint      NOT NULL,
    owner_enterprise_id text,                      -- set when the file/endpoint belongs to one enterprise
    rows_read       integer     NOT NULL DEFAULT 0,
    rows_loaded     integer     NOT NULL DEFAULT 0,
    rows_quarantined integer    NOT NULL DEFAULT 0,
    rows_duplicate  integer     NOT NULL DEFAULT 0,
    min_period_end  timestamptz,
    max_period_end  timestamptz,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    parse_seconds   double precision,
    load_seconds    double precision,
    status          text        NOT NULL DEFAULT 'loaded',
    CONSTRAINT ingest_batches_counts_conserved
        CHECK (rows_read = rows_loaded + rows_quarantined + rows_duplicate)
);
-- Added 2026-12 (CHANGELOG): the encoding a file was read in (utf-8 | gb18030 | …), and for a batch that failed
-- as a whole (status 'failed': unreadable file, refused folder, page that could not be fetched) its
-- reason and how many runs tried it.
ALTER TABLE audit.ingest_batches ADD COLUMN IF NOT EXISTS encoding text;
ALTER TABLE audit.ingest_batches ADD COLUMN IF NOT EXISTS failure_reason text;
ALTER TABLE audit.ingest_batches ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 1;
-- the CSV header of a file batch (JSON array), so rows waiting for their registry can be re-split later;
-- and for a re-validation batch, the batch whose rejected rows it took up
ALTER TABLE audit.ingest_batches ADD COLUMN IF NOT EXISTS header text;
ALTER TABLE audit.ingest_batches ADD COLUMN IF NOT EXISTS revalidates_batch bigint;
-- A file's content is loaded exactly once, whatever its name; a failed attempt does not count.
CREATE UNIQUE INDEX IF NOT EXISTS ingest_batches_file_loaded_once
    ON audit.ingest_batches (content_sha256) WHERE source = 'file' AND status <> 'failed';
DROP INDEX IF EXISTS audit.ingest_batches_file_once;
-- A message pushed through the access-end protocol (iem serve) is loaded once per entity, however
-- often the enterprise re-sends it (the hash covers the enterprise, the entity and the records).
CREATE UNIQUE INDEX IF NOT EXISTS ingest_batches_push_once
    ON audit.ingest_batches (content_sha256) WHERE source = 'push';

-- HTTP pull cursors, advanced in the same transaction as the batch they follow.
CREATE TABLE IF NOT EXISTS audit.pull_cursors (
    endpoint_name   text NOT NULL,
    entity          text NOT NULL,
    enterprise_id   text NOT NULL,
    cursor          text,
    last_batch_id   bigint,
    last_success_at timestamptz,
    last_error      text,
    last_error_at   timestamptz,
    PRIMARY KEY (endpoint_name, entity)
);

CREATE TABLE IF NOT EXISTS quarantine.rejected_rows (
    batch_id        bigint  NOT NULL,
    source_name     text    NOT NULL,
    entity          text    NOT NULL,
    row_number      integer NOT NULL,
    enterprise_id   text,
    field           text,
    value           text,
    reason          text    NOT NULL,
    raw_row         text,
    rejected_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rejected_rows_enterprise ON quarantine.rejected_rows (enterprise_id);
-- Added 2026-12 (CHANGELOG): a row rejected only because its enterprise or meter was not (yet) in the registry is
-- re-validated when the registry arrives; the batch that then took it up is recorded here (the
-- rejected row stays, so the original batch's counts still add up).
ALTER TABLE quarantine.rejected_rows ADD COLUMN IF NOT EXISTS resolved_by_batch bigint;
CREATE INDEX IF NOT EXISTS rejected_rows_waiting_for_registry ON quarantine.rejected_rows (batch_id)
    WHERE resolved_by_batch IS NULL AND (reason LIKE 'unknown meter%' OR reason LIKE 'unknown enterprise%');
CREATE INDEX IF NOT EXISTS rejected_rows_batch ON quarantine.rejected_rows (batch_id);

-- Exact duplicates (same key, value and sent_at) skipped inside one file or batch.
CREATE TABLE IF NOT EXISTS quarantine.duplicate_rows (
    batch_id        bigint  NOT NULL,
    source_name     text    NOT NULL,
    entity          text    NOT NULL,
    row_number      integer NOT NULL,
    first_row_number integer NOT NULL,
    enterprise_id   text,
    natural_key     text    NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS duplicate_rows_enterprise ON quarantine.duplicate_rows (enterprise_id);

CREATE TABLE IF NOT EXISTS raw.enterprises (
    batch_id          bigint  NOT NULL,
    row_number        integer NOT NULL,
    enterprise_id     text    NOT NULL,
    name              text    NOT NULL,
    region_code       text    NOT NULL,
    industry_code     text    NOT NULL,
    has_energy_centre boolean,
    declared_tce      numeric,
    annual_target_tce numeric,
    connected_since   date
);

CREATE TABLE IF NOT EXISTS raw.meters (
    batch_id          bigint  NOT NULL,
    row_number        integer NOT NULL,
    enterprise_id     text    NOT NULL,
    meter_id          text    NOT NULL,
    energy_code       text    NOT NULL,
    unit              text    NOT NULL,
    reading_type      text    NOT NULL,
    multiplier        numeric NOT NULL DEFAULT 1,
    register_max      numeric,
    direction         text    NOT NULL DEFAULT 'in',
    scope             text    NOT NULL DEFAULT 'boundary',
    rated_max         numeric,
    coefficient_kgce  numeric,
    calibration_valid_until date,
    installed_at      timestamptz,
    replaced_at       timestamptz
);
-- Contract v1.1: the 205-1 purpose of the metered energy (null = industrial production consumption).
-- Added only when missing: ALTER TABLE takes an exclusive lock even when the column exists.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'raw' AND table_name = 'meters' AND column_name = 'usage') THEN
        ALTER TABLE raw.meters ADD COLUMN usage text;
    END IF;
END $$;

-- Feed contract v1.1: the IANA time zone a meter's local times are read in (older rows: Asia/Shanghai).
ALTER TABLE raw.meters ADD COLUMN IF NOT EXISTS timezone text NOT NULL DEFAULT 'Asia/Shanghai';
-- Feed contract v1.1: metering-instrument metadata (GB 17167 level, accuracy class, latest calibration,
-- CT and PT as declared), e.g. from the access-end protocol's metering instruments (iem serve).
ALTER TABLE raw.meters ADD COLUMN IF NOT EXISTS metering_level smallint;
ALTER TABLE raw.meters ADD COLUMN IF NOT EXISTS accuracy_class text;
ALTER TABLE raw.meters ADD COLUMN IF NOT EXISTS calibrated_on date;
ALTER TABLE raw.meters ADD COLUMN IF NOT EXISTS ct_ratio numeric;
ALTER TABLE raw.meters ADD COLUMN IF NOT EXISTS pt_ratio numeric;

-- Readings: range-partitioned by month of period_end; partitions are created by the loader.
CREATE TABLE IF NOT EXISTS raw.readings (
    batch_id          bigint  NOT NULL,
    row_number        integer NOT NULL,
    enterprise_id     text    NOT NULL,
    meter_id          text    NOT NULL,
    period_start      timestamptz,
    period_end        timestamptz NOT NULL,
    value             numeric NOT NULL,
    unit              text    NOT NULL,
    quality           text    NOT NULL DEFAULT 'measured',
    sent_at           timestamptz NOT NULL
) PARTITION BY RANGE (period_end);
CREATE TABLE IF NOT EXISTS raw.readings_default PARTITION OF raw.readings DEFAULT;
-- Rows are appended batch after batch, so a BRIN index on batch_id finds the rows of new batches
-- (incremental staging) for almost no cost at load time; unsummarised block ranges are always read.
CREATE INDEX IF NOT EXISTS readings_batch_brin ON raw.readings USING brin (batch_id);

CREATE TABLE IF NOT EXISTS raw.totals (
    batch_id          bigint  NOT NULL,
    row_number        integer NOT NULL,
    enterprise_id     text    NOT NULL,
    energy_code       text    NOT NULL,
    period_start      timestamptz NOT NULL,
    period_end        timestamptz NOT NULL,
    value             numeric NOT NULL,
    unit              text    NOT NULL,
    sent_at           timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.production (
    batch_id          bigint  NOT NULL,
    row_number        integer NOT NULL,
    enterprise_id     text    NOT NULL,
    product_code      text    NOT NULL,
    period_start      timestamptz NOT NULL,
    period_end        timestamptz NOT NULL,
    quantity          numeric NOT NULL,
    unit              text    NOT NULL,
    scope             text,
    sent_at           timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.economics (
    batch_id          bigint  NOT NULL,
    row_number        integer NOT NULL,
    enterprise_id     text    NOT NULL,
    month             text    NOT NULL,
    gross_output_10k_yuan numeric,
    value_added_10k_yuan  numeric,
    sent_at           timestamptz NOT NULL
);

-- contract v1.2: the enterprise's monthly 205-1 statement of stocks and purchases per energy type
CREATE TABLE IF NOT EXISTS raw.inventories (
    batch_id          bigint  NOT NULL,
    row_number        integer NOT NULL,
    enterprise_id     text    NOT NULL,
    energy_code       text    NOT NULL,
    month             text    NOT NULL,
    unit              text    NOT NULL,
    opening_stock     numeric NOT NULL,
    purchased_quantity numeric NOT NULL,
    purchased_value_1k_yuan numeric,
    closing_stock     numeric NOT NULL,
    transport_quantity numeric,
    sent_at           timestamptz NOT NULL
);

-- Fleet schema: inventory snapshots, the installations index (what is installed where), findings
-- with their event history and daily opened/closed counts, and the matcher's named state.
-- The PostgreSQL migration of the same number defines the same tables with the same column names.

-- One inventory upload. `packages_blob` is the full package list as zstd-compressed JSON, stored
-- only when the upload changed something: an unchanged re-upload stores NULL and points
-- `packages_from` at the snapshot whose blob holds its list (itself when it has one), so daily
-- uploads of an unchanged site cost a row, not a copy of the list.
CREATE TABLE inventory_snapshots (
    id                TEXT PRIMARY KEY,
    environment_id    TEXT NOT NULL REFERENCES environments (id),
    site_id           TEXT NOT NULL REFERENCES sites (id),
    client_id         TEXT NOT NULL REFERENCES clients (id),
    taken_at          BIGINT NOT NULL,
    actor             TEXT,
    previous          TEXT REFERENCES inventory_snapshots (id),
    sources           TEXT NOT NULL,
    packages          BIGINT NOT NULL,
    dev_packages      BIGINT NOT NULL,
    added             BIGINT NOT NULL,
    removed           BIGINT NOT NULL,
    changed           BIGINT NOT NULL,
    unevaluable       BIGINT NOT NULL,
    changes           TEXT NOT NULL,
    unevaluable_lines TEXT NOT NULL,
    packages_from     TEXT,
    packages_blob     BLOB
);
CREATE INDEX inventory_snapshots_by_environment ON inventory_snapshots (environment_id, id);

-- Each environment's newest snapshot: the compare-and-swap target of a concurrent upload.
CREATE TABLE environment_inventory (
    environment_id TEXT PRIMARY KEY REFERENCES environments (id),
    snapshot_id    TEXT NOT NULL REFERENCES inventory_snapshots (id),
    taken_at       BIGINT NOT NULL
);

-- What is installed where now. Keyed by package first: the matcher asks "who has this package".
CREATE TABLE installations (
    ecosystem      TEXT NOT NULL,
    qualifier      TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    environment_id TEXT NOT NULL REFERENCES environments (id),
    dev            BOOLEAN NOT NULL,
    PRIMARY KEY (ecosystem, qualifier, name, version, environment_id)
) WITHOUT ROWID;
CREATE INDEX installations_by_environment ON installations (environment_id);

-- `body` is the whole finding as JSON; the other columns exist to filter, sort and keep identity
-- unique. Open findings (new, affected: `is_open`) are the ones lists and dashboards rank, so the
-- ranking indexes are partial: closed findings accumulate forever and would only make them bigger.
-- `is_open` rather than `state IN (…)` in those indexes, because SQLite's planner (without
-- statistics) prefers an equality on `findings_by_state` and then sorts every open finding.
CREATE TABLE findings (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients (id),
    site_id        TEXT NOT NULL REFERENCES sites (id),
    environment_id TEXT NOT NULL REFERENCES environments (id),
    ecosystem      TEXT NOT NULL,
    qualifier      TEXT NOT NULL,
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    alias_group    TEXT NOT NULL,
    state          TEXT NOT NULL,
    is_open        BOOLEAN NOT NULL,
    priority       INTEGER NOT NULL,
    kev            BOOLEAN NOT NULL,
    due_at         BIGINT,
    risk_until     BIGINT,
    detected_at    BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    body           TEXT NOT NULL,
    UNIQUE (environment_id, ecosystem, qualifier, name, version, alias_group)
);
CREATE INDEX findings_open ON findings (priority DESC, id)
    WHERE is_open;
CREATE INDEX findings_open_by_client ON findings (client_id, priority DESC, id)
    WHERE is_open;
CREATE INDEX findings_open_by_site ON findings (site_id, priority DESC, id)
    WHERE is_open;
CREATE INDEX findings_open_by_environment ON findings (environment_id, priority DESC, id)
    WHERE is_open;
CREATE INDEX findings_by_state ON findings (state, priority DESC, id);
CREATE INDEX findings_by_client_state ON findings (client_id, state, priority DESC, id);
CREATE INDEX findings_by_group ON findings (alias_group);
CREATE INDEX findings_by_package ON findings (ecosystem, qualifier, name, environment_id);

CREATE TABLE finding_events (
    id         TEXT PRIMARY KEY,
    finding_id TEXT NOT NULL REFERENCES findings (id),
    client_id  TEXT NOT NULL REFERENCES clients (id),
    at         BIGINT NOT NULL,
    actor      TEXT,
    kind       TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX finding_events_by_finding ON finding_events (finding_id, id);

-- Findings opened and closed per UTC day ('YYYY-MM-DD') and client, kept by the writes that
-- change findings, so the trend chart never scans the event history.
CREATE TABLE finding_daily (
    day       TEXT NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (id),
    opened    BIGINT NOT NULL,
    closed    BIGINT NOT NULL,
    PRIMARY KEY (day, client_id)
) WITHOUT ROWID;

CREATE TABLE fleet_state (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

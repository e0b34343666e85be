-- The findings' identity key now leads with the package, not the environment (BENCHMARKS.md,
-- fleet, "The identity key led by the package"):
--
-- * Matching works package by package, so a first full match inserted each new finding into the
--   old key (environment first) at a place of its own among all 20,000 environments, and again
--   into `findings_by_package` (package, environment) to find them. Led by the package, the
--   identity key takes each step's findings on neighbouring pages and serves matching's reads
--   itself, so `findings_by_package` goes: one index fewer for every finding.
-- * An environment's findings, and through its environments a site's or a client's, are found by
--   `findings_by_environment`, as they were by the old key's first column. It is one of the
--   indexes a first full match builds after its rows.
--
-- SQLite cannot change a table's constraint in place, so the table is copied out and back. The
-- events refer to the findings by ID: with `defer_foreign_keys` their check waits for the
-- commit, by when every finding they name is back.

PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE findings_0015 AS SELECT * FROM findings;
DROP TABLE findings;

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
    detail_id      TEXT REFERENCES finding_details (detail_id),
    UNIQUE (ecosystem, qualifier, name, environment_id, version, alias_group)
);

INSERT INTO findings (id, client_id, site_id, environment_id, ecosystem, qualifier, name, version,
                      alias_group, state, is_open, priority, kev, due_at, risk_until, detected_at,
                      updated_at, body, detail_id)
SELECT id, client_id, site_id, environment_id, ecosystem, qualifier, name, version, alias_group,
       state, is_open, priority, kev, due_at, risk_until, detected_at, updated_at, body, detail_id
FROM temp.findings_0015
ORDER BY ecosystem, qualifier, name, environment_id, version, alias_group;
DROP TABLE temp.findings_0015;

CREATE INDEX findings_by_state ON findings (state, priority DESC, id);
CREATE INDEX findings_by_group ON findings (alias_group);
CREATE INDEX findings_by_environment ON findings (environment_id);
CREATE INDEX findings_open ON findings (priority DESC, id, is_open)
    WHERE is_open;
CREATE INDEX findings_open_by_client ON findings (client_id, priority DESC, id, kev, due_at, is_open)
    WHERE is_open;

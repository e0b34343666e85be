-- Indexes extended to hold every column their queries read, so those queries read the index
-- alone instead of one table row per index entry (BENCHMARKS.md, fleet):
--
-- * an environment's package list, read on every inventory upload to find what changed: the old
--   index held (environment_id) and, the table being WITHOUT ROWID, the primary key, but not
--   `dev`, so each of an environment's ~300 rows was a separate descent of the installations
--   table (37 % of the CPU of re-uploads at 20,000 environments);
-- * the portfolio dashboard's counts (open, KEV, past due, per priority, per client): `kev` and
--   `due_at` were in no open-findings index, so counting read the table row of every open finding
--   (37-69 s with 3.7 million open of 5 million). `is_open` is always true in these partial
--   indexes, but SQLite counts an index as covering only if it holds every column the query
--   names, the partial index's own condition included.
--
-- Rebuilding them reads each table once when this migration runs.

DROP INDEX installations_by_environment;
CREATE INDEX installations_by_environment
    ON installations (environment_id, ecosystem, qualifier, name, version, dev);

DROP INDEX findings_open;
CREATE INDEX findings_open ON findings (priority DESC, id, is_open)
    WHERE is_open;

DROP INDEX findings_open_by_client;
CREATE INDEX findings_open_by_client ON findings (client_id, priority DESC, id, kev, due_at, is_open)
    WHERE is_open;

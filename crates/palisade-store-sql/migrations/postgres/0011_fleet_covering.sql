-- Indexes extended to hold every column their queries read, so those queries can be answered
-- from the index alone (see the SQLite migration of the same number for the measurements):
-- an environment's package list, read on every inventory upload, and the portfolio dashboard's
-- counts of open findings (open, KEV, past due, per client).

DROP INDEX installations_by_environment;
CREATE INDEX installations_by_environment ON installations (environment_id)
    INCLUDE (ecosystem, qualifier, name, version, dev);

DROP INDEX findings_open_by_client;
CREATE INDEX findings_open_by_client ON findings (client_id, priority DESC, id)
    INCLUDE (kev, due_at) WHERE is_open;

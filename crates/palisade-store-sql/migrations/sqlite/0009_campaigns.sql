-- Patch campaigns: one advisory's fix rolled out across the fleet. The rows hold what the
-- campaign's timeline adds up to (each environment's step, each client's ticket and completion),
-- so the progress chart and the queues read without replaying; `version` columns are the
-- compare-and-swap that keeps two people from acting on the same state. Names of clients, sites
-- and environments are copied in when the campaign is planned: the evidence shows what was
-- patched under the names it had then.

CREATE TABLE campaigns (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    advisory      TEXT NOT NULL,
    aliases       TEXT NOT NULL,
    summary       TEXT NOT NULL,
    severity      TEXT NOT NULL,
    state         TEXT NOT NULL,
    source_ticket TEXT REFERENCES tickets (id),
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT,
    version       BIGINT NOT NULL
);

CREATE TABLE campaign_clients (
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    client_id   TEXT NOT NULL REFERENCES clients (id),
    client_name TEXT NOT NULL,
    rank        BIGINT NOT NULL,
    planned_for TEXT,
    ticket_id   TEXT REFERENCES tickets (id),
    done_at     BIGINT,
    PRIMARY KEY (campaign_id, client_id)
);
CREATE INDEX campaign_clients_by_client ON campaign_clients (client_id, campaign_id);

CREATE TABLE campaign_envs (
    campaign_id      TEXT NOT NULL REFERENCES campaigns (id),
    environment_id   TEXT NOT NULL REFERENCES environments (id),
    client_id        TEXT NOT NULL REFERENCES clients (id),
    site_id          TEXT NOT NULL REFERENCES sites (id),
    site_name        TEXT NOT NULL,
    environment_name TEXT NOT NULL,
    kind             TEXT NOT NULL,
    position         BIGINT NOT NULL,
    step             TEXT NOT NULL,
    tests_passed     BOOLEAN NOT NULL,
    packages         TEXT NOT NULL,
    priority         BIGINT NOT NULL,
    exception        TEXT,
    updated_at       BIGINT NOT NULL,
    version          BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, environment_id)
);
-- An inventory looks up the campaigns its environment is in, to verify a fix.
CREATE INDEX campaign_envs_by_environment ON campaign_envs (environment_id, campaign_id);

CREATE TABLE campaign_events (
    id             TEXT PRIMARY KEY,
    campaign_id    TEXT NOT NULL REFERENCES campaigns (id),
    client_id      TEXT,
    environment_id TEXT,
    at             BIGINT NOT NULL,
    actor          TEXT,
    kind           TEXT NOT NULL,
    detail         TEXT NOT NULL
);
CREATE INDEX campaign_events_by_campaign ON campaign_events (campaign_id, id);

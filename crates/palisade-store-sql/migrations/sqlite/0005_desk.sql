-- The support desk: tickets and their append-only timelines. A ticket row holds what the timeline
-- adds up to (state, priority) so lists filter without replaying; `version` is the number of
-- events, compared on every append so two agents cannot both change a ticket from the same state.
-- `number` is the human-friendly ticket number, unique across the provider.
-- Event bodies (messages, reasons) are customer data, sealed with the keyring like contacts'
-- e-mail (`key_version` says under which key). `kind` and `visibility` stay in clear so internal
-- notes can be told apart without opening anything.

CREATE TABLE tickets (
    id         TEXT PRIMARY KEY,
    number     BIGINT NOT NULL UNIQUE,
    client_id  TEXT NOT NULL REFERENCES clients (id),
    site_id    TEXT REFERENCES sites (id),
    subject    TEXT NOT NULL,
    category   TEXT NOT NULL,
    priority   TEXT NOT NULL,
    state      TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX tickets_by_client ON tickets (client_id, id);
CREATE INDEX tickets_by_state ON tickets (state, id);

CREATE TABLE ticket_events (
    id          TEXT PRIMARY KEY,
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    seq         BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    visibility  TEXT NOT NULL,
    body        TEXT NOT NULL,
    key_version BIGINT NOT NULL,
    UNIQUE (ticket_id, seq)
);
CREATE INDEX ticket_events_by_key_version ON ticket_events (key_version, id);

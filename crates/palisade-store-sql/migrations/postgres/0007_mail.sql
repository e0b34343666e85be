-- E-mail for the support desk.
--
-- contacts.email_bidx: the blind index of a contact's sealed e-mail address (a keyed HMAC of the
-- normalised address; the key is never in the database), so intake can find a contact by address.
-- Rows from before this migration get theirs from the start-up backfill. mail_index_state holds a
-- fingerprint of the key the index was built with, so a replaced key is noticed and the index
-- rebuilt.
--
-- ticket_events.mail_pending: every event is written pending for mail (the column's default, so
-- every code path that appends events is covered); the notifier enqueues its e-mails and clears
-- the mark in one transaction. Events from before this migration were never meant to be mailed.
--
-- mail_messages: Message-IDs Palisade took in or sent, per ticket, for threading and to take each
-- inbound message once. ticket_attachments: files of ticket messages, name and bytes sealed like
-- message bodies. mail_outbox: one row per (event, recipient), the unique key that makes
-- enqueueing exactly-once; the rendered e-mail is sealed; recipient_key is the recipient's blind
-- index.

ALTER TABLE contacts ADD COLUMN email_bidx TEXT;
CREATE INDEX contacts_by_email_bidx ON contacts (email_bidx);

CREATE TABLE mail_index_state (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
);

ALTER TABLE ticket_events ADD COLUMN mail_pending BOOLEAN NOT NULL DEFAULT TRUE;
UPDATE ticket_events SET mail_pending = FALSE;
CREATE INDEX ticket_events_mail_pending ON ticket_events (id) WHERE mail_pending;

CREATE TABLE mail_messages (
    message_id TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    direction  TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX mail_messages_by_ticket ON mail_messages (ticket_id, direction, at);

CREATE TABLE ticket_attachments (
    id           TEXT PRIMARY KEY,
    ticket_id    TEXT NOT NULL REFERENCES tickets (id),
    event_id     TEXT NOT NULL REFERENCES ticket_events (id),
    visibility   TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    filename     TEXT NOT NULL,
    data         TEXT NOT NULL,
    key_version  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX ticket_attachments_by_ticket ON ticket_attachments (ticket_id, id);
CREATE INDEX ticket_attachments_by_key_version ON ticket_attachments (key_version, id);

CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES ticket_events (id),
    ticket_id       TEXT NOT NULL REFERENCES tickets (id),
    client_id       TEXT NOT NULL REFERENCES clients (id),
    recipient_key   TEXT NOT NULL,
    payload         TEXT NOT NULL,
    key_version     BIGINT NOT NULL,
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT,
    UNIQUE (event_id, recipient_key)
);
CREATE INDEX mail_outbox_due ON mail_outbox (state, next_attempt_at);
CREATE INDEX mail_outbox_by_key_version ON mail_outbox (key_version, id);

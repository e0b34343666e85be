-- The tamper-evident audit log. `seq` is assigned at commit and is the log's order; `at` is data.
-- Hashes are hex text. The head row is what concurrent appenders serialise on.
CREATE TABLE audit_events (
    seq        BIGINT PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    at         BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    action     TEXT NOT NULL,
    actor      TEXT,
    client_id  TEXT,
    object     TEXT,
    request_id TEXT,
    data       TEXT NOT NULL,
    prev       TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_events_client ON audit_events (client_id, seq) WHERE client_id IS NOT NULL;
CREATE INDEX audit_events_actor ON audit_events (actor, seq) WHERE actor IS NOT NULL;
CREATE INDEX audit_events_object ON audit_events (object, seq) WHERE object IS NOT NULL;
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE audit_head (
    one  SMALLINT PRIMARY KEY CHECK (one = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (one, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_digests (
    number     BIGINT PRIMARY KEY,
    first_seq  BIGINT NOT NULL,
    count      BIGINT NOT NULL,
    root       TEXT NOT NULL,
    chain_head TEXT NOT NULL,
    previous   TEXT NOT NULL,
    sealed_at  BIGINT NOT NULL,
    key_id     TEXT NOT NULL,
    signature  TEXT NOT NULL
);
CREATE INDEX audit_digests_range ON audit_digests (first_seq);

CREATE TABLE audit_shipping (
    one            SMALLINT PRIMARY KEY CHECK (one = 1),
    shipped_seq    BIGINT NOT NULL,
    planned_seq    BIGINT NOT NULL,
    shipped_digest BIGINT NOT NULL
);
INSERT INTO audit_shipping (one, shipped_seq, planned_seq, shipped_digest) VALUES (1, 0, 0, 0);

-- Request records are audit events now.
DROP TABLE request_records;

-- Foundation schema (PostgreSQL): the same tables and columns as the SQLite migration 0001.

CREATE TABLE clients (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    contract    TEXT NOT NULL,
    archived_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id),
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    phone       TEXT,
    title       TEXT,
    archived_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX contacts_by_client ON contacts (client_id, id);

CREATE TABLE sites (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (id),
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    archived_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX sites_by_client ON sites (client_id, id);

CREATE TABLE environments (
    id          TEXT PRIMARY KEY,
    site_id     TEXT NOT NULL REFERENCES sites (id),
    client_id   TEXT NOT NULL REFERENCES clients (id),
    kind        TEXT NOT NULL CHECK (kind IN ('dev', 'staging', 'live')),
    name        TEXT NOT NULL,
    url         TEXT,
    position    INTEGER NOT NULL,
    archived_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (site_id, name)
);
CREATE INDEX environments_by_client ON environments (client_id, id);

CREATE TABLE hosts (
    id          TEXT PRIMARY KEY,
    client_id   TEXT REFERENCES clients (id),
    name        TEXT NOT NULL,
    addresses   TEXT NOT NULL,
    os          TEXT NOT NULL,
    archived_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX hosts_by_client ON hosts (client_id, id);

CREATE TABLE host_environments (
    host_id        TEXT NOT NULL REFERENCES hosts (id),
    environment_id TEXT NOT NULL REFERENCES environments (id),
    PRIMARY KEY (host_id, environment_id)
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL,
    email_key      TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL,
    client_id      TEXT REFERENCES clients (id),
    password_hash  TEXT NOT NULL,
    totp_secret    TEXT,
    totp_last_step BIGINT,
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    locked_until   BIGINT,
    disabled_at    BIGINT,
    created_at     BIGINT NOT NULL,
    CHECK ((role = 'client-user') = (client_id IS NOT NULL))
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    mfa_passed   BOOLEAN NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

CREATE TABLE request_records (
    id             TEXT PRIMARY KEY,
    at             BIGINT NOT NULL,
    actor          TEXT,
    client_scope   TEXT,
    method         TEXT NOT NULL,
    route          TEXT NOT NULL,
    status         INTEGER NOT NULL,
    latency_micros BIGINT NOT NULL,
    bytes_in       BIGINT NOT NULL,
    bytes_out      BIGINT NOT NULL
);

-- Encryption at rest: the keyring version that seals each row's sensitive columns (contacts'
-- email and phone, users' totp_secret). 0 marks rows written before this migration, whose values
-- are still plaintext until the re-encryption pass (`palisade keys rotate`, or `palisade serve`
-- in the background) seals them. The keys themselves are never stored in the database.
-- The index serves the per-version counts of `palisade keys status` and the pass's search for
-- rows under older keys.

ALTER TABLE contacts ADD COLUMN key_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN key_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX contacts_by_key_version ON contacts (key_version, id);
CREATE INDEX users_by_key_version ON users (key_version, id);

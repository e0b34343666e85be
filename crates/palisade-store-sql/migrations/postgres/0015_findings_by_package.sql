-- The findings' identity key now leads with the package, not the environment, and
-- `findings_by_package` goes; an environment's findings are found by `findings_by_environment`
-- (the SQLite migration of the same number says why). The old key's name was made up by
-- PostgreSQL from its columns, so it is looked up.

DO $$
DECLARE
    old_key text;
BEGIN
    SELECT conname INTO STRICT old_key FROM pg_constraint
    WHERE conrelid = 'findings'::regclass AND contype = 'u';
    EXECUTE format('ALTER TABLE findings DROP CONSTRAINT %I', old_key);
END
$$;

ALTER TABLE findings ADD CONSTRAINT findings_identity_key
    UNIQUE (ecosystem, qualifier, name, environment_id, version, alias_group);
DROP INDEX findings_by_package;
CREATE INDEX findings_by_environment ON findings (environment_id);

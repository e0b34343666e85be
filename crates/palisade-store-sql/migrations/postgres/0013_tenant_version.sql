-- A number that changes whenever a client, site or environment row does, kept by triggers so
-- that every write path, in any process, moves it. Readers that keep the tenant spine (names,
-- sites, clients, contract tiers) in memory compare it to know when to read the spine again:
-- "who is affected" by an advisory about a popular package needs the spine of thousands of
-- environments, and reading it was most of that answer's time (BENCHMARKS.md, fleet).
CREATE TABLE tenant_version (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO tenant_version (id, n) VALUES (1, 0);

CREATE FUNCTION bump_tenant_version() RETURNS trigger AS $$
BEGIN
    UPDATE tenant_version SET n = n + 1 WHERE id = 1;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER clients_bump AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION bump_tenant_version();
CREATE TRIGGER sites_bump AFTER INSERT OR UPDATE OR DELETE ON sites
    FOR EACH STATEMENT EXECUTE FUNCTION bump_tenant_version();
CREATE TRIGGER environments_bump AFTER INSERT OR UPDATE OR DELETE ON environments
    FOR EACH STATEMENT EXECUTE FUNCTION bump_tenant_version();

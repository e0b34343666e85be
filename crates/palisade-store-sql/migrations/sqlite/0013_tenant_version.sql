-- A number that changes whenever a client, site or environment row does, kept by triggers so
-- that every write path, in any process, moves it. Readers that keep the tenant spine (names,
-- sites, clients, contract tiers) in memory compare it to know when to read the spine again:
-- "who is affected" by an advisory about a popular package needs the spine of thousands of
-- environments, and reading it was most of that answer's time (BENCHMARKS.md, fleet).
CREATE TABLE tenant_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO tenant_version (id, n) VALUES (1, 0);

CREATE TRIGGER clients_bump_insert AFTER INSERT ON clients
    BEGIN UPDATE tenant_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER clients_bump_update AFTER UPDATE ON clients
    BEGIN UPDATE tenant_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER clients_bump_delete AFTER DELETE ON clients
    BEGIN UPDATE tenant_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER sites_bump_insert AFTER INSERT ON sites
    BEGIN UPDATE tenant_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER sites_bump_update AFTER UPDATE ON sites
    BEGIN UPDATE tenant_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER sites_bump_delete AFTER DELETE ON sites
    BEGIN UPDATE tenant_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER environments_bump_insert AFTER INSERT ON environments
    BEGIN UPDATE tenant_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER environments_bump_update AFTER UPDATE ON environments
    BEGIN UPDATE tenant_version SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER environments_bump_delete AFTER DELETE ON environments
    BEGIN UPDATE tenant_version SET n = n + 1 WHERE id = 1; END;

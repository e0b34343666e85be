-- Audit search indexes that a durable append writes at their end (issue 5, BENCHMARKS.md).
-- The indexes of 0003 were keyed by client, actor and object first: every event added an entry at
-- a random place in each of three trees, so each commit dirtied a 4 KB page per event per index,
-- all written to the log at the commit and again by its checkpoint (14-27 KB written per
-- 600-byte event). Keyed by a bucket of 1,024 sequence numbers first, only the last bucket's few
-- pages of each index change, and a search by client, actor or object looks the value up in each
-- bucket instead (`search_audit`: newest buckets first, in widening spans). The expression
-- `seq / 1024` must be written exactly so in queries for them to use these indexes.
DROP INDEX audit_events_client;
DROP INDEX audit_events_actor;
DROP INDEX audit_events_object;
CREATE INDEX audit_events_client_bucket ON audit_events ((seq / 1024), client_id, seq) WHERE client_id IS NOT NULL;
CREATE INDEX audit_events_actor_bucket ON audit_events ((seq / 1024), actor, seq) WHERE actor IS NOT NULL;
CREATE INDEX audit_events_object_bucket ON audit_events ((seq / 1024), object, seq) WHERE object IS NOT NULL;

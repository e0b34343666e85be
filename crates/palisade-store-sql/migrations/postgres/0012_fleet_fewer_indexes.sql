-- Three findings indexes dropped: each new finding was written into each of them at a place of
-- its own (see the SQLite migration of the same number). An environment's, a site's and a
-- client's findings in any state are found through the identity key, which leads with
-- `environment_id`; a client's open findings stay on `findings_open_by_client`.

DROP INDEX findings_open_by_site;
DROP INDEX findings_open_by_environment;
DROP INDEX findings_by_client_state;

-- Three findings indexes dropped, because every new finding was written into each of them at a
-- place of its own (BENCHMARKS.md, fleet, "Fewer findings indexes"):
--
-- * An advisory's findings share a package and an alias group, so the indexes that lead with
--   those, or with priority, take a new advisory's findings on a few neighbouring pages. Indexes
--   that lead with the client, site or environment scatter them over the whole fleet. There were
--   five of those, and the pages they touched were most of what a commit wrote: about 1,500
--   pages (6 MB) for the 130 findings of an advisory about a rarely installed package, at
--   874,602 findings. A first full match writes every page of them many times over.
-- * What the three dropped indexes served is still served by what stays:
--   - an environment's findings, by the identity key, which leads with `environment_id`;
--   - a site's findings, by the same key, through the site's environments;
--   - a client's findings in any state but the open ones, likewise through its environments.
--     Its open findings stay on `findings_open_by_client`, which the dashboard and the client's
--     own pages rank by.
--   An environment holds a few hundred findings, so sorting them costs little.

DROP INDEX findings_open_by_site;
DROP INDEX findings_open_by_environment;
DROP INDEX findings_by_client_state;

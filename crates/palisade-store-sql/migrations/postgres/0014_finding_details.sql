-- Findings stored leaner (see `finding_rows.rs`): the columns keep identity, state and sort keys;
-- `body` keeps only what belongs to the finding alone; and what thousands of findings share
-- (advisory ids, title, scores, fixed versions, the reasons of the priority) is one row of
-- `finding_details`, named by the hash of its text. Rows written earlier keep their whole-finding
-- body and no detail, and are read as they are: nothing is rewritten here.
-- Events likewise keep in `body` only what their columns do not hold.
CREATE TABLE finding_details (
    detail_id   TEXT PRIMARY KEY,
    detail_body TEXT NOT NULL
);
ALTER TABLE findings ADD COLUMN detail_id TEXT REFERENCES finding_details (detail_id);

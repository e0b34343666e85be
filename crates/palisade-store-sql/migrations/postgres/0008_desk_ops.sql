-- Desk operations: the support line a ticket is with (first until escalated), the out-of-hours
-- flag of tickets opened on the out-of-hours line, and work logs (time staff spent on a ticket,
-- split and priced in and out of support hours when billed; nothing priced is stored, so a
-- corrected calendar or rate changes the next export, not history). Work-log notes are staff
-- notes about the work, stored in clear (see README, Limits).

ALTER TABLE tickets ADD COLUMN line TEXT NOT NULL DEFAULT 'first';
ALTER TABLE tickets ADD COLUMN out_of_hours BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX tickets_by_line ON tickets (line, id);

CREATE TABLE work_logs (
    id         TEXT PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    client_id  TEXT NOT NULL REFERENCES clients (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    started_at BIGINT NOT NULL,
    ended_at   BIGINT NOT NULL,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX work_logs_by_ticket ON work_logs (ticket_id, started_at);
CREATE INDEX work_logs_by_client ON work_logs (client_id, started_at);

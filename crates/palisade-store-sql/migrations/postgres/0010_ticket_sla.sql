-- Each ticket keeps its SLA as of its last event (`SlaStamp`): the earliest deadline of a clock
-- still counting, when the first clock not yet stopped reaches its at-risk share, and whether a
-- clock is already breached. The store writes them with every ticket change, so the queue sorts
-- and counts all open tickets by index instead of replaying each timeline on every read.
--
-- `sla_due_at` is NOT NULL with 9223372036854775807 (the largest BIGINT) for "no clock counting",
-- so one ascending order puts those last on both backends. Rows from before this migration carry
-- that value until the desk's sweep stamps them (it repairs any stale stamp it meets).

ALTER TABLE tickets ADD COLUMN sla_due_at BIGINT NOT NULL DEFAULT 9223372036854775807;
ALTER TABLE tickets ADD COLUMN sla_warn_at BIGINT;
ALTER TABLE tickets ADD COLUMN sla_breached BOOLEAN NOT NULL DEFAULT FALSE;

-- The queue: open tickets soonest deadline first, for everyone and per client, and one state
-- (resolved, closed: most tickets) in the same order. The trailing columns are what the queue's
-- counts read, so counting is a scan of the index alone.
CREATE INDEX tickets_open_by_due ON tickets
    (sla_due_at, number, sla_warn_at, sla_breached, line, out_of_hours)
    WHERE state IN ('new', 'open', 'waiting-on-customer');
CREATE INDEX tickets_open_by_client_due ON tickets
    (client_id, sla_due_at, number, sla_warn_at, sla_breached, line, out_of_hours)
    WHERE state IN ('new', 'open', 'waiting-on-customer');
CREATE INDEX tickets_by_state_due ON tickets
    (state, sla_due_at, number, sla_warn_at, sla_breached, line, out_of_hours);

-- The queue's escalation counts look at escalations only.
CREATE INDEX ticket_events_escalations ON ticket_events (ticket_id) WHERE kind = 'escalated';

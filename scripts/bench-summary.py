#!/usr/bin/env python3
"""Times the portfolio dashboard's count queries (`findings_summary`, all clients) on a fleet
database, before and after migration 0011, in one process (BENCHMARKS.md, fleet re-run).

Usage: scripts/bench-summary.py DB
  Rebuilds the open-findings indexes as migration 0010 left them, times the old queries (four runs,
  the first after dropping the page cache when run as root), then rebuilds them as 0011 makes them
  and times the current queries the same way. The database ends with 0011's indexes.
"""
import sqlite3
import subprocess
import sys
import time

NOW = 1_893_456_000_000_000
COMMON = [
    "SELECT COUNT(*) AS open, COUNT(CASE WHEN kev THEN 1 END) AS kev, "
    "COUNT(CASE WHEN due_at <= ? THEN 1 END) AS breached FROM findings WHERE is_open",
    "SELECT priority, COUNT(*) AS n FROM findings WHERE is_open GROUP BY priority",
    "SELECT state, COUNT(*) AS n FROM findings GROUP BY state",
]
OLD = COMMON + [
    "SELECT f.client_id, c.name AS client_name, COUNT(*) AS open, "
    "COUNT(CASE WHEN f.kev THEN 1 END) AS kev, COUNT(CASE WHEN f.due_at <= ? THEN 1 END) AS breached, "
    "MAX(f.priority) AS top_priority FROM findings f JOIN clients c ON c.id = f.client_id "
    "WHERE f.is_open GROUP BY f.client_id, c.name ORDER BY top_priority DESC, f.client_id LIMIT 100"
]
NEW = COMMON + [
    "SELECT f.client_id, c.name AS client_name, f.open, f.kev, f.breached, f.top_priority FROM "
    "(SELECT client_id, COUNT(*) AS open, COUNT(CASE WHEN kev THEN 1 END) AS kev, "
    "COUNT(CASE WHEN due_at <= ? THEN 1 END) AS breached, MAX(priority) AS top_priority "
    "FROM findings WHERE is_open GROUP BY client_id) f JOIN clients c ON c.id = f.client_id "
    "ORDER BY f.top_priority DESC, f.client_id LIMIT 100"
]
INDEXES = {
    "0010": "CREATE INDEX findings_open ON findings (priority DESC, id) WHERE is_open;"
    "CREATE INDEX findings_open_by_client ON findings (client_id, priority DESC, id) WHERE is_open;",
    "0011": "CREATE INDEX findings_open ON findings (priority DESC, id, is_open) WHERE is_open;"
    "CREATE INDEX findings_open_by_client ON findings "
    "(client_id, priority DESC, id, kev, due_at, is_open) WHERE is_open;",
}


def run(db, label, indexes, queries):
    c = sqlite3.connect(db)
    c.executescript(
        "DROP INDEX findings_open; DROP INDEX findings_open_by_client;" + indexes
    )
    c.close()
    subprocess.run(["sync"], check=False)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
    except OSError:
        print("(page cache not dropped: not root)")
    c = sqlite3.connect(db)
    for n in range(4):
        start, parts = time.perf_counter(), []
        for q in queries:
            t = time.perf_counter()
            c.execute(q, (NOW,) if "?" in q else ()).fetchall()
            parts.append((time.perf_counter() - t) * 1000)
        total = (time.perf_counter() - start) * 1000
        print(f"{label} run {n}: {total:.0f} ms (queries: {', '.join(f'{p:.0f}' for p in parts)})")
    c.close()


if __name__ == "__main__":
    db = sys.argv[1]
    open_findings = sqlite3.connect(db).execute(
        "SELECT COUNT(*) FROM findings WHERE is_open"
    ).fetchone()[0]
    print(f"{open_findings} open findings")
    run(db, "before (0010)", INDEXES["0010"], OLD)
    run(db, "after (0011)", INDEXES["0011"], NEW)

-- The servers (nodes) sharing this database and when each was last seen: every node writes its
-- row every few seconds. On one SQLite file there is one; on PostgreSQL a starting node closes
-- the stays a crash left open only when no other node is alive (theirs are not its to close).
CREATE TABLE nodes (
    id         TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);

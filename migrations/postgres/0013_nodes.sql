-- The servers (nodes) sharing this database and when each was last seen: every node writes its
-- row every few seconds. A starting node closes the stays a crash left open only when no other
-- node is alive (theirs are not its to close).
CREATE TABLE nodes (
    id         TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);

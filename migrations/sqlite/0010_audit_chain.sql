-- The audit trail as a hash chain: each row holds the SHA-256 of the previous row's hash and its
-- own content, so a changed, removed or inserted row breaks the chain from there on
-- (`visitas audit verify`). The rows written before this migration get their hashes when the
-- program first opens the database (SQL has no SHA-256), in their order.
ALTER TABLE audit_events ADD COLUMN hash TEXT;

-- The chain's end: the last row's id and hash. Every audit write takes it first (one UPDATE),
-- which orders the writers and gives the next row its id and its predecessor's hash; a cut-off
-- tail no longer matches it. `hash` is empty until the older rows are sealed.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) SELECT 1, COALESCE(MAX(id), 0), '' FROM audit_events;

-- Audit rows are written once: no change once sealed, no removal.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
WHEN OLD.hash IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'audit rows cannot be changed');
END;

CREATE TRIGGER audit_events_sealed BEFORE INSERT ON audit_events
WHEN NEW.hash IS NULL
BEGIN
    SELECT RAISE(ABORT, 'audit rows are written with their hash');
END;

CREATE TRIGGER audit_head_kept BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'the audit chain''s end cannot be removed');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit rows cannot be removed');
END;

-- The audit page's filters: by date, by who did it.
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_actor ON audit_events (actor_id, id);

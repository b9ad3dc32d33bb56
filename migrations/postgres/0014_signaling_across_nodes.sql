-- Signaling across nodes. `nodes.calls`: who each node holds in calls, in its waiting room and
-- standing by (JSON, written by that node on every change, read by the others).
-- `signal_attachments`: Socket.IO messages too long for one NOTIFY, kept a minute.
ALTER TABLE nodes ADD COLUMN calls TEXT NOT NULL DEFAULT '';

CREATE TABLE signal_attachments (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at BIGINT NOT NULL,
    payload    BYTEA NOT NULL
);
CREATE INDEX signal_attachments_created ON signal_attachments (created_at);

-- Invites for relatives, failed access-code attempts per address, and the visit log.

CREATE TABLE invites (
    id              TEXT PRIMARY KEY,
    room_id         TEXT NOT NULL REFERENCES rooms (id),
    relative_name   TEXT NOT NULL,
    relationship    TEXT NOT NULL,
    lang            TEXT NOT NULL CHECK (lang IN ('es', 'en')),
    -- SHA-256 of the link token (256 random bits).
    token_hash      TEXT NOT NULL UNIQUE,
    -- HMAC-SHA-256 of the 6-digit code under the server's secret key, so a copy of the
    -- database alone does not give the codes away.
    code_hash       TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL REFERENCES staff (id),
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoked_by      TEXT REFERENCES staff (id),
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_at       INTEGER
);
CREATE INDEX invites_room ON invites (room_id);

CREATE TABLE code_failures (
    id     INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX code_failures_client ON code_failures (client, at);

-- One row per participant per stay in a call: who, when, how long, and why it ended.
CREATE TABLE visit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id      TEXT NOT NULL REFERENCES rooms (id),
    patient_id   TEXT NOT NULL REFERENCES patients (id),
    role         TEXT NOT NULL CHECK (role IN ('patient', 'relative', 'staff')),
    display_name TEXT NOT NULL,
    staff_id     TEXT REFERENCES staff (id),
    invite_id    TEXT REFERENCES invites (id),
    joined_at    INTEGER NOT NULL,
    left_at      INTEGER,
    end_reason   TEXT
);
CREATE INDEX visit_log_joined ON visit_log (joined_at DESC);
CREATE INDEX visit_log_room ON visit_log (room_id);

-- Staff, sessions, first-start setup, login throttling, patients, rooms and the audit trail.
-- Times are Unix seconds (UTC) so that comparisons in SQL are plain integer comparisons.

CREATE TABLE staff (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'nurse')),
    password_hash  TEXT NOT NULL,
    active         INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at     INTEGER NOT NULL,
    deactivated_at INTEGER
);

CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    expiry_date INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry_date);

CREATE TABLE login_failures (
    id      INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    client  TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX login_failures_account ON login_failures (account, at);
CREATE INDEX login_failures_client ON login_failures (client, at);

CREATE TABLE patients (
    id            TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    ward          TEXT NOT NULL,
    bed           TEXT NOT NULL,
    record_number TEXT UNIQUE,
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL REFERENCES staff (id),
    discharged_at INTEGER,
    discharged_by TEXT REFERENCES staff (id)
);

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY,
    patient_id TEXT NOT NULL REFERENCES patients (id),
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL REFERENCES staff (id),
    closed_at  INTEGER,
    closed_by  TEXT REFERENCES staff (id)
);
CREATE INDEX rooms_open ON rooms (closed_at, created_at);
CREATE INDEX rooms_patient ON rooms (patient_id);

-- Who changed what: one row per state-changing action, written in the action's transaction.
CREATE TABLE audit_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    actor_id TEXT REFERENCES staff (id),
    action   TEXT NOT NULL,
    subject  TEXT
);

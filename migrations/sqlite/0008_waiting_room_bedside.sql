-- The waiting room (relatives let in by a nurse, or by the ward's setting) and the bedside
-- tablets paired to a patient's bed.

-- A relative's invite let in: from then on, for that visit, they go straight into the call (a
-- reload or a network blip does not send them back to the waiting room).
-- how: 'nurse' (admitted from the waiting room), 'on-arrival' (the nurse let them in ahead, when
-- starting the visit), 'auto' (the ward admits at the visit's start when the bedside is ready).
CREATE TABLE admissions (
    invite_id   TEXT PRIMARY KEY REFERENCES invites (id),
    visit_id    TEXT REFERENCES visits (id),
    how         TEXT NOT NULL CHECK (how IN ('nurse', 'on-arrival', 'auto')),
    admitted_at INTEGER NOT NULL,
    admitted_by TEXT REFERENCES staff (id)
);
CREATE INDEX admissions_visit ON admissions (visit_id);

-- Ward settings: the bedside admits at the visit's start by itself (default: the nurse admits),
-- and whether the idle bedside screen may show the patient's first name.
ALTER TABLE wards ADD COLUMN auto_admit INTEGER NOT NULL DEFAULT 0 CHECK (auto_admit IN (0, 1));
ALTER TABLE wards ADD COLUMN bedside_shows_name INTEGER NOT NULL DEFAULT 0
    CHECK (bedside_shows_name IN (0, 1));

-- Per patient: the bedside answers by itself after a countdown ('auto') or waits for a tap
-- ('tap'), and starts with the camera off (e.g. intensive care).
ALTER TABLE patients ADD COLUMN bedside_answer TEXT NOT NULL DEFAULT 'auto'
    CHECK (bedside_answer IN ('auto', 'tap'));
ALTER TABLE patients ADD COLUMN camera_off_at_start INTEGER NOT NULL DEFAULT 0
    CHECK (camera_off_at_start IN (0, 1));

-- A bedside tablet. Its credential (a long-lived cookie) is stored as its SHA-256; while it waits
-- to be paired it shows a short code, stored as an HMAC under the server's key, for 10 minutes.
CREATE TABLE bedside_devices (
    id                 TEXT PRIMARY KEY,
    token_hash         TEXT NOT NULL UNIQUE,
    pairing_code_hash  TEXT UNIQUE,
    pairing_expires_at INTEGER,
    -- The address that asked for the pending code (codes per address are limited).
    pairing_client     TEXT,
    patient_id         TEXT REFERENCES patients (id),
    paired_at          INTEGER,
    paired_by          TEXT REFERENCES staff (id),
    unpaired_at        INTEGER,
    unpaired_by        TEXT REFERENCES staff (id),
    -- 'nurse', 'discharge', 'transfer', 'unseen' or 'replaced'.
    unpair_reason      TEXT,
    created_at         INTEGER NOT NULL,
    last_seen_at       INTEGER NOT NULL
);
CREATE INDEX bedside_devices_patient ON bedside_devices (patient_id, unpaired_at);

-- Wrong pairing codes typed by a nurse (five in 10 minutes lock them out for a while).
CREATE TABLE pairing_failures (
    id       INTEGER PRIMARY KEY,
    staff_id TEXT NOT NULL REFERENCES staff (id),
    at       INTEGER NOT NULL
);
CREATE INDEX pairing_failures_staff ON pairing_failures (staff_id, at);

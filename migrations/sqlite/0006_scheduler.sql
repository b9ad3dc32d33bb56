-- The visit scheduler: wards with visiting hours, nurses assigned to wards, authorised relatives,
-- scheduled visits, and invites tied to a visit's window.
--
-- Instants are UTC seconds. Visiting hours are wall-clock minutes in the hospital's time zone
-- (0 = midnight; a window that crosses midnight ends past 1440), and the dates of an exception
-- are local calendar dates written 'YYYY-MM-DD', which compare as text.

CREATE TABLE wards (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    default_minutes  INTEGER NOT NULL CHECK (default_minutes BETWEEN 5 AND 480),
    max_minutes      INTEGER NOT NULL CHECK (max_minutes BETWEEN 5 AND 480),
    -- The most video visits that may run at once in the ward (its Wi-Fi).
    max_video_visits INTEGER NOT NULL CHECK (max_video_visits BETWEEN 1 AND 100),
    created_at       INTEGER NOT NULL,
    CHECK (default_minutes <= max_minutes)
);

-- Weekday 0 is Monday.
CREATE TABLE ward_hours (
    ward_id      TEXT NOT NULL REFERENCES wards (id),
    weekday      INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   INTEGER NOT NULL CHECK (end_minute > start_minute AND end_minute <= 2880),
    PRIMARY KEY (ward_id, weekday, start_minute)
);

-- A ward's hours changed or closed for a date or a range of dates. No windows = closed.
CREATE TABLE ward_exceptions (
    id         TEXT PRIMARY KEY,
    ward_id    TEXT NOT NULL REFERENCES wards (id),
    first_day  TEXT NOT NULL,
    last_day   TEXT NOT NULL CHECK (last_day >= first_day),
    reason     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL REFERENCES staff (id),
    removed_at INTEGER,
    removed_by TEXT REFERENCES staff (id)
);
CREATE INDEX ward_exceptions_ward ON ward_exceptions (ward_id, first_day);

CREATE TABLE ward_exception_hours (
    exception_id TEXT NOT NULL REFERENCES ward_exceptions (id),
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   INTEGER NOT NULL CHECK (end_minute > start_minute AND end_minute <= 2880),
    PRIMARY KEY (exception_id, start_minute)
);

-- Which wards a nurse sees and schedules for (administrators see all).
CREATE TABLE staff_wards (
    staff_id TEXT NOT NULL REFERENCES staff (id),
    ward_id  TEXT NOT NULL REFERENCES wards (id),
    PRIMARY KEY (staff_id, ward_id)
);
CREATE INDEX staff_wards_ward ON staff_wards (ward_id);

-- Today's free-text wards become ward records, open for visits 11:00-20:00 every day until an
-- administrator sets their real hours. Ids are 22 random characters like the program's own.
INSERT INTO wards (id, name, default_minutes, max_minutes, max_video_visits, created_at)
SELECT lower(hex(randomblob(11))), ward, 30, 60, 4, CAST(strftime('%s', 'now') AS INTEGER)
FROM (SELECT DISTINCT ward FROM patients);

INSERT INTO ward_hours (ward_id, weekday, start_minute, end_minute)
SELECT w.id, d.weekday, 660, 1200
FROM wards w
CROSS JOIN (SELECT 0 AS weekday UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
            UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6) d;

-- Every existing nurse keeps seeing the patients they saw: all of today's wards.
INSERT INTO staff_wards (staff_id, ward_id)
SELECT s.id, w.id FROM staff s CROSS JOIN wards w WHERE s.role = 'nurse';

ALTER TABLE patients ADD COLUMN ward_id TEXT REFERENCES wards (id);
UPDATE patients SET ward_id = (SELECT w.id FROM wards w WHERE w.name = patients.ward);
ALTER TABLE patients DROP COLUMN ward;
CREATE INDEX patients_ward ON patients (ward_id, discharged_at);

-- "No visits for now", with the reason scheduling is refused with.
ALTER TABLE patients ADD COLUMN no_visits_reason TEXT;

-- The register of relatives authorised to visit a patient. The contact is for staff to reach
-- them; the server sends nothing.
CREATE TABLE relatives (
    id              TEXT PRIMARY KEY,
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    display_name    TEXT NOT NULL,
    relationship    TEXT NOT NULL,
    lang            TEXT NOT NULL CHECK (lang IN ('es', 'en')),
    contact         TEXT,
    note            TEXT,
    authorised_at   INTEGER NOT NULL,
    authorised_by   TEXT NOT NULL REFERENCES staff (id),
    withdrawn_at    INTEGER,
    withdrawn_by    TEXT REFERENCES staff (id)
);
CREATE INDEX relatives_patient ON relatives (patient_id);

-- A scheduled visit in its patient's room.
CREATE TABLE visits (
    id              TEXT PRIMARY KEY,
    patient_id      TEXT NOT NULL REFERENCES patients (id),
    ward_id         TEXT NOT NULL REFERENCES wards (id),
    room_id         TEXT NOT NULL REFERENCES rooms (id),
    starts_at       INTEGER NOT NULL,
    ends_at         INTEGER NOT NULL CHECK (ends_at > starts_at),
    -- Outside visiting hours on purpose: 'end-of-life', 'clinical' or 'other' (with a note).
    override_reason TEXT CHECK (override_reason IN ('end-of-life', 'clinical', 'other')),
    override_note   TEXT,
    -- Visits booked together by a repeat share it; each stays changeable alone.
    series_id       TEXT,
    created_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL REFERENCES staff (id),
    cancelled_at    INTEGER,
    cancelled_by    TEXT REFERENCES staff (id),
    cancel_reason   TEXT,
    -- Ended early by a nurse.
    ended_at        INTEGER,
    ended_by        TEXT REFERENCES staff (id)
);
CREATE INDEX visits_ward_time ON visits (ward_id, starts_at);
CREATE INDEX visits_patient_time ON visits (patient_id, starts_at);
CREATE INDEX visits_room_time ON visits (room_id, starts_at);

-- An invite now belongs to one relative of one visit and opens with its window. The link token
-- and the code are kept encrypted under the server's key (beside their hashes) so that staff of
-- the ward can print the card again; a copy of the database alone reveals neither.
ALTER TABLE invites ADD COLUMN visit_id TEXT REFERENCES visits (id);
ALTER TABLE invites ADD COLUMN relative_id TEXT REFERENCES relatives (id);
ALTER TABLE invites ADD COLUMN opens_at INTEGER;
ALTER TABLE invites ADD COLUMN sealed_secrets TEXT;
-- When the relative first opened the link (the desk shows it).
ALTER TABLE invites ADD COLUMN opened_at INTEGER;
CREATE INDEX invites_visit ON invites (visit_id);
CREATE INDEX invites_relative ON invites (relative_id);

-- The visit log groups stays by the visit they belong to.
ALTER TABLE visit_log ADD COLUMN scheduled_visit_id TEXT REFERENCES visits (id);
CREATE INDEX visit_log_scheduled ON visit_log (scheduled_visit_id);

-- What an audit row needs beyond its subject: an override's reason, a refused page.
ALTER TABLE audit_events ADD COLUMN detail TEXT;

-- Calls on real networks.

-- A stay outlives a lost connection: the person's page rejoins by itself and takes the same
-- stay back. How many times it did, per stay.
ALTER TABLE visit_log ADD COLUMN rejoins INTEGER NOT NULL DEFAULT 0;

-- The ward's phone, for the call page to tell a relative whom to call when a visit ends
-- unexpectedly. Empty when the ward gave none.
ALTER TABLE wards ADD COLUMN phone TEXT NOT NULL DEFAULT '';

-- Session ids are now stored only as their SHA-256 (src/db/sessions.rs). Rows written before hold
-- the id itself and could be used by anyone with a copy of the file: drop them. Everyone signs in
-- again once after the upgrade.
DELETE FROM sessions;

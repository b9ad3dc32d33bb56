-- Staff management: a password an administrator set must be changed at the next login, and a
-- new password ends the sessions signed in before it.
ALTER TABLE staff ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0
    CHECK (must_change_password IN (0, 1));
ALTER TABLE staff ADD COLUMN password_changed_at INTEGER NOT NULL DEFAULT 0;

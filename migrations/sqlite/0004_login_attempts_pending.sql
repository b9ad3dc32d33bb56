-- A login attempt is reserved (pending = 1) before its password is checked, so parallel guesses
-- cannot slip under the limit; only a failure (pending = 0) keeps counting afterwards. Correct
-- logins running in parallel wait for pending ones instead of being refused.
ALTER TABLE login_failures ADD COLUMN pending INTEGER NOT NULL DEFAULT 0;

-- /healthz writes a row here and deletes it in one transaction, to know that writes succeed (a
-- full or read-only disk makes it answer 503 with the reason).
CREATE TABLE health_probe (
    id     INTEGER PRIMARY KEY,
    filler BLOB NOT NULL
);

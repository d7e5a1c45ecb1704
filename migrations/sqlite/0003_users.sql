-- Registry users (src/auth). Secrets are kept only as an argon2id PHC string (for Basic) and
-- SCRAM-SHA-256 salt, iteration count, StoredKey and ServerKey (RFC 5802 §3) — never plaintext.
-- `grants` is a JSON array of subject prefixes; empty means every subject.
CREATE TABLE users (
    name             TEXT PRIMARY KEY NOT NULL,
    role             TEXT NOT NULL CHECK (role IN ('admin', 'write', 'read')),
    grants           TEXT NOT NULL DEFAULT '[]',
    password_phc     TEXT NOT NULL,
    scram_salt       BLOB NOT NULL,
    scram_iterations INTEGER NOT NULL,
    scram_stored_key BLOB NOT NULL,
    scram_server_key BLOB NOT NULL
);

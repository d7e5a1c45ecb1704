-- The users log (src/auth/store.rs), shaped like the `_schemas` log's `records` table: one row
-- per record key with its latest value, `log_offset` reassigned on every upsert, tombstones
-- kept as NULL values. It replaces the `users` and `auth_secrets` tables, whose rows are turned
-- into records of this log the first time the users are opened (a server with auth on, or
-- `schemata user`), which then empties them.
CREATE TABLE user_records (
    log_offset INTEGER PRIMARY KEY,
    key        BLOB NOT NULL UNIQUE,
    value      BLOB
);

-- The `_schemas` log as a compacted table: one row per record key, holding its latest value.
-- `log_offset` is reassigned on every upsert, so replaying `ORDER BY log_offset` applies the
-- latest record for each key in log order. Tombstones stay as rows with a NULL value so a
-- reader tailing `WHERE log_offset > ?` sees deletes too.
CREATE TABLE records (
    log_offset INTEGER PRIMARY KEY,
    key        BLOB NOT NULL UNIQUE,
    value      BLOB
);

INSERT INTO records (log_offset, key, value)
VALUES ((SELECT COALESCE(MAX(log_offset), 0) + 1 FROM records), ?1, ?2)
ON CONFLICT (key) DO UPDATE SET log_offset = excluded.log_offset, value = excluded.value
RETURNING log_offset

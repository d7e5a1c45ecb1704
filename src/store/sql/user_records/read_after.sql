SELECT log_offset, key, value
FROM user_records
WHERE log_offset > ?1
ORDER BY log_offset
LIMIT ?2

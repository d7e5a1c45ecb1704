SELECT log_offset, key, value
FROM records
WHERE log_offset > ?1
ORDER BY log_offset
LIMIT ?2

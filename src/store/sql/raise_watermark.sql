INSERT INTO id_watermark (singleton, max_id) VALUES (1, ?1)
ON CONFLICT (singleton) DO UPDATE SET max_id = MAX(max_id, excluded.max_id)

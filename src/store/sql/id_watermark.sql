SELECT max_id FROM id_watermark

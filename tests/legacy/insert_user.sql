-- A user row as releases with the `users` table (migration 0003) wrote it.
INSERT INTO users (name, role, grants, password_phc, scram_salt, scram_iterations,
                   scram_stored_key, scram_server_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO NOTHING

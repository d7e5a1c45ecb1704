-- The unknown-user salt secret as releases with the `auth_secrets` table (migration 0004) wrote it.
INSERT INTO auth_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING

-- Auth secrets as releases before the users log kept them (migrations/sqlite/0004_auth_secrets.sql).
SELECT name, value FROM auth_secrets ORDER BY name

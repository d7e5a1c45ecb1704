-- Users as releases before the users log kept them (migrations/sqlite/0003_users.sql).
SELECT name, role, grants, password_phc, scram_salt, scram_iterations, scram_stored_key,
       scram_server_key
FROM users
ORDER BY name

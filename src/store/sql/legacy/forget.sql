-- Once their rows are records of the users log, the old tables are emptied.
DELETE FROM users;
DELETE FROM auth_secrets;

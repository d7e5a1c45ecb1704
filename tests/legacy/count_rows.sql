SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM auth_secrets)

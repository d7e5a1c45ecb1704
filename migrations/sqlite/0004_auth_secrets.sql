-- Server-side secrets of auth (src/auth/store.rs) that must survive a restart and be shared by
-- every node: `unknown_user_salt` keys the fake SCRAM salts given for unknown user names, so a
-- name's salt never changes and the exchange does not tell whether the user exists.
CREATE TABLE auth_secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

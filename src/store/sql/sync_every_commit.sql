-- Without a write-ahead log there is no group commit: every commit syncs.
PRAGMA synchronous = FULL

-- An empty write transaction: in exclusive locking mode it takes the file's lock for good.
BEGIN IMMEDIATE;
COMMIT;

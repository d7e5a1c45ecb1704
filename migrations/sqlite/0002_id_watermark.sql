-- The highest schema id ever written. A permanent delete tombstones the only record holding an
-- id, and this table compacts at once, so without the watermark a restart could hand that id to
-- different content while consumers still hold data framed with it.
CREATE TABLE id_watermark (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    max_id    INTEGER NOT NULL
);

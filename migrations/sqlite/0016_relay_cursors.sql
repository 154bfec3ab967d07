-- Durable cursors of the change-log relays (the MQTT relay of `serve`, docs/api.md "MQTT"):
-- the position in change_log up to which a relay's deliveries were acknowledged. A relay
-- starts again after it; a position never moves back.
CREATE TABLE relay_cursors (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    -- Unix seconds (with a microsecond fraction) of the last advance.
    updated_at REAL NOT NULL
);

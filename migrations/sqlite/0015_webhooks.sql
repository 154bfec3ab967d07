-- Webhook subscriptions (docs/storage.md, "Webhook subscriptions"): each reads the change log
-- from its own cursor, which moves only after the receiver acknowledged (or the entry did not
-- match the filter).
CREATE TABLE webhook_subscriptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target_url TEXT NOT NULL,
    -- whsec_<base64>: the HMAC key of the signatures.
    secret TEXT NOT NULL,
    -- JSON: {"collections": [...], "pattern": ..., "q": ..., "bbox": {...}}
    filter TEXT NOT NULL,
    created_at REAL NOT NULL,
    -- active | disabled
    state TEXT NOT NULL,
    disabled_reason TEXT,
    -- Change-log position: every entry up to here is done.
    done_through INTEGER NOT NULL,
    -- Failed attempts since the last success.
    failures INTEGER NOT NULL DEFAULT 0,
    last_success_at REAL,
    last_failure_at REAL
);

-- The delivery log: the newest attempts of each subscription (older ones are removed as new
-- ones are written).
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id INTEGER NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    at REAL NOT NULL,
    status INTEGER,
    -- delivered | failed | gone | refused
    outcome TEXT NOT NULL,
    error TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);

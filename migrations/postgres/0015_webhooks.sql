-- Webhook subscriptions (docs/storage.md, "Webhook subscriptions"): each reads the change log
-- from its own cursor, which moves only after the receiver acknowledged (or the entry did not
-- match the filter).
CREATE TABLE webhook_subscriptions (
    id bigserial PRIMARY KEY,
    target_url text NOT NULL,
    -- whsec_<base64>: the HMAC key of the signatures.
    secret text NOT NULL,
    -- {"collections": [...], "pattern": ..., "q": ..., "bbox": {...}}
    filter jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    -- active | disabled
    state text NOT NULL,
    disabled_reason text,
    -- Change-log position: every entry up to here is done.
    done_through bigint NOT NULL,
    -- Failed attempts since the last success.
    failures integer NOT NULL DEFAULT 0,
    last_success_at timestamptz,
    last_failure_at timestamptz
);

-- The delivery log: the newest attempts of each subscription (older ones are removed as new
-- ones are written).
CREATE TABLE webhook_deliveries (
    id bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id bigint NOT NULL,
    attempt integer NOT NULL,
    at timestamptz NOT NULL,
    status integer,
    -- delivered | failed | gone | refused
    outcome text NOT NULL,
    error text,
    duration_ms bigint NOT NULL
);
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);

-- Alerts for the platform's operators (issue 17): one row per event, whatever rescans or restarts of the
-- daemon find it again (the dedupe key); delivered and reminded per recipient. Nothing cascades from a
-- tenant: a tenant row is never deleted, and the slug is kept beside its id for the record.
CREATE TABLE botctl.alerts (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text        NOT NULL CHECK (kind IN ('bot_down', 'backup_failed', 'grace', 'suspended',
                                                      'payment', 'start_failed', 'takeover')),
    tenant_id    bigint      REFERENCES botctl.tenants (id),
    tenant       text        CHECK (tenant ~ '^[a-z][a-z0-9_]{1,30}$'),
    -- One event, one alert: the key names the event (a payment's reference, a condition's first sighting).
    dedupe_key   text        NOT NULL UNIQUE CHECK (length(dedupe_key) BETWEEN 1 AND 300),
    -- The lasting condition the alert is about, if any (see alert_conditions); it resolves them all.
    condition    text,
    -- What the operator is shown: an ordered list of [name, value] pairs.
    facts        jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(facts) = 'array'),
    raised_at    timestamptz NOT NULL,
    -- The condition ended (the bot is healthy again), or the alert is a notice with nothing to remind of.
    resolved_at  timestamptz,
    CHECK (resolved_at IS NULL OR resolved_at >= raised_at)
);
-- What is due: open alerts (reminders) and recent ones (first sends).
CREATE INDEX alerts_open ON botctl.alerts (raised_at) WHERE resolved_at IS NULL;
CREATE INDEX alerts_raised ON botctl.alerts (raised_at);
CREATE INDEX alerts_condition ON botctl.alerts (condition) WHERE resolved_at IS NULL AND condition IS NOT NULL;

-- Each recipient's copy of an alert: a restart of the daemon never sends it again, and reminders are
-- counted per recipient.
CREATE TABLE botctl.alert_deliveries (
    alert_id      bigint      NOT NULL REFERENCES botctl.alerts (id),
    chat_id       bigint      NOT NULL,
    sent_at       timestamptz NOT NULL,
    last_sent_at  timestamptz NOT NULL,
    sends         integer     NOT NULL DEFAULT 1 CHECK (sends >= 1),
    PRIMARY KEY (alert_id, chat_id),
    CHECK (last_sent_at >= sent_at)
);
CREATE INDEX alert_deliveries_chat ON botctl.alert_deliveries (chat_id, last_sent_at);

-- Conditions seen and not yet ended (a bot down, a start that failed): when each was first seen, so
-- that "for longer than" survives a restart and an episode keeps one alert.
CREATE TABLE botctl.alert_conditions (
    key         text        PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    tenant      text,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    CHECK (last_seen >= first_seen)
);

-- Which instance of `platform serve` took the lease last, so the next one can tell a takeover from
-- another host.
CREATE TABLE botctl.platform_leader (
    only_row  boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    host      text        NOT NULL,
    pid       integer     NOT NULL,
    since     timestamptz NOT NULL
);

-- When alerts began: events older than this are history, never alerted (an upgrade sends no flood).
CREATE TABLE botctl.alerts_epoch (
    only_row  boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    since     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO botctl.alerts_epoch DEFAULT VALUES;

-- The detectors read the operator's events by action and time.
CREATE INDEX events_action_at ON botctl.events (action, at);
